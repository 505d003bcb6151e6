"""Client-facing protocols. Each module other than ``openai`` contributes its routes
(Litestar handlers carrying their own protocol's error rendering) through ``ROUTES``."""

from __future__ import annotations

from services.edge.frontends import anthropic, gemini, responses

FRONTEND_ROUTES = [*anthropic.ROUTES, *gemini.ROUTES, *responses.ROUTES]
