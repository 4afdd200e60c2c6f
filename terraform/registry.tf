locals {
  risk_tiers = jsondecode(file("${path.module}/modules/ecr/risk-tiers.json"))

  # Derived from the input and the tier table only, never from module outputs, so that
  # `-target=aws_ecr_registry_scanning_configuration.this` pulls in no module instance.
  continuous_scan_repositories = sort([
    for name, repo in var.ecr_repositories : name
    if local.risk_tiers.scan_frequencies[local.risk_tiers.tiers[repo.risk].scanning] == "CONTINUOUS_SCAN"
  ])

  # The CONTINUOUS_SCAN filters ecrctl computed and wrote into the tfvars (a cover of the
  # repositories above within ECR's 100 filters per rule, orchestrator/scanning.py); without
  # them, one NAME* filter per repository. ECR reads a filter without `*` as "contains": NAME*
  # is the narrowest filter a repository can have.
  continuous_scan_filters = var.registry_scan_filters != null ? var.registry_scan_filters : [
    for name in local.continuous_scan_repositories : "${substr(name, 0, 254)}*"
  ]
  continuous_scan_prefixes = [for filter in local.continuous_scan_filters : trimsuffix(filter, "*")]
  # What a hand edit may never do: leave a repository scanned less than its tier asks.
  unscanned_repositories = [
    for name in local.continuous_scan_repositories : name
    if !anytrue([for prefix in local.continuous_scan_prefixes : startswith(name, prefix)])
  ]

  # BASIC scanning only knows SCAN_ON_PUSH (and MANUAL); an empty rule is rejected by the API.
  continuous_scan_rules = var.registry_scan_type == "ENHANCED" && length(local.continuous_scan_filters) > 0 ? [local.continuous_scan_filters] : []
}

# Every registry-wide resource of this file is gated by local.holds_registry (main.tf): it lives in
# exactly one state of the environment ("main", or "registry" when it is sharded), fed with every
# entry of var.ecr_repositories. A resource added here takes the same `count`.

# ECR's scan type is registry-wide (one per account and region): one resource for all repositories.
resource "aws_ecr_registry_scanning_configuration" "this" {
  count     = local.holds_registry ? 1 : 0
  scan_type = var.registry_scan_type

  dynamic "rule" {
    for_each = local.continuous_scan_rules

    content {
      scan_frequency = "CONTINUOUS_SCAN"

      # PREFIX* filters covering every repository whose tier asks for continuous scanning.
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
      condition     = length(local.continuous_scan_filters) <= 100
      error_message = "ECR allows at most 100 repository filters per scanning rule; this configuration has ${length(local.continuous_scan_filters)} (${length(local.continuous_scan_repositories)} repositories ask for CONTINUOUS_SCAN). Let ecrctl write registry_scan_filters: it covers them with wildcard prefixes."
    }

    precondition {
      condition     = var.registry_scan_type != "ENHANCED" || length(local.unscanned_repositories) == 0
      error_message = "registry_scan_filters matches no filter for ${length(local.unscanned_repositories)} repository(ies) whose tier asks for CONTINUOUS_SCAN: ${join(", ", slice(local.unscanned_repositories, 0, min(5, length(local.unscanned_repositories))))}. Add NAME* (or a PREFIX* that covers it) to registry_scan_filters, or delete the variable and let ecrctl write it again."
    }
  }
}

# -- Replication (registry-wide, one per registry) --------------------------------------------

locals {
  # Derived from the input and the tier table only, like the scanning locals above: a
  # `-target=aws_ecr_replication_configuration.this` pulls in no module instance.
  replicated_repositories = sort([
    for name, repo in var.ecr_repositories : name
    if local.risk_tiers.tiers[repo.risk].replication == "required" || (local.risk_tiers.tiers[repo.risk].replication == "allowed" && repo.replicate)
  ])

  # The PREFIX_MATCH filters ecrctl computed and wrote into the tfvars (the scanning cover's
  # code, orchestrator/rules/cover.py); without them, one filter per repository.
  replication_filters = var.registry_replication_filters != null ? var.registry_replication_filters : local.replicated_repositories
  # What a hand edit may never do: leave a repository that must replicate unmatched.
  unreplicated_repositories = [
    for name in local.replicated_repositories : name
    if !anytrue([for prefix in local.replication_filters : startswith(name, prefix)])
  ]

  # No destinations (a development environment) or nothing to replicate: no configuration.
  replicating = length(var.replication_destinations) > 0 && length(local.replicated_repositories) > 0
}

resource "aws_ecr_replication_configuration" "this" {
  count = local.holds_registry && local.replicating ? 1 : 0

  replication_configuration {
    # One rule: every replicating repository goes to every destination (the emulator, too,
    # serves one rule only).
    rule {
      dynamic "destination" {
        for_each = var.replication_destinations

        content {
          region      = destination.value.region
          registry_id = destination.value.registry_id != null ? destination.value.registry_id : data.aws_caller_identity.current.account_id
        }
      }

      dynamic "repository_filter" {
        for_each = local.replication_filters

        content {
          filter      = repository_filter.value
          filter_type = "PREFIX_MATCH"
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.replication_filters) <= 100
      error_message = "ECR allows at most 100 repository filters per replication rule; this configuration has ${length(local.replication_filters)} (${length(local.replicated_repositories)} repositories replicate). Let ecrctl write registry_replication_filters: it covers them with prefixes."
    }

    precondition {
      condition     = length(local.unreplicated_repositories) == 0
      error_message = "registry_replication_filters matches no filter for ${length(local.unreplicated_repositories)} repository(ies) that must replicate: ${join(", ", slice(local.unreplicated_repositories, 0, min(5, length(local.unreplicated_repositories))))}. Add the name (or a prefix of it) to registry_replication_filters, or delete the variable and let ecrctl write it again."
    }

    precondition {
      condition     = var.account_id == null || var.account_id == data.aws_caller_identity.current.account_id
      error_message = "account_id (${coalesce(var.account_id, "-")}) is not the account Terraform runs in (${data.aws_caller_identity.current.account_id}): fix account_id in the environment's tfvars, or the credentials."
    }
  }
}

# Lets the managed environments that replicate here (replication_sources) do so: ECR needs the
# destination registry's permission for a cross-account replication.
resource "aws_ecr_registry_policy" "this" {
  count = local.holds_registry && length(var.replication_sources) > 0 ? 1 : 0

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ReplicationFromManagedAccounts"
      Effect    = "Allow"
      Principal = { AWS = [for account in sort(var.replication_sources) : "arn:${data.aws_partition.current.partition}:iam::${account}:root"] }
      Action    = ["ecr:CreateRepository", "ecr:ReplicateImage"]
      Resource  = "arn:${data.aws_partition.current.partition}:ecr:${var.aws_region}:${data.aws_caller_identity.current.account_id}:repository/*"
    }]
  })
}

# Before state shards it had no count: the same object, nothing replaced.
moved {
  from = aws_ecr_registry_scanning_configuration.this
  to   = aws_ecr_registry_scanning_configuration.this[0]
}
