terraform {
  # Partial configuration: bucket, key, region and locking come from
  # `terraform init -backend-config=../envs/<env>/backend.hcl`.
  backend "s3" {}
}
