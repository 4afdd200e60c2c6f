terraform {
  # 1.9+: validation blocks may read files and other variables (the tier table, var.risk).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}
