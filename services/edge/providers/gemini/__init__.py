"""Placeholder until the gemini upstream adapter lands."""

ADAPTERS: dict = {}
