"""ecrctl: governed lifecycle of AWS ECR repositories through Terraform."""

__version__ = "0.1.0"
