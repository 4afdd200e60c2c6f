output "repositories" {
  description = "Every repository of the environment: name => the ecr module's outputs. May be stale after a targeted apply; read it after a full refresh, or count from the inputs."
  value       = module.ecr_repositories
}

output "registry_scan_type" {
  description = "Registry-wide scan type (BASIC or ENHANCED)."
  value       = try(aws_ecr_registry_scanning_configuration.this.scan_type, var.registry_scan_type)
}
