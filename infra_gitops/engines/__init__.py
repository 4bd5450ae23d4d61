"""Engines turn a stack directory into normalized plans and apply results."""
