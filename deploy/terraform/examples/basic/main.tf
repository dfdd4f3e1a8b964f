# sonde on every node of the cluster in ~/.kube/config, sending to an in-cluster Prometheus,
# Loki and Tempo:
#
#   tofu init && tofu apply        (or terraform)

terraform {
  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
  }
}

# helm provider 2.x spells it as a block: kubernetes { config_path = "~/.kube/config" }.
provider "helm" {
  kubernetes = {
    config_path = "~/.kube/config"
  }
}

module "sonde" {
  source = "../.."

  prometheus_url = "http://prometheus.monitoring.svc:9090"
  loki_url       = "http://loki.monitoring.svc:3100"
  otlp_endpoint  = "tempo.monitoring.svc:4317"

  tolerations = [
    { key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" },
  ]
  node_selector = { "kubernetes.io/os" = "linux" }
}

output "sonde" {
  value = {
    release   = module.sonde.release_name
    namespace = module.sonde.namespace
    status    = module.sonde.status
  }
}
