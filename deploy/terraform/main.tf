locals {
  # The chart itself: the copy next to this module unless a repository or another path is
  # given.
  chart = var.chart != null ? var.chart : "${path.module}/../helm/sonde"

  # The chart values this module sets, as the chart names them (deploy/helm/sonde/values.yaml).
  # Only what a variable sets is sent: a variable left null leaves the chart's own default in
  # place, so the module never repeats (and never drifts from) the chart's defaults. Every
  # level drops its null and empty members because helm reads a null in user values as
  # "delete this key from the chart's defaults".
  chart_values = { for k, v in {
    mode = var.mode

    image = { for k, v in {
      repository = var.image_repository
      tag        = var.image_tag
      digest     = var.image_digest
      pullPolicy = var.image_pull_policy
    } : k => v if v != null }
    imagePullSecrets = var.image_pull_secrets == null ? null : [for s in var.image_pull_secrets : { name = s }]

    prometheus = { for k, v in {
      url         = var.prometheus_url
      headers     = var.prometheus_headers
      basicAuth   = { for k, v in { existingSecret = var.prometheus_basic_auth_secret } : k => v if v != null }
      bearerToken = { for k, v in { existingSecret = var.prometheus_bearer_token_secret } : k => v if v != null }
    } : k => v if v != null && v != {} }

    loki = { for k, v in {
      url         = var.loki_url
      tenantID    = var.loki_tenant_id
      headers     = var.loki_headers
      basicAuth   = { for k, v in { existingSecret = var.loki_basic_auth_secret } : k => v if v != null }
      bearerToken = { for k, v in { existingSecret = var.loki_bearer_token_secret } : k => v if v != null }
    } : k => v if v != null && v != {} }

    otlp = { for k, v in {
      endpoint = var.otlp_endpoint
      protocol = var.otlp_protocol
    } : k => v if v != null }

    staticTargets = var.static_targets
    kubelet       = { for k, v in { insecureSkipVerify = var.kubelet_insecure_skip_verify } : k => v if v != null }
    jobNames      = var.job_names

    config = { for k, v in {
      preset    = var.preset
      overrides = var.config_overrides
      remove    = var.config_remove
      content   = var.config_content
    } : k => v if v != null }

    logLevel  = var.log_level
    logFormat = var.log_format
    extraArgs = var.extra_args
    # Plain values first, then the ones read from Secrets; each map in its keys' order.
    extraEnv = var.extra_env == null && var.extra_env_secrets == null ? null : concat(
      [for name, value in(var.extra_env == null ? {} : var.extra_env) : { name = name, value = value }],
      [for name, ref in(var.extra_env_secrets == null ? {} : var.extra_env_secrets) : {
        name      = name
        valueFrom = { secretKeyRef = { name = ref.name, key = ref.key } }
      }],
    )

    resources = var.resources == null ? null : { for k, v in {
      requests = var.resources.requests
      limits   = var.resources.limits
    } : k => v if v != null }
    podAnnotations = var.pod_annotations
    podLabels      = var.pod_labels
    nodeSelector   = var.node_selector
    affinity       = var.affinity
    tolerations = var.tolerations == null ? null : [for t in var.tolerations : { for k, v in {
      key               = t.key
      operator          = t.operator
      value             = t.value
      effect            = t.effect
      tolerationSeconds = t.toleration_seconds
    } : k => v if v != null }]

    serviceMonitor = { for k, v in { enabled = var.service_monitor_enabled } : k => v if v != null }
    dashboards     = { for k, v in { enabled = var.dashboards_enabled } : k => v if v != null }
    gateway        = { for k, v in { replicas = var.gateway_replicas } : k => v if v != null }
  } : k => v if v != null && v != {} }

  # The module's values document; extra_values come after it, so they win.
  values = concat([yamlencode(local.chart_values)], var.extra_values)
}

resource "helm_release" "sonde" {
  name             = var.release_name
  namespace        = var.namespace
  create_namespace = var.create_namespace
  repository       = var.repository
  chart            = local.chart
  version          = var.chart_version
  values           = local.values

  atomic      = var.atomic
  wait        = var.wait
  timeout     = var.timeout
  max_history = var.max_history
}
