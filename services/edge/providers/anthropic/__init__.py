"""Placeholder until the anthropic upstream adapter lands."""

ADAPTERS: dict = {}
