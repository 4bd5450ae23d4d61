"""Promotion between a stack's environments: moving one environment's pin to the
revision another has applied, through a Git commit (checks.py says when not to)."""
