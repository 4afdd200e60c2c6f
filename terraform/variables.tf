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

variable "ecr_repositories" {
  description = "ECR repositories of this environment, keyed by repository name. Written by ecrctl; each entry is validated again by the module."
  type = map(object({
    id              = string
    owner           = string
    risk            = string
    description     = optional(string, "")
    push_principals = optional(list(string), [])
    pull_principals = optional(list(string), [])
    status          = optional(string, "active")
  }))
  default = {}

  # Checked here as well as in the module: registry.tf reads the keys and tiers of
  # every entry, including those a targeted plan leaves out.
  validation {
    condition     = alltrue([for name in keys(var.ecr_repositories) : can(regex("^[a-z0-9]+(-[a-z0-9]+)*$", name)) && length(name) >= 2 && length(name) <= 256])
    error_message = "ecr_repositories keys must be repository names of 2 to 256 lowercase letters and digits in hyphen-separated words."
  }

  validation {
    condition     = alltrue([for repo in values(var.ecr_repositories) : contains(keys(jsondecode(file("${path.module}/modules/ecr/risk-tiers.json")).tiers), repo.risk)])
    error_message = "every ecr_repositories entry needs a risk from modules/ecr/risk-tiers.json: ${join(", ", keys(jsondecode(file("${path.module}/modules/ecr/risk-tiers.json")).tiers))}."
  }
}
