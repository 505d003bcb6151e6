"""Integer pricing: micro-USD per million tokens in, micro-USD per request out."""

from __future__ import annotations

MTOK = 1_000_000


def cost_micros(
    prompt_tokens: int,
    completion_tokens: int,
    input_per_mtok: int,
    output_per_mtok: int,
    cached_tokens: int = 0,
    cached_input_per_mtok: int = 0,
    *,
    cache_write_tokens: int = 0,
    cache_write_per_mtok: int = 0,
) -> int:
    """Exact cost of one request, rounded up to the next micro-USD.

    ``cached_tokens`` (read from a provider's prompt cache) and ``cache_write_tokens``
    (written to it, Anthropic's ``cache_creation_input_tokens``) are part of
    ``prompt_tokens``; each is billed at its own price when the model has one, else at
    the input price.
    """
    cached = min(max(cached_tokens, 0), prompt_tokens) if cached_input_per_mtok else 0
    written = min(max(cache_write_tokens, 0), prompt_tokens - cached) if cache_write_per_mtok else 0
    numerator = (
        (prompt_tokens - cached - written) * input_per_mtok
        + cached * cached_input_per_mtok
        + written * cache_write_per_mtok
        + completion_tokens * output_per_mtok
    )
    return -(-numerator // MTOK)
