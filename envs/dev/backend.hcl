# CHANGE-ME: replace the placeholder bucket with the real state bucket of the dev
# account (versioning on, public access blocked) before the first terraform init.
bucket       = "CHANGE-ME-ecrctl-dev-tfstate"
key          = "ecr/dev/terraform.tfstate"
region       = "eu-west-2"
use_lockfile = true
encrypt      = true
