terraform {
  # optional() object attributes need Terraform 1.3 (every OpenTofu release has them).
  required_version = ">= 1.3.0"

  required_providers {
    helm = {
      source = "hashicorp/helm"
      # The module uses only what helm_release has in both majors (arguments, no nested
      # blocks: 3.x turned set and postrender into attributes), so 2.x and 3.x both work.
      version = ">= 2.9.0, < 4.0.0"
    }
  }
}
