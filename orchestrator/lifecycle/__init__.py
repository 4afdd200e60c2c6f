"""Retiring and bringing back repositories: decommission, backup, restore."""
