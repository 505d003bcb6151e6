"""Bounded sliding windows, one evaluator per rule kind (``EVALUATORS``, a registry).

An evaluator sees the events of the usage stream (and auth failures) in order and says when
its rule trips for a subject (an account, or an address): a ``Trip`` with the figures it
measured. Memory is bounded: at most ``MAX_SUBJECTS`` subjects per rule (the least recently
seen go first), and per subject only what its window (or history) needs.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Generic, TypeVar

from services.accounts.risk import rules
from tollgate import events

MAX_SUBJECTS: Final = 100_000
MAX_PER_WINDOW: Final = 100_000  # timestamps kept per subject: beyond any threshold worth setting


@dataclass(frozen=True, slots=True)
class Trip:
    account_id: str  # "" for an address
    subject: str  # the account id, or "address:<ip>"
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


S = TypeVar("S")


class Subjects(Generic[S]):
    """Per-subject state, least recently used first out beyond ``limit``."""

    def __init__(self, factory, limit: int = MAX_SUBJECTS):
        self._items: OrderedDict[str, S] = OrderedDict()
        self._factory = factory
        self._limit = limit

    def get(self, subject: str) -> S:
        item = self._items.get(subject)
        if item is None:
            item = self._items[subject] = self._factory()
            if len(self._items) > self._limit:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(subject)
        return item

    def forget(self, subject: str) -> None:
        self._items.pop(subject, None)

    def __len__(self) -> int:
        return len(self._items)


def _trim(times: deque, now_ms: int, window_ms: int) -> None:
    while times and times[0] <= now_ms - window_ms:
        times.popleft()


class Evaluator:
    kind: ClassVar[str]

    def __init__(self, rule: Any):
        self.rule = rule

    def usage(self, event: events.UsageEvent) -> Trip | None:
        return None

    def forget(self, account_id: str) -> None:
        """Start the account's windows afresh (an admin reactivated it: what came before is judged)."""
        for value in vars(self).values():
            if isinstance(value, Subjects):
                value.forget(account_id)

    def auth_failed(self, event: events.AuthFailed) -> Trip | None:
        return None


class SensitiveRpm(Evaluator):
    kind = "sensitive_rpm"

    def __init__(self, rule: rules.SensitiveRpm):
        super().__init__(rule)
        self._times: Subjects[deque[int]] = Subjects(lambda: deque(maxlen=MAX_PER_WINDOW))

    def usage(self, event: events.UsageEvent) -> Trip | None:
        if event.sensitivity != "high":
            return None
        times = self._times.get(event.account_id)
        times.append(event.occurred_at_ms)
        _trim(times, event.occurred_at_ms, self.rule.window_s * 1000)
        if len(times) <= self.rule.threshold:
            return None
        figures = {"requests": len(times), "window_s": self.rule.window_s, "threshold": self.rule.threshold, "model": event.model_served}
        reason = f"{len(times)} requests in {self.rule.window_s} s on high-sensitivity models (limit {self.rule.threshold})"
        return Trip(event.account_id, event.account_id, reason, figures)


class ErrorRate(Evaluator):
    kind = "error_rate"

    def __init__(self, rule: rules.ErrorRate):
        super().__init__(rule)
        self._seen: Subjects[deque[tuple[int, bool]]] = Subjects(lambda: deque(maxlen=MAX_PER_WINDOW))

    def usage(self, event: events.UsageEvent) -> Trip | None:
        seen = self._seen.get(event.account_id)
        seen.append((event.occurred_at_ms, event.status >= 400))
        horizon = event.occurred_at_ms - self.rule.window_s * 1000
        while seen and seen[0][0] <= horizon:
            seen.popleft()
        total = len(seen)
        if total < self.rule.min_requests:
            return None
        failed = sum(1 for _, bad in seen if bad)
        if failed / total <= self.rule.threshold:
            return None
        figures = {"requests": total, "failed": failed, "rate": round(failed / total, 4), "threshold": self.rule.threshold}
        reason = f"{failed} of {total} requests in {self.rule.window_s} s failed (over {self.rule.threshold:.0%})"
        return Trip(event.account_id, event.account_id, reason, figures)


class _Spend:
    __slots__ = ("buckets",)

    def __init__(self):
        self.buckets: OrderedDict[int, int] = OrderedDict()  # window number -> micro-USD


class SpendVelocity(Evaluator):
    """The account's spend per window (bucketed by event time) against its own mean per window
    over the history: only buckets since its first one count, so a new account has no history."""

    kind = "spend_velocity"

    def __init__(self, rule: rules.SpendVelocity):
        super().__init__(rule)
        self._spend: Subjects[_Spend] = Subjects(_Spend)

    def usage(self, event: events.UsageEvent) -> Trip | None:
        if event.cost_micros <= 0:
            return None
        window_ms = self.rule.window_s * 1000
        bucket = event.occurred_at_ms // window_ms
        spend = self._spend.get(event.account_id)
        spend.buckets[bucket] = spend.buckets.get(bucket, 0) + event.cost_micros
        oldest = bucket - self.rule.history_s // self.rule.window_s
        while spend.buckets and next(iter(spend.buckets)) < oldest:
            spend.buckets.popitem(last=False)
        first = min(spend.buckets)
        past_windows = bucket - first  # complete windows since the first one seen (empty ones count as 0)
        if past_windows < self.rule.min_history:
            return None
        current = spend.buckets[bucket]
        mean = sum(v for b, v in spend.buckets.items() if b < bucket) / past_windows
        if current < self.rule.min_spend_micros or current <= self.rule.factor * mean:
            return None
        figures = {"spend_micros": current, "mean_micros": int(mean), "factor": self.rule.factor, "history_windows": past_windows}
        reason = f"spent ${current / 1e6:.2f} in {self.rule.window_s} s, over {self.rule.factor:g}x its average ${mean / 1e6:.2f}"
        return Trip(event.account_id, event.account_id, reason, figures)


class AuthFailures(Evaluator):
    kind = "auth_failures"

    def __init__(self, rule: rules.AuthFailures):
        super().__init__(rule)
        self._times: Subjects[deque[int]] = Subjects(lambda: deque(maxlen=MAX_PER_WINDOW))

    def auth_failed(self, event: events.AuthFailed) -> Trip | None:
        if self.rule.per == "account":
            if not event.account_id:
                return None
            subject, account_id = event.account_id, event.account_id
        else:
            if not event.address:
                return None
            subject, account_id = f"address:{event.address}", ""
        times = self._times.get(subject)
        times.append(event.occurred_at_ms)
        _trim(times, event.occurred_at_ms, self.rule.window_s * 1000)
        if len(times) <= self.rule.threshold:
            return None
        figures = {"failures": len(times), "window_s": self.rule.window_s, "threshold": self.rule.threshold, "per": self.rule.per}
        reason = f"{len(times)} failed authentications in {self.rule.window_s} s ({subject})"
        return Trip(account_id, subject, reason, figures)


EVALUATORS: Final[dict[str, type[Evaluator]]] = {e.kind: e for e in (SensitiveRpm, ErrorRate, SpendVelocity, AuthFailures)}


def evaluators(rule_set: list) -> list[Evaluator]:
    return [EVALUATORS[rules.kind_of(rule)](rule) for rule in rule_set]
