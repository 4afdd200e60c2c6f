# CHANGE-ME: replace the placeholder bucket with the real state bucket of the prod
# account (versioning on, public access blocked) before the first terraform init.
bucket       = "CHANGE-ME-ecrctl-prod-tfstate"
key          = "ecr/prod/terraform.tfstate"
region       = "eu-west-2"
use_lockfile = true
encrypt      = true
