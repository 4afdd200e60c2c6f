# The state being planned (var.state_name) holds the repositories of its shard only; "main" (an
# environment of one state) holds them all. The hash is orchestrator/rules/shards.py shard_of:
# the first 32 bits of sha256(name), mod state_shards. The registry state holds none.
locals {
  holds_registry = contains(["main", "registry"], var.state_name)
  state_repositories = {
    for name, repo in var.ecr_repositories : name => repo
    if var.state_name == "main" || format("shard-%02d", parseint(substr(sha256(name), 0, 8), 16) % var.state_shards) == var.state_name
  }
}

module "ecr_repositories" {
  source   = "./modules/ecr"
  for_each = local.state_repositories

  name            = each.key
  registry_id     = each.value.id
  owner           = each.value.owner
  risk            = each.value.risk
  environment     = var.environment
  description     = each.value.description
  push_principals = each.value.push_principals
  pull_principals = each.value.pull_principals
  status          = each.value.status

  # For the high tier's KMS key policy (the account's administration, ECR's use of the key).
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.aws_region
}

# One STS GetCallerIdentity per plan, whatever the number of repositories (not one per module
# instance); aws_partition is answered by the provider without a call.
data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}
