# Every chart variable of the module but those gateway.tfvars sets: config_content (it would
# replace the preset, overrides and remove set here) and the bearer tokens (the chart takes
# basic auth or a bearer token, not both).
release_name     = "agents"
namespace        = "telemetry"
create_namespace = false

mode               = "daemonset"
image_repository   = "registry.example.com/sonde"
image_tag          = "1.2.3"
image_digest       = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
image_pull_policy  = "Always"
image_pull_secrets = ["registry-pull"]

preset = "daemonset"
config_overrides = {
  "prometheus.scrape/host" = { scrape_interval = "30s" }
}
config_remove = ["prometheus.exporter.gpu/gpu"]

prometheus_url               = "http://mimir.monitoring.svc:8080/api/v1/push"
prometheus_headers           = { "X-Scope-OrgID" = "team-a" }
prometheus_basic_auth_secret = "mimir-auth"

loki_url               = "http://loki.monitoring.svc:3100"
loki_tenant_id         = "team-a"
loki_headers           = { "X-Team" = "a" }
loki_basic_auth_secret = "loki-auth"

otlp_endpoint = "http://tempo.monitoring.svc:4318"
otlp_protocol = "http/protobuf"

static_targets               = ["argo-rollouts-metrics.argo-rollouts.svc:8090"]
kubelet_insecure_skip_verify = true
job_names                    = "alloy"
log_level                    = "debug"
log_format                   = "json"
extra_args                   = ["--storage.lock-timeout=2m"]
extra_env                    = { GOMEMLIMIT = "400MiB" }
extra_env_secrets = {
  SONDE_EXTRA_TOKEN = { name = "extra", key = "token" }
}

resources = {
  requests = { cpu = "200m" }
  limits   = { memory = "1Gi" }
}
pod_annotations = { "example.com/owner" = "sre" }
pod_labels      = { team = "sre" }
node_selector   = { "kubernetes.io/os" = "linux" }
affinity = {
  nodeAffinity = {
    requiredDuringSchedulingIgnoredDuringExecution = {
      nodeSelectorTerms = [{
        matchExpressions = [{ key = "example.com/pool", operator = "NotIn", values = ["edge"] }]
      }]
    }
  }
}
tolerations = [
  { key = "example.com/maintenance", operator = "Exists", effect = "NoExecute", toleration_seconds = 300 },
]

service_monitor_enabled = true
dashboards_enabled      = true
gateway_replicas        = 3

# What the module has no variable for.
extra_values = [
  <<-EOT
  server:
    port: 12346
  EOT
]
