"""A request's worst-case cost, the amount pre-authorization holds while it runs.

Prompt: every tokenizer in use emits at most one token per byte of text, so the request
body's size in bytes bounds its prompt tokens (it over-counts, by design: this is a hold,
not a bill). Completion: the request's own limit (the largest of ``max_completion_tokens``
/ ``max_tokens`` / ``max_output_tokens`` / Gemini's ``generationConfig.maxOutputTokens``),
else the model's ``max_output_tokens`` from the catalog, else the configured default —
times the number of choices asked for (``n`` / ``candidateCount``). Those fields are
validated (``limits.cost_bounds``): a value of the wrong type or out of range is a 400,
never read as "not set". Units beyond tokens (images, requests) are the request's own worst
case too: ``n`` images at the size and quality it asks for. Across fallback models and channels with prices of their own, the
dearest one counts (a prompt token at the dearer of the input and cache-write prices).
"""

from __future__ import annotations

from collections.abc import Iterable

from services.edge.routes import Route
from tollgate import units as units_
from tollgate.events import UnitUsage
from tollgate.pricing import cost_micros

MAX_HOLD_MICROS = 2**62  # beyond any balance (refused anyway), within the lease request's int64


def worst_case_micros(
    routes: Iterable[Route],
    body_bytes: int,
    max_output: int,
    default_output: int,
    *,
    completes: bool = True,
    choices: int = 1,
    units: Iterable[UnitUsage] = (),
) -> int:
    """``units``: what the request may use beyond tokens at most (n images at its size and
    quality, one request), priced at each price beside the tokens."""
    units = list(units)
    worst = 0
    for route in routes:
        output = (max_output or route.max_output_tokens or default_output) * max(choices, 1) if completes else 0
        for price in route.prices():  # the model's and every channel's own: the dearest counts
            prompt_price = max(price.input_per_mtok_micros, price.cache_write_per_mtok_micros)  # every prompt token may be a cache write
            tokens = cost_micros(body_bytes, output, prompt_price, price.output_per_mtok_micros)
            worst = max(worst, tokens + units_.cost_micros(units, price))
    return min(worst, MAX_HOLD_MICROS)
