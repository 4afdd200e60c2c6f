locals {
  # The one risk-tier table, shared with the Python orchestrator.
  risk_tiers = jsondecode(file("${path.module}/risk-tiers.json"))
  tier       = local.risk_tiers.tiers[var.risk]

  scan_frequency = local.risk_tiers.scan_frequencies[local.tier.scanning]
  create_kms_key = local.tier.encryption_type == "KMS"
  # KMS alias names allow letters, digits, `/`, `_` and `-`, not the `.` ECR names may hold.
  kms_alias = "alias/ecr/${replace(var.name, ".", "_")}"

  tags = merge(
    var.tags,
    {
      Owner       = var.owner
      RiskTier    = var.risk
      RegistryId  = var.registry_id
      Environment = var.environment
      ManagedBy   = "ecrctl"
    },
    var.description != "" ? { Description = var.description } : {},
  )

  # Sorted and deduplicated so that reordering a list in tfvars plans no change.
  # A deprecated repository is pull-only: its push principals stay recorded, out of the policy.
  push_principals = var.status == "deprecated" ? [] : sort(distinct(var.push_principals))
  pull_principals = sort(distinct(var.pull_principals))
  # Pull principals of three kinds (validated in variables.tf; orchestrator/rules/policy.py):
  # IAM ARNs, AWS Organization IDs (o-...) and the AWS services that pull as themselves.
  pull_iam           = [for p in local.pull_principals : p if startswith(p, "arn:")]
  pull_organizations = [for p in local.pull_principals : p if startswith(p, "o-")]
  pull_services      = [for p in local.pull_principals : p if endswith(p, ".amazonaws.com")]

  pull_actions = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
  ]
  push_actions = [
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
  ]

  policy_statements = concat(
    length(local.push_principals) > 0 ? [{
      Sid       = "AllowPush"
      Effect    = "Allow"
      Principal = { AWS = local.push_principals }
      Action    = sort(concat(local.push_actions, local.pull_actions))
    }] : [],
    length(local.pull_iam) > 0 ? [{
      Sid       = "AllowPull"
      Effect    = "Allow"
      Principal = { AWS = local.pull_iam }
      Action    = local.pull_actions
    }] : [],
    # Every IAM principal of an account in one of the organizations; pull only.
    length(local.pull_organizations) > 0 ? [{
      Sid       = "AllowPullOrganization"
      Effect    = "Allow"
      Principal = { AWS = "*" }
      Action    = local.pull_actions
      Condition = { StringEquals = { "aws:PrincipalOrgID" = local.pull_organizations } }
    }] : [],
    # The services, acting for this account only (confused-deputy protection); pull only.
    length(local.pull_services) > 0 ? [{
      Sid       = "AllowPullService"
      Effect    = "Allow"
      Principal = { Service = local.pull_services }
      Action    = local.pull_actions
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }] : [],
  )

  # AWS limits (orchestrator/rules/limits.py LIMITS, checked by ecrctl when the request is made):
  # at most 50 tags, a repository policy of 10,240 characters, a lifecycle policy of 30,720.
  # orchestrator/rules/documents.py repository_policy_json renders the same JSON, byte for byte.
  repository_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.policy_statements
  })
  # The tier's lifecycle rules (orchestrator/rules/limits.py lifecycle_rules renders the same
  # JSON). ECR expires an image by at most one rule, and an image matching the tag selection of a
  # rule is never expired by a later one: each protected prefix first, with a count above any
  # repository's, keeps its images; then untagged images expire by age; the count rule ("any")
  # must come last. One rule per prefix: a tagPrefixList selects images carrying all its prefixes.
  protected_prefixes = sort(distinct(local.tier.protected_tag_prefixes))
  lifecycle_rules = concat(
    [for i, prefix in local.protected_prefixes : {
      rulePriority = i + 1
      description  = "Keep images tagged ${prefix}* (${var.risk} risk tier)"
      selection = {
        tagStatus     = "tagged"
        tagPrefixList = [prefix]
        countType     = "imageCountMoreThan"
        countNumber   = local.risk_tiers.protected_tag_keep_count
      }
      action = { type = "expire" }
    }],
    [{
      rulePriority = length(local.protected_prefixes) + 1
      description  = "Expire untagged images after ${local.tier.untagged_expire_days} days (${var.risk} risk tier)"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = local.tier.untagged_expire_days
      }
      action = { type = "expire" }
    }],
    [{
      rulePriority = length(local.protected_prefixes) + 2
      description  = "Keep the last ${local.tier.keep_image_count} images (${var.risk} risk tier)"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = local.tier.keep_image_count
      }
      action = { type = "expire" }
    }],
  )
  lifecycle_policy = jsonencode({ rules = local.lifecycle_rules })

  # The key's policy (CKV2_AWS_64; limits.key_policy_json renders the same): the account
  # administers the key through IAM (AWS's default statement), and ECR uses it on behalf of the
  # account's principals, through the service only (the statement of the AWS-managed aws/ecr
  # key). Nothing else. KMS allows 32 KiB; this one varies only with the region's name.
  account_root = "arn:${var.partition}:iam::${var.account_id}:root"
  key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = local.account_root }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "EcrUseThroughTheService"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action = [
          "kms:CreateGrant",
          "kms:Decrypt",
          "kms:DescribeKey",
          "kms:Encrypt",
          "kms:GenerateDataKey*",
          "kms:ReEncrypt*",
        ]
        Resource = "*"
        Condition = {
          StringEquals = {
            "kms:CallerAccount" = var.account_id
            "kms:ViaService"    = "ecr.${var.region}.amazonaws.com"
          }
        }
      },
    ]
  })
}

