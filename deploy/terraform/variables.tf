# The release. Every other variable below is a value of the chart (deploy/helm/sonde/values.yaml,
# named in each description); left null, it keeps the chart's default.

variable "release_name" {
  description = "Name of the Helm release; the chart names its objects after it."
  type        = string
  default     = "sonde"

  validation {
    condition     = length(var.release_name) <= 53
    error_message = "The release_name must be at most 53 characters long (a Helm limit)."
  }
}

variable "namespace" {
  description = "Namespace to install the release in."
  type        = string
  default     = "sonde"
}

variable "create_namespace" {
  description = "Create the namespace if it does not exist."
  type        = bool
  default     = true
}

variable "chart" {
  description = "The chart: a path, or a chart name in repository. Default: the chart in this repository (deploy/helm/sonde next to this module)."
  type        = string
  default     = null
}

variable "repository" {
  description = "Repository URL to find chart in (an OCI registry or a Helm repository); null for a chart path."
  type        = string
  default     = null
}

variable "chart_version" {
  description = "Exact chart version to install from repository; null: the latest (ignored for a chart path)."
  type        = string
  default     = null
}

variable "atomic" {
  description = "Roll a failed install or upgrade back (Helm's --atomic)."
  type        = bool
  default     = false
}

variable "wait" {
  description = "Wait until the agents are ready before marking the release successful."
  type        = bool
  default     = true
}

variable "timeout" {
  description = "Seconds to wait for any single Kubernetes operation, and for the agents when wait is set."
  type        = number
  default     = 300
}

variable "max_history" {
  description = "Release revisions Helm keeps (0: all)."
  type        = number
  default     = 10
}

variable "extra_values" {
  description = "Further values documents (YAML) for the chart, after the module's own: they win over the variables. For values the module has no variable for, e.g. [yamlencode({ daemonset = { hostNetwork = false } })]."
  type        = list(string)
  default     = []
}

# The chart's values.

variable "mode" {
  description = "Chart value mode: daemonset (one agent per node, the default) or gateway (an OTLP-forwarding Deployment)."
  type        = string
  default     = null

  validation {
    condition     = var.mode == null ? true : contains(["daemonset", "gateway"], var.mode)
    error_message = "The mode must be daemonset or gateway."
  }
}

