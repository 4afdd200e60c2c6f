"""`make bench`: what each ecrctl lifecycle step costs as the registry grows (see README.md)."""
