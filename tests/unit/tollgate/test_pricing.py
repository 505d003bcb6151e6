"""Integer pricing (tollgate.pricing): micro-USD costs, rounded up, exact."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from tollgate.pricing import MTOK, cost_micros


@pytest.mark.parametrize(
    "args, expected",
    [
        ((0, 0, 1_000_000, 2_000_000), 0),
        ((1_000_000, 0, 1_000_000, 2_000_000), 1_000_000),
        ((0, 1_000_000, 1_000_000, 2_000_000), 2_000_000),
        ((1_000, 2_000, 2_500_000, 10_000_000), 2_500 + 20_000),  # exact, no rounding
        ((1, 0, 1, 0), 1),  # a millionth of a micro-USD still costs one micro-USD
        ((1, 1, 1, 1), 1),
        ((999_999, 0, 1, 0), 1),
        ((1_000_001, 0, 1, 0), 2),
        ((3, 0, 333_333, 0), 1),  # 0.999999 -> 1
        ((3, 0, 333_334, 0), 2),  # 1.000002 -> 2
        ((100, 100, 0, 0), 0),  # free model
    ],
)
def test_cost_rounds_up(args: tuple[int, ...], expected: int) -> None:
    assert cost_micros(*args) == expected


def test_cached_tokens_billed_at_cached_price() -> None:
    # 600 uncached at 1.0, 400 cached at 0.25, 10 completion at 2.0 (micro-USD per token).
    assert cost_micros(1_000, 10, 1_000_000, 2_000_000, cached_tokens=400, cached_input_per_mtok=250_000) == 600 + 100 + 20


def test_cached_tokens_without_cached_price_billed_at_input_price() -> None:
    full = cost_micros(1_000, 10, 1_000_000, 2_000_000)
    assert cost_micros(1_000, 10, 1_000_000, 2_000_000, cached_tokens=400) == full
    assert cost_micros(1_000, 10, 1_000_000, 2_000_000, cached_tokens=400, cached_input_per_mtok=0) == full == 1_020


def test_cached_tokens_are_clamped() -> None:
    # More cached tokens than prompt tokens: at most the whole prompt is cached.
    assert cost_micros(1_000, 0, 1_000_000, 0, cached_tokens=5_000, cached_input_per_mtok=100_000) == 100
    # Negative cached tokens count as none.
    assert cost_micros(1_000, 0, 1_000_000, 0, cached_tokens=-50, cached_input_per_mtok=100_000) == 1_000


def test_cost_matches_exact_rational_arithmetic() -> None:
    rng = random.Random(2024)
    for _ in range(2_000):
        prompt = rng.randrange(0, 10**7)
        completion = rng.randrange(0, 10**7)
        cached = rng.randrange(0, prompt + 1)
        p_in, p_out, p_cached = rng.randrange(0, 10**8), rng.randrange(0, 10**8), rng.randrange(0, 10**8)
        exact = (
            Fraction((prompt - cached) * p_in + cached * p_cached + completion * p_out, MTOK)
            if p_cached
            else Fraction(prompt * p_in + completion * p_out, MTOK)
        )
        got = cost_micros(prompt, completion, p_in, p_out, cached_tokens=cached, cached_input_per_mtok=p_cached)
        assert type(got) is int
        assert got == math.ceil(exact)


def test_cost_is_exact_for_huge_values() -> None:
    # Beyond float precision: the result must still be an exact integer.
    prompt = 10**15 + 1
    got = cost_micros(prompt, 0, 10**9 + 7, 0)
    assert type(got) is int
    assert got == -(-(prompt * (10**9 + 7)) // MTOK)
    assert got != int(prompt * (10**9 + 7) / MTOK)


def test_cache_writes_are_billed_at_their_own_price():
    # 1000 prompt tokens: 200 read from the cache, 300 written to it, 500 plain; 100 completion tokens.
    cost = cost_micros(1000, 100, 3_000_000, 15_000_000, 200, 300_000, cache_write_tokens=300, cache_write_per_mtok=3_750_000)
    assert cost == (500 * 3_000_000 + 200 * 300_000 + 300 * 3_750_000 + 100 * 15_000_000) // 1_000_000
    # Without a cache-write price the writes are plain input, as before.
    assert cost_micros(1000, 100, 3_000_000, 15_000_000, 200, 300_000, cache_write_tokens=300) == cost_micros(
        1000, 100, 3_000_000, 15_000_000, 200, 300_000
    )


def test_cache_writes_never_exceed_the_prompt():
    # An absurd count (more writes than prompt tokens beyond the cached ones) is clamped, never billed twice.
    assert cost_micros(100, 0, 1_000_000, 0, 40, 0, cache_write_tokens=1_000, cache_write_per_mtok=2_000_000) == 100 * 2
    assert cost_micros(100, 0, 1_000_000, 0, 40, 500_000, cache_write_tokens=1_000, cache_write_per_mtok=2_000_000) == 20 + 60 * 2
    assert cost_micros(100, 0, 1_000_000, 0, 0, 0, cache_write_tokens=-5, cache_write_per_mtok=2_000_000) == 100
