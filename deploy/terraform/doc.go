// Package terraform holds the tests of the Terraform (OpenTofu) module in this folder, which
// installs sonde with its Helm chart (deploy/helm/sonde). The module is HCL, not Go: the
// tests parse it with github.com/hashicorp/hcl/v2, evaluate it the way Terraform would with
// the variables' defaults and the tfvars under testdata/, and render the chart with the
// values it produces through helm template.
package terraform
