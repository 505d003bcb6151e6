"""The one reasoning map: OpenAI ``reasoning_effort`` <-> a thinking budget in tokens
(Anthropic ``thinking.budget_tokens``, Gemini ``thinkingConfig.thinkingBudget``).

Every door reads its client's reasoning control into the canonical request
(``reasoning_effort`` and, when the client named a number, ``reasoning_budget``) and every
adapter writes its upstream's control from there, through this module only: ``EFFORT_BUDGETS``
is the table (documented in docs/reasoning.md), the functions below read it both ways.

A budget is a token count, ``0`` for "do not reason" and ``DYNAMIC`` (-1, Gemini's value)
for "the model decides". An adapter that needs a budget prefers the client's own number
(``reasoning_budget``) over the effort's row; one that needs an effort prefers the
client's effort over the budget's row.
"""

from __future__ import annotations

import msgspec

from tollgate.errors import BadRequest

__all__ = [
    "ANTHROPIC_MIN_BUDGET",
    "DYNAMIC",
    "DYNAMIC_EFFORT",
    "EFFORT_BUDGETS",
    "MAX_BUDGET",
    "TRANSLATED_SIGNATURE",
    "Ask",
    "anthropic_thinking",
    "budget_for",
    "check_effort",
    "effort_for",
    "requested",
]

# effort -> thinking budget (tokens). Ordered: a budget maps back to the first effort
# whose budget is at least as large (beyond the last but one row: "high").
EFFORT_BUDGETS: dict[str, int] = {
    "none": 0,
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
}
DYNAMIC = -1  # "the model decides" (Gemini thinkingBudget -1, Anthropic adaptive thinking)
DYNAMIC_EFFORT = "medium"  # what a dynamic budget reads as where an effort or a number is needed
ANTHROPIC_MIN_BUDGET = 1024  # Anthropic refuses a smaller budget_tokens
MAX_BUDGET = 1_000_000  # above any model's output limit: a larger budget is a 400, never sent on

# The signature of a thinking block the Anthropic door renders from another protocol's
# reasoning (there is no Anthropic signature to give). The Anthropic adapter never sends a
# block carrying it to an Anthropic upstream, which would refuse it.
TRANSLATED_SIGNATURE = "tollgate-translated"

# Budget -> effort stops at "high": "xhigh" is only ever asked for by name.
_BY_BUDGET = [(budget, effort) for effort, budget in EFFORT_BUDGETS.items() if effort not in ("none", "xhigh")]


class Ask(msgspec.Struct, frozen=True):
    """What a request asks for: an effort from the table and a budget (0 = off, -1 = dynamic)."""

    effort: str
    budget: int

    @property
    def on(self) -> bool:
        return self.budget != 0


def check_effort(value: object) -> str:
    """A client's effort name (any case) as the table's key; anything else is a 400."""
    effort = value.lower() if isinstance(value, str) else None
    if effort not in EFFORT_BUDGETS:
        raise BadRequest(f"reasoning_effort: must be one of {', '.join(EFFORT_BUDGETS)}", code="invalid_reasoning_effort")
    return effort


def effort_for(budget: int) -> str:
    """A thinking budget as an effort: 0 is "none", dynamic is ``DYNAMIC_EFFORT``, a number
    is the first effort whose budget covers it ("high" beyond)."""
    if budget == 0:
        return "none"
    if budget < 0:
        return DYNAMIC_EFFORT
    for limit, effort in _BY_BUDGET:
        if budget <= limit:
            return effort
    return "high"


def budget_for(effort: str) -> int:
    return EFFORT_BUDGETS[check_effort(effort)]


def requested(effort: object, budget: object) -> Ask | None:
    """A canonical request's ``reasoning_effort`` / ``reasoning_budget`` as one Ask (None
    when it asks for nothing). An explicit budget wins for its number; an explicit effort
    wins for its name. A budget above ``MAX_BUDGET`` or an unknown effort is a 400."""
    number = max(budget, DYNAMIC) if isinstance(budget, int) and not isinstance(budget, bool) else None
    if number is not None and number > MAX_BUDGET:
        raise BadRequest(f"reasoning budget: at most {MAX_BUDGET:,} tokens", code="invalid_reasoning_budget")
    if effort is None or effort is msgspec.UNSET or effort == "":
        return None if number is None else Ask(effort_for(number), number)
    name = check_effort(effort)
    return Ask(name, EFFORT_BUDGETS[name] if number is None else number)


def anthropic_thinking(ask: Ask, max_tokens: int) -> tuple[int, int]:
    """(budget_tokens, max_tokens) that Anthropic accepts for ``ask`` (which must be on):
    a dynamic budget reads as ``DYNAMIC_EFFORT``'s, a budget is at least 1024, and when it is
    not below ``max_tokens`` the limit grows to budget + ``max_tokens`` (thinking counts
    against Anthropic's max_tokens; the answer keeps the room the client asked for)."""
    budget = EFFORT_BUDGETS[DYNAMIC_EFFORT] if ask.budget < 0 else ask.budget
    budget = max(budget, ANTHROPIC_MIN_BUDGET)
    if budget >= max_tokens:
        max_tokens = budget + max_tokens
    return budget, max_tokens
