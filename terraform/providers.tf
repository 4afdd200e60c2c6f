# No endpoint settings here: the provider honours AWS_ENDPOINT_URL, which is how
# the same code runs against a local emulator.
provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      ManagedBy   = "ecrctl"
      Environment = var.environment
    }
  }
}
