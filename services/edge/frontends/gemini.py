"""Placeholder until the gemini front door lands."""

ROUTES: list = []
