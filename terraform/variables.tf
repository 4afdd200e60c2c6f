variable "aws_region" {
  description = "AWS region holding the environment's ECR registry."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as eu-west-2."
  }
}

variable "environment" {
  description = "Environment name (local, dev, staging, prod); must match the envs/<environment> folder."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,31}$", var.environment))
    error_message = "environment must be 1 to 32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "registry_scan_type" {
  description = "Registry-wide ECR scan type. ENHANCED (Amazon Inspector) allows continuous scanning for the tiers that ask for it; BASIC only scans on push."
  type        = string
  default     = "ENHANCED"

  validation {
    condition     = contains(["BASIC", "ENHANCED"], var.registry_scan_type)
    error_message = "registry_scan_type must be BASIC or ENHANCED."
  }
}

variable "registry_scan_filters" {
  description = "The CONTINUOUS_SCAN repository filters, PREFIX* each: written by ecrctl from ecr_repositories (orchestrator/scanning.py) so that every repository whose tier asks for continuous scanning is matched within ECR's 100 filters per rule. null: one NAME* filter per such repository."
  type        = list(string)
  default     = null

  # ECR ScanningRepositoryFilter: at most 255 characters; RegistryScanningRule: at most 100 filters.
  validation {
    condition = var.registry_scan_filters == null ? true : alltrue([
      for filter in var.registry_scan_filters : can(regex("^[a-z0-9._/-]*\\*$", filter)) && length(filter) <= 255
    ])
    error_message = "registry_scan_filters must be PREFIX* filters (lowercase letters, digits, . _ / - and one trailing *) of at most 255 characters."
  }

  validation {
    condition     = var.registry_scan_filters == null ? true : length(var.registry_scan_filters) <= 100
    error_message = "registry_scan_filters may hold at most 100 filters (ECR's limit per scanning rule)."
  }
}

variable "account_id" {
  description = "The 12-digit AWS account holding the environment's registry. Optional; another managed environment that replicates here names it as its destination's registry_id, and registry.tf checks it against the caller's account."
  type        = string
  default     = null

  validation {
    condition     = var.account_id == null ? true : can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account ID."
  }
}

variable "replication_destinations" {
  description = "Where the registry replicates the repositories whose tier asks for it (risk-tiers.json replication): a region, and registry_id for another account's registry (omitted: this account). One replication rule holds them all."
  type = list(object({
    region      = string
    registry_id = optional(string)
  }))
  default = []

  # ECR ReplicationRule: at most 25 destinations.
  validation {
    condition     = length(var.replication_destinations) <= 25
    error_message = "replication_destinations may hold at most 25 destinations (ECR's limit per replication rule)."
  }

  validation {
    condition = alltrue([
      for d in var.replication_destinations : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", d.region)) && (d.registry_id == null ? true : can(regex("^[0-9]{12}$", d.registry_id)))
    ])
    error_message = "each replication destination needs an AWS region name and, optionally, a 12-digit registry_id."
  }
}

variable "registry_replication_filters" {
  description = "The replication rule's PREFIX_MATCH repository filters: written by ecrctl from ecr_repositories (orchestrator/rules/replication.py) so that every repository whose tier asks for replication is matched within ECR's 100 filters per rule. null: one filter per such repository."
  type        = list(string)
  default     = null

  # ECR RepositoryFilter: 2 to 256 characters of a repository name's prefix; at most 100 per rule.
  validation {
    condition = var.registry_replication_filters == null ? true : alltrue([
      for filter in var.registry_replication_filters : can(regex("^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$", filter)) && length(filter) >= 2 && length(filter) <= 256
    ])
    error_message = "registry_replication_filters must be repository-name prefixes of 2 to 256 characters (lowercase letters, digits, . _ - /)."
  }

  validation {
    condition     = var.registry_replication_filters == null ? true : length(var.registry_replication_filters) <= 100
    error_message = "registry_replication_filters may hold at most 100 filters (ECR's limit per replication rule)."
  }
}

variable "replication_sources" {
  description = "AWS accounts allowed to replicate into this registry (its registry policy): the accounts of the managed environments whose replication_destinations name this registry (ecrctl validate checks)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for account in var.replication_sources : can(regex("^[0-9]{12}$", account))])
    error_message = "replication_sources must be 12-digit AWS account IDs."
  }
}

variable "state_shards" {
  description = "How many state shards the environment's repositories are split into (envs/ENV/terraform.tfvars; changed only by `ecrctl shards migrate`). 1: one state holds everything."
  type        = number
  default     = 1

  validation {
    condition     = var.state_shards >= 1 && var.state_shards <= 99 && floor(var.state_shards) == var.state_shards
    error_message = "state_shards must be a whole number from 1 to 99."
  }
}

variable "state_name" {
  description = "The state being planned, given by ecrctl: main (the one state when state_shards is 1), registry (the registry-wide resources), or shard-NN (the repositories of shard NN)."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^(main|registry|shard-[0-9]{2})$", var.state_name))
    error_message = "state_name must be main, registry or shard-NN."
  }
}

variable "ecr_repositories" {
  description = "ECR repositories of this environment, keyed by repository name. Written by ecrctl; each entry is validated again by the module."
  type = map(object({
    id              = string
    owner           = string
    risk            = string
    description     = optional(string, "")
    push_principals = optional(list(string), [])
    pull_principals = optional(list(string), [])
    # Set by `ecrctl adopt` for a repository that already exists: what to import (imports.tf).
    adopt         = optional(list(string), [])
    adopt_kms_key = optional(string, "")
    status        = optional(string, "active")
    # Asks for replication where the tier allows it (risk-tiers.json replication "allowed").
    replicate = optional(bool, false)
  }))
  default = {}

  # Checked here as well as in the module: registry.tf reads the keys and tiers of
  # every entry, including those a targeted plan leaves out.
  validation {
    # ECR's own name rule: an adopted repository keeps the name it has (team/app, old_service,
    # a.b). ecrctl holds new requests to ADR-0092's stricter rule before they get here.
    condition     = alltrue([for name in keys(var.ecr_repositories) : can(regex("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$", name)) && length(name) >= 2 && length(name) <= 256])
    error_message = "ecr_repositories keys must be ECR repository names: 2 to 256 characters, lowercase letters and digits separated by ., _, __, - or /."
  }

  validation {
    condition     = alltrue([for repo in values(var.ecr_repositories) : alltrue([for part in repo.adopt : contains(["repository", "repository_policy", "kms_alias"], part)]) && (length(repo.adopt) == 0 || contains(repo.adopt, "repository"))])
    error_message = "adopt lists what an existing repository has to import: \"repository\" and any of \"repository_policy\", \"kms_alias\"."
  }

  validation {
    condition     = alltrue([for repo in values(var.ecr_repositories) : contains(keys(jsondecode(file("${path.module}/modules/ecr/risk-tiers.json")).tiers), repo.risk)])
    error_message = "every ecr_repositories entry needs a risk from modules/ecr/risk-tiers.json: ${join(", ", keys(jsondecode(file("${path.module}/modules/ecr/risk-tiers.json")).tiers))}."
  }
}
