"""The request flow: create, plan, apply, list, validate, catalog sync, drift."""
