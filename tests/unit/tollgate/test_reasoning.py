"""tollgate/reasoning.py: the one effort <-> budget table, read both ways, and Anthropic's rules."""

from __future__ import annotations

import pytest

from tollgate import reasoning
from tollgate.canonical import UNSET
from tollgate.errors import BadRequest
from tollgate.reasoning import Ask


def test_the_table_is_ordered_and_every_effort_maps_back_to_itself() -> None:
    budgets = list(reasoning.EFFORT_BUDGETS.values())
    assert budgets == sorted(budgets) and budgets[0] == 0
    for effort, budget in reasoning.EFFORT_BUDGETS.items():
        # "xhigh" is only asked for by name: its budget reads back as "high"
        assert reasoning.effort_for(budget) == ("high" if effort == "xhigh" else effort)
        assert reasoning.budget_for(effort) == budget


@pytest.mark.parametrize(
    ("budget", "effort"),
    [(0, "none"), (-1, "medium"), (1, "minimal"), (1024, "minimal"), (1025, "low"), (3000, "medium"), (8193, "high"), (10**6, "high")],
)
def test_a_budget_reads_as_the_first_effort_that_covers_it(budget, effort) -> None:
    assert reasoning.effort_for(budget) == effort


def test_efforts_are_checked_case_insensitively() -> None:
    assert reasoning.check_effort("HIGH") == "high"
    for bad in ("extreme", "", None, 3):
        with pytest.raises(BadRequest) as err:
            reasoning.check_effort(bad)
        assert err.value.code == "invalid_reasoning_effort" and "minimal" in err.value.message


@pytest.mark.parametrize(
    ("effort", "budget", "expected"),
    [
        (UNSET, UNSET, None),
        (None, None, None),
        ("", UNSET, None),
        ("low", UNSET, Ask("low", 2048)),
        ("none", UNSET, Ask("none", 0)),
        (UNSET, 3000, Ask("medium", 3000)),  # the client's number is kept, the effort read from it
        (UNSET, -1, Ask("medium", -1)),
        (UNSET, -7, Ask("medium", -1)),  # anything below -1 is dynamic
        (UNSET, 0, Ask("none", 0)),
        ("high", 1500, Ask("high", 1500)),  # both named: each wins for its own kind
        (UNSET, True, None),  # a boolean is not a budget
    ],
)
def test_requested(effort, budget, expected) -> None:
    assert reasoning.requested(effort, budget) == expected


def test_requested_refuses_an_unknown_effort_and_an_absurd_budget() -> None:
    with pytest.raises(BadRequest):
        reasoning.requested("turbo", UNSET)
    assert reasoning.requested(UNSET, reasoning.MAX_BUDGET) == Ask("high", reasoning.MAX_BUDGET)
    with pytest.raises(BadRequest) as err:
        reasoning.requested(UNSET, reasoning.MAX_BUDGET + 1)
    assert err.value.code == "invalid_reasoning_budget"


@pytest.mark.parametrize(
    ("ask", "max_tokens", "expected"),
    [
        (Ask("low", 2048), 4096, (2048, 4096)),
        (Ask("minimal", 100), 4096, (1024, 4096)),  # Anthropic's floor
        (Ask("medium", -1), 20000, (8192, 20000)),  # dynamic: the DYNAMIC_EFFORT row
        (Ask("low", 2048), 5, (2048, 2053)),  # the limit grows by the budget: the answer keeps its room
        (Ask("low", 2048), 2048, (2048, 4096)),  # budget must be strictly below max_tokens
    ],
)
def test_anthropic_thinking_keeps_anthropics_rules(ask, max_tokens, expected) -> None:
    budget, limit = reasoning.anthropic_thinking(ask, max_tokens)
    assert (budget, limit) == expected
    assert reasoning.ANTHROPIC_MIN_BUDGET <= budget < limit
