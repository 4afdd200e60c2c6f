# ecrctl: ECR repositories of the "local" environment.
# Entries under ecr_repositories are written by ecrctl (create / decommission);
# edit them through ecrctl so that the catalog and this file stay in step.

aws_region  = "us-east-1"
environment = "local"

ecr_repositories = {
}
