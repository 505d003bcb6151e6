"""A request's worst-case cost, the amount pre-authorization holds while it runs.

Prompt: every tokenizer in use emits at most one token per byte of text, so the request
body's size in bytes bounds its prompt tokens (it over-counts, by design: this is a hold,
not a bill). Completion: the request's own limit (``max_completion_tokens`` /
``max_tokens`` / Gemini's ``generationConfig.maxOutputTokens``), else the model's
``max_output_tokens`` from the catalog, else the configured default. Across fallback
models, the dearest one counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.edge.routes import Route
from tollgate.pricing import cost_micros


def _positive_int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def requested_max_output(body: dict) -> int:
    """The completion limit the request sets in any of the three protocols (0 = none)."""
    config = body.get("generationConfig") or body.get("generation_config")
    gemini = _positive_int(config.get("maxOutputTokens") or config.get("max_output_tokens")) if isinstance(config, dict) else 0
    return _positive_int(body.get("max_completion_tokens")) or _positive_int(body.get("max_tokens")) or gemini


def worst_case_micros(routes: Iterable[Route], body_bytes: int, max_output: int, default_output: int, *, completes: bool = True) -> int:
    worst = 0
    for route in routes:
        output = (max_output or route.max_output_tokens or default_output) if completes else 0
        price = route.price
        worst = max(worst, cost_micros(body_bytes, output, price.input_per_mtok_micros, price.output_per_mtok_micros))
    return worst
