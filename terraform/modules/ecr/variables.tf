variable "name" {
  description = "Repository name. New repositories are product-based (`{product}-{component}`, ADR-0092, checked by ecrctl); an adopted one keeps any valid ECR name (`team/app`, `old_service`, `a.b`)."
  type        = string

  validation {
    condition     = length(var.name) >= 2 && length(var.name) <= 256
    error_message = "name \"${var.name}\" must be 2 to 256 characters long (ECR limit)."
  }

  validation {
    # ECR's rule (CreateRepository repositoryName pattern).
    condition     = can(regex("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$", var.name))
    error_message = "name \"${var.name}\" must be an ECR repository name: lowercase letters and digits separated by ., _, __, - or /, e.g. \"payments-gateway\" or \"team/app\"."
  }
}

variable "registry_id" {
  description = "Catalog ID of the repository (ADR-0092 `metadata.id`), e.g. `REGISTRY_PAYMENTS`. Not the AWS registry (account) ID."
  type        = string

  validation {
    condition     = can(regex("^REGISTRY_[A-Z0-9]+(_[A-Z0-9]+)*$", var.registry_id))
    error_message = "${var.name}: registry_id must look like REGISTRY_PRODUCT or REGISTRY_PRODUCT_COMPONENT (uppercase letters, digits, single underscores)."
  }

  validation {
    # It becomes the RegistryId tag: AWS tag values hold at most 256 characters.
    condition     = length(var.registry_id) <= 256
    error_message = "${var.name}: registry_id must be at most 256 characters (it becomes the RegistryId tag value)."
  }
}

variable "owner" {
  description = "Owning application team, `app-team-{name}`."
  type        = string

  validation {
    condition     = can(regex("^app-team-[a-z0-9]+(-[a-z0-9]+)*$", var.owner))
    error_message = "${var.name}: owner must look like app-team-<name> (lowercase letters, digits, single hyphens)."
  }

  validation {
    condition     = length(var.owner) <= 256
    error_message = "${var.name}: owner must be at most 256 characters (it becomes the Owner tag value)."
  }
}

variable "risk" {
  description = "Risk tier: a key of `tiers` in risk-tiers.json (low, medium or high). Chooses tag mutability, encryption, retention and scanning."
  type        = string

  validation {
    condition     = contains(keys(jsondecode(file("${path.module}/risk-tiers.json")).tiers), var.risk)
    error_message = "${var.name}: risk must be one of the tiers in risk-tiers.json: ${join(", ", keys(jsondecode(file("${path.module}/risk-tiers.json")).tiers))}."
  }
}

variable "environment" {
  description = "Environment the repository belongs to (local, dev, staging, prod ...); recorded as the Environment tag."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,31}$", var.environment))
    error_message = "${var.name}: environment must be 1 to 32 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "description" {
  description = "Free-text description, recorded as the Description tag when not empty."
  type        = string
  default     = ""

  validation {
    # AWS tag values: at most 256 characters from letters, spaces, digits and _ . : / = + - @
    condition     = length(var.description) <= 256 && can(regex("^[\\p{L}\\p{Z}\\p{N}_.:/=+@-]*$", var.description))
    error_message = "${var.name}: description must be at most 256 characters of letters, digits, spaces and _ . : / = + - @ (it becomes an AWS tag value)."
  }
}

variable "push_principals" {
  description = "IAM ARNs (account root, role or user) allowed to push and pull images. Never an organization or a service: they may only pull."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.push_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(?:root|(?:role|user)/[A-Za-z0-9+=,.@_/-]+)$", arn))])
    error_message = "${var.name}: push_principals must be IAM ARNs like arn:aws:iam::123456789012:role/ci, arn:aws:iam::123456789012:user/name or arn:aws:iam::123456789012:root (organizations and services may only pull)."
  }
}

variable "pull_principals" {
  description = "Principals allowed to pull images: IAM ARNs (account root, role or user), AWS Organization IDs (`o-` and 10 to 32 lowercase letters or digits: every IAM principal of the organization's accounts, `aws:PrincipalOrgID`), or the services that pull from ECR as themselves, `codebuild.amazonaws.com` and `lambda.amazonaws.com` (acting for this account only, `aws:SourceAccount`)."
  type        = list(string)
  default     = []

  # The same rules as orchestrator/rules/policy.py (IAM_PRINCIPAL, ORGANIZATION, PULL_SERVICES).
  validation {
    condition = alltrue([for p in var.pull_principals : (
      can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(?:root|(?:role|user)/[A-Za-z0-9+=,.@_/-]+)$", p))
      || can(regex("^o-[a-z0-9]{10,32}$", p))
      || contains(["codebuild.amazonaws.com", "lambda.amazonaws.com"], p)
    )])
    error_message = "${var.name}: pull_principals must be IAM ARNs like arn:aws:iam::123456789012:role/deployer, AWS Organization IDs like o-a1b2c3d4e5, or codebuild.amazonaws.com / lambda.amazonaws.com."
  }
}

variable "status" {
  description = "Lifecycle status: `active`, or `deprecated` (pull-only: push_principals stay recorded but leave the repository policy)."
  type        = string
  default     = "active"

  validation {
    condition     = contains(["active", "deprecated"], var.status)
    error_message = "${var.name}: status must be active or deprecated."
  }
}

variable "tags" {
  description = "Extra tags for every resource. The governance tags (Owner, RiskTier, RegistryId, Environment, ManagedBy, Description) win over keys given here."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")
    ])
    error_message = "${var.name}: tags keys must be 1 to 128 characters and not start with \"aws:\"; values at most 256 characters."
  }
}

variable "account_id" {
  description = "AWS account ID the repository lives in (the root's aws_caller_identity): the administrator of its KMS key, the kms:CallerAccount of ECR's use of it, and the aws:SourceAccount of a service's pull grant."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "${var.name}: account_id must be a 12-digit AWS account ID."
  }
}

variable "region" {
  description = "AWS region of the repository: ECR uses its KMS key through ecr.REGION.amazonaws.com (kms:ViaService)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "${var.name}: region must be an AWS region name such as eu-west-1."
  }
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov ...), for the account root ARN in the key policy."
  type        = string
  default     = "aws"

  validation {
    condition     = can(regex("^aws(-[a-z]+)*$", var.partition))
    error_message = "${var.name}: partition must be aws or aws-<name>."
  }
}
