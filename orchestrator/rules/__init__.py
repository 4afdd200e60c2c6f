"""Governance rules: names, tiers and AWS limits (policy), and the plan guard."""
