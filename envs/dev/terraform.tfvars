# ecrctl: ECR repositories of the "dev" environment.
# Entries under ecr_repositories are written by ecrctl (create / decommission);
# edit them through ecrctl so that the catalog and this file stay in step.

aws_region  = "eu-west-2"
environment = "dev"

ecr_repositories = {
}
