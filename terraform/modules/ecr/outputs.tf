output "repository_name" {
  description = "Name of the repository."
  value       = try(aws_ecr_repository.this.name, null)
}

output "repository_url" {
  description = "URL of the repository (`{account}.dkr.ecr.{region}.amazonaws.com/{name}`)."
  value       = try(aws_ecr_repository.this.repository_url, null)
}

output "repository_arn" {
  description = "ARN of the repository."
  value       = try(aws_ecr_repository.this.arn, null)
}

output "registry_id" {
  description = "AWS registry ID (the account ID) holding the repository."
  value       = try(aws_ecr_repository.this.registry_id, null)
}

output "catalog_id" {
  description = "Catalog ID of the repository (`REGISTRY_...`), as given in var.registry_id."
  value       = var.registry_id
}

output "owner" {
  description = "Owning application team."
  value       = var.owner
}

output "risk" {
  description = "Risk tier."
  value       = var.risk
}

output "environment" {
  description = "Environment the repository belongs to."
  value       = var.environment
}

output "image_tag_mutability" {
  description = "Tag mutability applied to the repository (MUTABLE or IMMUTABLE)."
  value       = try(aws_ecr_repository.this.image_tag_mutability, null)
}

output "encryption_type" {
  description = "Encryption applied to the repository (AES256 or KMS)."
  value       = try(aws_ecr_repository.this.encryption_configuration[0].encryption_type, null)
}

output "kms_key_arn" {
  description = "ARN of the customer-managed KMS key; null unless the tier uses KMS (high)."
  value       = try(aws_kms_key.this[0].arn, null)
}

output "keep_image_count" {
  description = "Number of images the lifecycle policy keeps."
  value       = local.tier.keep_image_count
}

output "scanning" {
  description = "Scanning level of the tier: standard, enhanced or critical."
  value       = local.tier.scanning
}

output "scan_frequency" {
  description = "Scan frequency the tier asks of the registry scanning rules (SCAN_ON_PUSH or CONTINUOUS_SCAN); applied by the root configuration, registry-wide."
  value       = local.scan_frequency
}
