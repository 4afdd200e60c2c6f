# Local emulator (moto): point AWS_ENDPOINT_URL at it and create the bucket first.
# Path-style addressing because a local endpoint has no per-bucket DNS names.
bucket         = "ecrctl-local-tfstate"
key            = "ecr/local/terraform.tfstate"
region         = "us-east-1"
use_lockfile   = true
encrypt        = true
use_path_style = true
