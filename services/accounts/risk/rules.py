"""Risk rules as data: a TOML file (``TOLLGATE_RISK_RULES``, default ``<data_dir>/risk.toml``),
validated here and hot-reloaded by ``RulesWatcher`` like the router's catalog: a file that
does not validate is logged and ignored (the rules in force stay); a missing file = no rules.

    [deactivation]            # N records within a period -> permanent deactivation
    records = 3               # 0 = never
    period_s = 2592000
    actions = ["suspend"]     # which records count

    [tickets]
    keep_s = 1209600          # how long a ticket's requests keep their technical metadata
    lookback_s = 1800         # how far back a new ticket can name requests (kept in memory only)

    [[rules]]
    name = "sensitive-burst"
    kind = "sensitive_rpm"    # sensitive_rpm | error_rate | spend_velocity | auth_failures
    ...                       # the kind's own fields (below)
    action = "suspend"        # warn | throttle | suspend
    throttle_rpm = 10         # throttle: the account's limit ...
    throttle_s = 600          # ... for this long
    cooldown_s = 600          # the rule acts at most once per account in this long
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tomllib
from pathlib import Path
from typing import Final

import msgspec

from tollgate.telemetry import Log

ACTIONS: Final = ("warn", "throttle", "suspend")
POLL_S: Final = 0.25


class RulesError(ValueError):
    """The rules file is not usable; the message says where and why."""


class Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="kind"):
    name: str
    action: str = "warn"
    throttle_rpm: int = 0
    throttle_s: int = 600
    cooldown_s: int = 600
    window_s: int = 60

    def check(self) -> None:
        """Kind-specific checks (raise RulesError)."""

    def describe(self) -> str:
        raise NotImplementedError


class SensitiveRpm(Base, frozen=True, tag="sensitive_rpm"):
    """More than ``threshold`` requests in ``window_s`` by one account on models the catalog
    marks ``sensitivity = "high"``."""

    threshold: int

    def check(self) -> None:
        _positive(self, "threshold", self.threshold)

    def describe(self) -> str:
        return f"more than {self.threshold} requests in {self.window_s} s on high-sensitivity models"


class ErrorRate(Base, frozen=True, tag="error_rate"):
    """At least ``min_requests`` in ``window_s`` and more than ``threshold`` (a fraction) of
    them failed (status >= 400, or the statuses listed)."""

    threshold: float
    min_requests: int = 20

    def check(self) -> None:
        if not 0 < self.threshold < 1:
            raise RulesError(f"rule {self.name!r}: threshold must be a fraction between 0 and 1")
        _positive(self, "min_requests", self.min_requests)

    def describe(self) -> str:
        return f"more than {self.threshold:.0%} of at least {self.min_requests} requests in {self.window_s} s failed"


class SpendVelocity(Base, frozen=True, tag="spend_velocity"):
    """Spend in the current ``window_s`` above ``factor`` x the account's own average per
    window over the last ``history_s`` (once ``min_history`` windows are known), and at
    least ``min_spend_micros``."""

    factor: float
    history_s: int = 7 * 86_400
    min_history: int = 3
    min_spend_micros: int = 1_000_000

    def check(self) -> None:
        if self.factor <= 1:
            raise RulesError(f"rule {self.name!r}: factor must be above 1")
        if self.history_s < self.window_s * 2 or self.history_s // self.window_s > 10_000:
            raise RulesError(f"rule {self.name!r}: history_s must hold 2 to 10000 windows of window_s")
        _positive(self, "min_history", self.min_history)

    def describe(self) -> str:
        return (
            f"spend in {self.window_s} s above {self.factor:g}x the account's average over {self.history_s} s "
            f"(at least ${self.min_spend_micros / 1e6:.2f})"
        )


class AuthFailures(Base, frozen=True, tag="auth_failures"):
    """More than ``threshold`` failed authentications in ``window_s`` from one address
    (``per = "address"``: only ``warn``, there is no account to act on) or with keys of one
    account (``per = "account"``: expired or revoked keys the edge still knows)."""

    threshold: int
    per: str = "address"

    def check(self) -> None:
        _positive(self, "threshold", self.threshold)
        if self.per not in ("address", "account"):
            raise RulesError(f"rule {self.name!r}: per must be 'address' or 'account'")
        if self.per == "address" and self.action != "warn":
            raise RulesError(f"rule {self.name!r}: a rule per address can only warn (no account to throttle or suspend)")

    def describe(self) -> str:
        return f"more than {self.threshold} failed authentications in {self.window_s} s per {self.per}"


Rule = SensitiveRpm | ErrorRate | SpendVelocity | AuthFailures
KINDS: Final[dict[str, type[Base]]] = {
    str(cls.__struct_config__.tag): cls for cls in (SensitiveRpm, ErrorRate, SpendVelocity, AuthFailures)
}


def kind_of(rule: Base) -> str:
    return str(rule.__struct_config__.tag)


class Deactivation(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    records: int = 3
    period_s: int = 30 * 86_400
    actions: list[str] = msgspec.field(default_factory=lambda: ["suspend"])


class Tickets(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    keep_s: int = 14 * 86_400
    lookback_s: int = 1800
    max_recent: int = 100_000  # requests whose metadata is kept in memory for lookback_s


class RulesFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    rules: list[Rule] = []
    deactivation: Deactivation = Deactivation()
    tickets: Tickets = Tickets()


def _positive(rule: Base, field: str, value: float) -> None:
    if value <= 0:
        raise RulesError(f"rule {rule.name!r}: {field} must be positive")


def _check_rule(rule: Base) -> None:
    if not rule.name.strip() or len(rule.name) > 100:
        raise RulesError("every rule needs a name of 1 to 100 characters")
    if rule.action not in ACTIONS:
        raise RulesError(f"rule {rule.name!r}: action must be one of {', '.join(ACTIONS)}")
    if rule.action == "throttle" and (rule.throttle_rpm <= 0 or rule.throttle_s <= 0):
        raise RulesError(f"rule {rule.name!r}: a throttle needs throttle_rpm and throttle_s above 0")
    if not 1 <= rule.window_s <= 86_400:
        raise RulesError(f"rule {rule.name!r}: window_s must be between 1 and 86400")
    if rule.cooldown_s < 0:
        raise RulesError(f"rule {rule.name!r}: cooldown_s cannot be negative")
    rule.check()


def parse(data: bytes) -> RulesFile:
    """The rules in ``data`` (TOML), validated; RulesError says what is wrong."""
    try:
        raw = tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"not valid TOML: {exc}") from None
    try:
        parsed = msgspec.convert(raw, RulesFile)
    except msgspec.ValidationError as exc:
        raise RulesError(f"{exc} (rule kinds: {', '.join(KINDS)})") from None
    names = [r.name for r in parsed.rules]
    if len(set(names)) != len(names):
        raise RulesError("rule names must be unique")
    for rule in parsed.rules:
        _check_rule(rule)
    d = parsed.deactivation
    if d.records < 0 or d.period_s <= 0:
        raise RulesError("deactivation: records must be >= 0 (0 = never) and period_s positive")
    bad = sorted(set(d.actions) - set(ACTIONS))
    if bad:
        raise RulesError(f"deactivation.actions: unknown actions {', '.join(bad)}")
    t = parsed.tickets
    if t.keep_s <= 0 or t.lookback_s < 0 or t.max_recent < 0:
        raise RulesError("tickets: keep_s must be positive, lookback_s and max_recent not negative")
    return parsed


def load(path: Path) -> RulesFile:
    """The file's rules; no file = no rules (the defaults for deactivation and tickets)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return RulesFile()
    except OSError as exc:
        raise RulesError(f"cannot read {path}: {exc}") from None
    try:
        return parse(data)
    except RulesError as exc:
        raise RulesError(f"{path}: {exc}") from None


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class RulesWatcher:
    """The rules in force (``current``), reloaded when the file's content changes."""

    def __init__(self, path: Path, log: Log):
        self.path = path
        self._log = log
        self.error = ""
        self._seen = _digest(path)
        try:
            self.current = load(path)
        except RulesError as exc:
            self.error = str(exc)
            self.current = RulesFile()
            log.error("risk rules not loaded; running without rules", error=self.error)

    def check(self) -> bool:
        """Reload if the file changed; True when new rules are in force."""
        seen = _digest(self.path)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            self.current = load(self.path)
        except RulesError as exc:
            self.error = str(exc)
            self._log.error("risk rules reload failed; the previous rules stay in force", error=self.error)
            return False
        self.error = ""
        self._log.info("risk rules loaded", rules=len(self.current.rules), path=str(self.path))
        return True

    async def run(self, stop: asyncio.Event, poll_s: float = POLL_S) -> None:
        while not stop.is_set():
            try:
                self.check()
            except Exception as exc:  # never let the watcher die
                self._log.error("risk rules watcher error", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
