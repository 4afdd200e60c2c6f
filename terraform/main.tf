module "ecr_repositories" {
  source   = "./modules/ecr"
  for_each = var.ecr_repositories

  name            = each.key
  registry_id     = each.value.id
  owner           = each.value.owner
  risk            = each.value.risk
  environment     = var.environment
  description     = each.value.description
  push_principals = each.value.push_principals
  pull_principals = each.value.pull_principals
  status          = each.value.status
}
