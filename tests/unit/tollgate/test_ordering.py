"""The one channel ordering (tollgate.ordering): priority tiers, weights within a tier, demotion."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

from tollgate.ordering import by_priority


def _channel(name: str, priority: int = 0, weight: int = 1, half_open: bool = False):
    return SimpleNamespace(name=name, priority=priority, weight=weight, half_open=half_open)


def test_ordering_tiers_weights_and_demotion() -> None:
    rng = random.Random(3)
    channels = [_channel("low", 0), _channel("probe", 5, half_open=True), _channel("heavy", 5, weight=9), _channel("light", 5, weight=1)]

    def order():
        ordered = by_priority(channels, rng, priority=lambda c: c.priority, weight=lambda c: c.weight, demoted=lambda c: c.half_open)
        return [c.name for c in ordered]

    runs = [order() for _ in range(2000)]
    assert all(r[-1] == "low" and r[2] == "probe" for r in runs)
    firsts = Counter(r[0] for r in runs)
    assert 0.85 < firsts["heavy"] / 2000 < 0.95  # 9 : 1 within the tier
    same = [by_priority(channels, random.Random(7), priority=lambda c: c.priority, weight=lambda c: c.weight) for _ in range(2)]
    assert same[0] == same[1]
