# Adoption (`ecrctl adopt`): repositories that already exist are imported, never created.
#
# The tfvars entry of an adopted repository lists what the registry already holds for it
# (`adopt`) and the customer-managed key it is encrypted with (`adopt_kms_key`). The first plan
# imports those into the module instance and updates them in place to the tier; what did not
# exist (the KMS alias, a repository policy) is created.
#
# The lifecycle policy is never imported: the provider cannot change its `policy` in place, so
# an imported policy that differs from the tier would be replaced. Its create is ECR's
# PutLifecyclePolicy, which writes the tier's policy over the one there. Once imported, an import block for a
# resource already in the state is a no-op, so the markers stay in the tfvars and the apply
# never needs a commit. Every `id` and `for_each` reads only the input, not module outputs, so
# a targeted plan evaluates no other instance.

locals {
  # Of this state's repositories only (main.tf): an import lands in its repository's shard.
  adopted = { for name, repo in local.state_repositories : name => repo if contains(repo.adopt, "repository") }
}

import {
  for_each = local.adopted
  to       = module.ecr_repositories[each.key].aws_ecr_repository.this
  id       = each.key
}

# The module holds a repository policy only while principals are granted.
import {
  for_each = { for name, repo in local.adopted : name => repo if contains(repo.adopt, "repository_policy") && length(concat(repo.push_principals, repo.pull_principals)) > 0 }
  to       = module.ecr_repositories[each.key].aws_ecr_repository_policy.this[0]
  id       = each.key
}

# The key and alias exist in the module only for a tier that asks for KMS.
import {
  for_each = { for name, repo in local.adopted : name => repo if repo.adopt_kms_key != "" && local.risk_tiers.tiers[repo.risk].encryption_type == "KMS" }
  to       = module.ecr_repositories[each.key].aws_kms_key.this[0]
  id       = each.value.adopt_kms_key
}

import {
  for_each = { for name, repo in local.adopted : name => repo if contains(repo.adopt, "kms_alias") && local.risk_tiers.tiers[repo.risk].encryption_type == "KMS" }
  to       = module.ecr_repositories[each.key].aws_kms_alias.this[0]
  # The module's alias name (modules/ecr/main.tf local.kms_alias), from the input only.
  id = "alias/ecr/${replace(each.key, ".", "_")}"
}
