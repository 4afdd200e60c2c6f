"""Managed files: the workspace, its lock and atomic writes, the HCL and YAML readers, the transaction."""
