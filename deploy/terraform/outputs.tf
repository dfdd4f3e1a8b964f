output "release_name" {
  description = "Name of the Helm release."
  value       = helm_release.sonde.name
}

output "namespace" {
  description = "Namespace the release is installed in."
  value       = helm_release.sonde.namespace
}

output "status" {
  description = "Status of the release as Helm reports it (deployed, failed, ...)."
  value       = helm_release.sonde.status
}

output "chart_version" {
  description = "Version of the chart that is installed."
  value       = helm_release.sonde.version
}

output "values" {
  description = "The values documents given to the chart, in order: the module's, then extra_values."
  value       = local.values
}
