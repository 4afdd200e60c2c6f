locals {
  risk_tiers = jsondecode(file("${path.module}/modules/ecr/risk-tiers.json"))

  # Derived from the input and the tier table only, never from module outputs, so that
  # `-target=aws_ecr_registry_scanning_configuration.this` pulls in no module instance.
  continuous_scan_repositories = sort([
    for name, repo in var.ecr_repositories : name
    if local.risk_tiers.scan_frequencies[local.risk_tiers.tiers[repo.risk].scanning] == "CONTINUOUS_SCAN"
  ])

  # BASIC scanning only knows SCAN_ON_PUSH (and MANUAL); an empty rule is rejected by the API.
  continuous_scan_rules = var.registry_scan_type == "ENHANCED" && length(local.continuous_scan_repositories) > 0 ? [local.continuous_scan_repositories] : []
}

# ECR's scan type is registry-wide (one per account and region): one resource for all repositories.
resource "aws_ecr_registry_scanning_configuration" "this" {
  scan_type = var.registry_scan_type

  dynamic "rule" {
    for_each = local.continuous_scan_rules

    content {
      scan_frequency = "CONTINUOUS_SCAN"

      # One exact-name filter per repository whose tier asks for continuous scanning.
      dynamic "repository_filter" {
        for_each = rule.value

        content {
          filter      = repository_filter.value
          filter_type = "WILDCARD"
        }
      }
    }
  }

  # Everything else (and, for ENHANCED, everything not matched above) is scanned on push.
  rule {
    scan_frequency = "SCAN_ON_PUSH"

    repository_filter {
      filter      = "*"
      filter_type = "WILDCARD"
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.continuous_scan_rules) == 0 || length(local.continuous_scan_repositories) <= 100
      error_message = "ECR allows at most 100 repository filters per scanning rule; ${length(local.continuous_scan_repositories)} repositories ask for CONTINUOUS_SCAN. Group them with a wildcard prefix instead."
    }
  }
}
