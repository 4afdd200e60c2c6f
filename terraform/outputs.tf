# No output lists the repositories. One that read module.ecr_repositories would make every
# targeted plan evaluate every module instance (at 1000 repositories: 7 s -> 42 s), and after a
# targeted apply it goes stale. `ecrctl catalog sync` reads each module instance's repository
# from the state instead.

output "registry_scan_type" {
  description = "Registry-wide scan type (BASIC or ENHANCED)."
  value       = try(aws_ecr_registry_scanning_configuration.this[0].scan_type, var.registry_scan_type)
}
