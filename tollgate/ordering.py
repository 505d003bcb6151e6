"""The one channel-ordering policy: higher priority tiers first; within a tier, a weighted
random order (Efraimidis–Spirakis: sorting by ``u ** (1 / weight)`` descending gives a
weighted random permutation), with demoted channels (the edge's half-open ones, on
probation after a failure) after the others of their tier. The router orders a model's
channels with it, the edge each request's candidates."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def by_priority(
    channels: Iterable[T],
    rng: random.Random,
    *,
    priority: Callable[[T], int],
    weight: Callable[[T], int],
    demoted: Callable[[T], bool] = lambda _: False,
) -> list[T]:
    """``channels`` in the order to try them (a weight below 1 counts as 1)."""
    return sorted(channels, key=lambda c: (-priority(c), demoted(c), -(rng.random() ** (1.0 / max(weight(c), 1)))))
