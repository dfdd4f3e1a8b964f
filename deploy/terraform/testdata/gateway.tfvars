# The gateway, with a whole configuration of its own.
mode             = "gateway"
otlp_endpoint    = "tempo.monitoring.svc:4317"
gateway_replicas = 3

# Credentials stay in the environment for ${VAR} references in config_content.
prometheus_bearer_token_secret = "mimir-token"
loki_bearer_token_secret       = "loki-token"
config_content                 = <<-EOT
  components:
    otelcol.receiver.otlp/in:
      grpc:
        endpoint: 0.0.0.0:4317
      output:
        traces: [otelcol.exporter.otlp/tempo]
    otelcol.exporter.otlp/tempo:
      client:
        endpoint: tempo.monitoring.svc:4317
  EOT
