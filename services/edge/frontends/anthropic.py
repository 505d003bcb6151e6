"""Placeholder until the anthropic front door lands."""

ROUTES: list = []