variable "image_repository" {
  description = "Chart value image.repository: the sonde image."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Chart value image.tag (default: the chart's appVersion)."
  type        = string
  default     = null
}

variable "image_digest" {
  description = "Chart value image.digest (sha256:...): pull by digest, tag ignored."
  type        = string
  default     = null
}

variable "image_pull_policy" {
  description = "Chart value image.pullPolicy: Always, IfNotPresent or Never."
  type        = string
  default     = null

  validation {
    condition     = var.image_pull_policy == null ? true : contains(["Always", "IfNotPresent", "Never"], var.image_pull_policy)
    error_message = "The image_pull_policy must be Always, IfNotPresent or Never."
  }
}

variable "image_pull_secrets" {
  description = "Chart value imagePullSecrets, as the names of Secrets in the release namespace."
  type        = list(string)
  default     = null
}

variable "preset" {
  description = "Chart value config.preset: the built-in preset the configuration starts from (default: daemonset in mode daemonset, sidecar in mode gateway)."
  type        = string
  default     = null
}

variable "config_overrides" {
  description = "Chart value config.overrides: deep-merged into the preset's components, e.g. { \"prometheus.scrape/host\" = { scrape_interval = \"30s\" } }."
  type        = any
  default     = null
}

variable "config_remove" {
  description = "Chart value config.remove: component ids removed from the preset."
  type        = list(string)
  default     = null
}

variable "config_content" {
  description = "Chart value config.content: a whole sonde configuration (YAML); preset, overrides and remove are then ignored."
  type        = string
  default     = null
}

variable "prometheus_url" {
  description = "Chart value prometheus.url: Prometheus (remote-write receiver) or Mimir; a bare address gets /api/v1/write. Empty: samples are served on the agents' own port."
  type        = string
  default     = null
}

variable "prometheus_headers" {
  description = "Chart value prometheus.headers: extra request headers, e.g. { \"X-Scope-OrgID\" = \"team-a\" }. Not for secrets."
  type        = map(string)
  default     = null
}

variable "prometheus_basic_auth_secret" {
  description = "Chart value prometheus.basicAuth.existingSecret: a Secret in the release namespace with keys username and password."
  type        = string
  default     = null
}

variable "prometheus_bearer_token_secret" {
  description = "Chart value prometheus.bearerToken.existingSecret: a Secret in the release namespace with key token."
  type        = string
  default     = null
}

variable "loki_url" {
  description = "Chart value loki.url: a Loki; a bare address gets /loki/api/v1/push. Empty: log lines go to the agents' stdout."
  type        = string
  default     = null
}

variable "loki_tenant_id" {
  description = "Chart value loki.tenantID: X-Scope-OrgID sent to a multi-tenant Loki."
  type        = string
  default     = null
}

variable "loki_headers" {
  description = "Chart value loki.headers: extra request headers. Not for secrets."
  type        = map(string)
  default     = null
}

variable "loki_basic_auth_secret" {
  description = "Chart value loki.basicAuth.existingSecret: a Secret in the release namespace with keys username and password."
  type        = string
  default     = null
}

variable "loki_bearer_token_secret" {
  description = "Chart value loki.bearerToken.existingSecret: a Secret in the release namespace with key token."
  type        = string
  default     = null
}

variable "otlp_endpoint" {
  description = "Chart value otlp.endpoint: where received OTLP is forwarded (host:port for plain-text gRPC, an https:// URL; a base URL with otlp_protocol http/protobuf). Required in mode gateway."
  type        = string
  default     = null
}

variable "otlp_protocol" {
  description = "Chart value otlp.protocol: grpc or http/protobuf."
  type        = string
  default     = null

  validation {
    condition     = var.otlp_protocol == null ? true : contains(["grpc", "http/protobuf"], var.otlp_protocol)
    error_message = "The otlp_protocol must be grpc or http/protobuf."
  }
}

variable "static_targets" {
  description = "Chart value staticTargets: cluster-wide host:port targets the agents share out (mode daemonset)."
  type        = list(string)
  default     = null
}

variable "kubelet_insecure_skip_verify" {
  description = "Chart value kubelet.insecureSkipVerify: scrape kubelets with self-signed certificates (kind, kubeadm) without verifying them."
  type        = bool
  default     = null
}

variable "job_names" {
  description = "Chart value jobNames: prometheus (kube-prometheus' job names) or alloy (Grafana k8s-monitoring's)."
  type        = string
  default     = null

  validation {
    condition     = var.job_names == null ? true : contains(["prometheus", "alloy"], var.job_names)
    error_message = "The job_names must be prometheus or alloy."
  }
}

variable "log_level" {
  description = "Chart value logLevel: debug, info, warn or error."
  type        = string
  default     = null

  validation {
    condition     = var.log_level == null ? true : contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "The log_level must be debug, info, warn or error."
  }
}

variable "log_format" {
  description = "Chart value logFormat: logfmt or json."
  type        = string
  default     = null

  validation {
    condition     = var.log_format == null ? true : contains(["logfmt", "json"], var.log_format)
    error_message = "The log_format must be logfmt or json."
  }
}

variable "extra_args" {
  description = "Chart value extraArgs: extra command-line arguments for sonde run."
  type        = list(string)
  default     = null
}

variable "extra_env" {
  description = "Chart value extraEnv: environment variables, NAME = value. One named like a variable the chart sets replaces it."
  type        = map(string)
  default     = null
}

variable "extra_env_secrets" {
  description = "Chart value extraEnv: environment variables read from Secrets, NAME = { name = secret, key = key }."
  type = map(object({
    name = string
    key  = string
  }))
  default = null
}

variable "resources" {
  description = "Chart value resources: the agent container's requests and limits, each merged into the chart's (requests cpu 100m, memory 128Mi; limits memory 512Mi)."
  type = object({
    requests = optional(map(string))
    limits   = optional(map(string))
  })
  default = null
}

variable "pod_annotations" {
  description = "Chart value podAnnotations."
  type        = map(string)
  default     = null
}

variable "pod_labels" {
  description = "Chart value podLabels."
  type        = map(string)
  default     = null
}

variable "node_selector" {
  description = "Chart value nodeSelector: the nodes the agents run on."
  type        = map(string)
  default     = null
}

variable "affinity" {
  description = "Chart value affinity: a Kubernetes Affinity object."
  type        = any
  default     = null
}

variable "tolerations" {
  description = "Chart value tolerations: added to those the mode sets (in mode daemonset the chart already tolerates every taint)."
  type = list(object({
    key                = optional(string)
    operator           = optional(string)
    value              = optional(string)
    effect             = optional(string)
    toleration_seconds = optional(number)
  }))
  default = null
}

variable "service_monitor_enabled" {
  description = "Chart value serviceMonitor.enabled: a ServiceMonitor (Prometheus operator) for the agents."
  type        = bool
  default     = null
}

variable "dashboards_enabled" {
  description = "Chart value dashboards.enabled: sonde's Grafana dashboards as ConfigMaps for the Grafana sidecar."
  type        = bool
  default     = null
}

variable "gateway_replicas" {
  description = "Chart value gateway.replicas: replicas of the gateway Deployment (mode gateway)."
  type        = number
  default     = null
}