################################################################################
# KMS key (customer managed, only for tiers that ask for KMS encryption)
################################################################################

resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "Encryption key for ECR repository ${var.name} (ecrctl)"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  # Changing it is an in-place update (PutKeyPolicy), never a replacement of the key.
  policy = local.key_policy

  tags = local.tags

  lifecycle {
    precondition {
      condition     = length(local.key_policy) <= 32768
      error_message = "${var.name}: the KMS key policy would be ${length(local.key_policy)} bytes; KMS allows at most 32768."
    }
  }
}

resource "aws_kms_alias" "this" {
  count = local.create_kms_key ? 1 : 0

  name          = local.kms_alias
  target_key_id = aws_kms_key.this[0].key_id

  lifecycle {
    precondition {
      condition     = length(local.kms_alias) <= 256
      error_message = "KMS alias names are limited to 256 characters: a ${var.risk}-risk repository name may be at most 246 characters."
    }
  }
}

################################################################################
# Repository
################################################################################

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = local.tier.image_tag_mutability
  # A repository that still holds images is never deleted by Terraform: back up and empty it first.
  force_delete = false

  encryption_configuration {
    encryption_type = local.tier.encryption_type
    kms_key         = local.create_kms_key ? aws_kms_key.this[0].arn : null
  }

  # Basic scan on push; with an ENHANCED registry the registry scanning rules take over.
  image_scanning_configuration {
    scan_on_push = true
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = length(local.tags) <= 50
      error_message = "${var.name}: ${length(local.tags)} tags; AWS allows at most 50 per resource."
    }
  }
}

################################################################################
# Lifecycle policy
################################################################################

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name

  policy = local.lifecycle_policy

  lifecycle {
    precondition {
      condition     = length(local.lifecycle_policy) <= 30720
      error_message = "${var.name}: the lifecycle policy is longer than ECR's 30720 characters."
    }
  }
}

################################################################################
# Repository policy (only when principals are granted access)
################################################################################

resource "aws_ecr_repository_policy" "this" {
  count = length(local.policy_statements) > 0 ? 1 : 0

  repository = aws_ecr_repository.this.name

  # Built with jsonencode rather than the aws_iam_policy_document data source: no extra read at plan time.
  policy = local.repository_policy

  lifecycle {
    precondition {
      condition     = length(local.repository_policy) <= 10240
      error_message = "${var.name}: the repository policy would be ${length(local.repository_policy)} characters; ECR allows at most 10240. Grant fewer principals."
    }
  }
}
