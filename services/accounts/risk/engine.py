"""The risk engine: its own durable JetStream consumer (``accounts-risk``) over the usage
stream, plus a core-NATS subscription to the edges' auth failures, feeding the rules'
windows (``windows.py``); a rule that trips acts through ``Enforcer``.

- Only events at most ``FRESH_S`` old are judged: a consumer catching up after downtime
  (or a new durable) never suspends anyone for old traffic. A new durable starts at new
  messages, not at the stream's 7 days.
- A rule acts at most once per subject within its ``cooldown_s``; ``suspend`` skips an
  account that is not active.
- Every action is a record (``RiskStore.act``); status and throttle changes reach every edge
  as ``AccountStatusChanged`` notices through the accounts outbox (docs/control-notices.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Final

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from services.accounts.notices import Notifier
from services.accounts.risk import windows
from services.accounts.risk.rules import RulesFile, RulesWatcher
from services.accounts.risk.store import Outcome, Policy, RiskStore
from services.accounts.risk.tickets import Recent, metadata
from tollgate import events
from tollgate.consume import ack_batch, pull_loop
from tollgate.telemetry import Log

DURABLE: Final = "accounts-risk"
FRESH_S: Final = 600
PURGE_S: Final = 60.0
WAITING_S: Final = 2.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def policy_of(rules_file: RulesFile) -> Policy:
    d = rules_file.deactivation
    return Policy(deactivate_after=d.records, period_ms=d.period_s * 1000, counted=tuple(d.actions))


class Enforcer:
    """Turns trips into records and status changes, and tells the edges."""

    def __init__(self, store: RiskStore, notifier: Notifier, log: Log):
        self._store = store
        self._notify = notifier
        self._log = log
        self._cooldown: dict[tuple[str, str], int] = {}  # (rule, subject) -> no action before (ms)

    async def trip(self, rule, trip: windows.Trip, policy: Policy) -> Outcome | None:
        now = now_ms()
        key = (rule.name, trip.subject)
        if self._cooldown.get(key, 0) > now:
            return None
        if len(self._cooldown) > 100_000:
            self._cooldown = {k: v for k, v in self._cooldown.items() if v > now}
        self._cooldown[key] = now + rule.cooldown_s * 1000
        if not trip.account_id:  # an address: a warning record only (rules.AuthFailures.check)
            await self._store.note(trip.subject, rule.name, rule.action, trip.reason, trip.figures)
            self._log.warning("risk rule tripped", rule=rule.name, subject=trip.subject, action=rule.action)
            return None
        account = await self._store.account(trip.account_id)
        if account is None or (rule.action == "suspend" and account.status != "active"):
            return None
        reason = f"risk rule {rule.name}: {trip.reason}"
        outcome = await self.act(
            trip.account_id, rule.name, rule.action, reason, trip.figures, policy, (rule.throttle_rpm, rule.throttle_s)
        )
        self._log.warning("risk rule tripped", rule=rule.name, account_id=trip.account_id, action=rule.action)
        return outcome

    async def act(self, account_id, rule_name, action, reason, figures, policy: Policy, throttle=(0, 0)) -> Outcome | None:
        outcome = await self._store.act(account_id, rule_name, action, reason, figures, policy, throttle=throttle)
        if outcome is not None and outcome.changed:
            await self.announce(outcome.account)
        return outcome

    async def announce(self, account) -> None:
        throttled = account.throttle_until_ms > now_ms()
        await self._notify.publish(
            events.ACCOUNT_STATUS_SUBJECT,
            events.AccountStatusChanged(
                account_id=account.id,
                status=account.status,
                reason=account.status_reason,
                throttle_rpm=account.throttle_rpm if throttled else 0,
                throttle_until_ms=account.throttle_until_ms if throttled else 0,
            ),
        )


class Engine:
    def __init__(self, js: JetStreamContext, nc, store: RiskStore, enforcer: Enforcer, watcher: RulesWatcher, log: Log):
        self._js, self._nc = js, nc
        self._store = store
        self.enforcer = enforcer
        self.watcher = watcher
        self._log = log
        self._rules: dict[str, tuple[object, windows.Evaluator]] = {}
        tickets = watcher.current.tickets
        self.recent = Recent(tickets.lookback_s, tickets.max_recent)
        self.waiting: set[str] = set()  # request ids tickets name whose event has not been seen
        self._waiting_read_ms = 0  # re-read from the store every WAITING_S (tickets opened through another replica)
        self.judged = 0

    def _evaluators(self) -> list[tuple[object, windows.Evaluator]]:
        """The rules in force; a rule unchanged by a reload keeps its windows."""
        current = self.watcher.current
        kept = {}
        for rule in current.rules:
            old = self._rules.get(rule.name)
            kept[rule.name] = old if old is not None and old[0] == rule else (rule, windows.evaluators([rule])[0])
        self._rules = kept
        t = current.tickets
        self.recent.configure(t.lookback_s, t.max_recent)
        return list(kept.values())

    async def usage(self, batch: list[events.UsageEvent]) -> None:
        evaluators = self._evaluators()
        policy = policy_of(self.watcher.current)
        now = now_ms()
        if now - self._waiting_read_ms > WAITING_S * 1000:
            self.waiting = await self._store.waiting(now)  # the tickets in force: expired ones drop out
            self._waiting_read_ms = now
        for event in batch:
            self.recent.add(event, now)
            if event.request_id in self.waiting and await self._store.fill(event.request_id, event.account_id, _json(event)):
                self.waiting.discard(event.request_id)
            if event.occurred_at_ms < now - FRESH_S * 1000:
                continue
            self.judged += 1
            for rule, evaluator in evaluators:
                trip = evaluator.usage(event)
                if trip is not None:
                    await self.enforcer.trip(rule, trip, policy)

    def forget(self, account_id: str) -> None:
        """The account was reactivated: its windows start afresh."""
        for _, evaluator in self._rules.values():
            evaluator.forget(account_id)

    async def auth_failed(self, event: events.AuthFailed) -> None:
        if event.occurred_at_ms < now_ms() - FRESH_S * 1000:
            return
        policy = policy_of(self.watcher.current)
        for rule, evaluator in self._evaluators():
            trip = evaluator.auth_failed(event)
            if trip is not None:
                await self.enforcer.trip(rule, trip, policy)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume the usage stream until ``stop``."""
        while not stop.is_set():  # NATS or JetStream may not answer yet at start-up
            try:
                self.waiting = await self._store.waiting(now_ms())
                await self._ensure_consumer()
                break
            except Exception as exc:
                self._log.warning("risk consumer not ready; retrying", error=type(exc).__name__)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        if stop.is_set():
            return
        await self._consume(stop)

    async def _ensure_consumer(self) -> None:
        try:
            await self._js.consumer_info(events.USAGE_STREAM, DURABLE)
        except NotFoundError:
            config = ConsumerConfig(
                durable_name=DURABLE,
                name=DURABLE,
                filter_subject=events.USAGE_SUBJECTS,
                deliver_policy=DeliverPolicy.NEW,  # not the stream's 7 days of history
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30.0,
                max_ack_pending=50_000,
            )
            await self._js.add_consumer(events.USAGE_STREAM, config=config)

    async def _consume(self, stop: asyncio.Event) -> None:
        async def handle(batch: list) -> None:
            try:
                await self.usage([event for _, event in batch])
            except Exception as exc:  # judged again on redelivery; a record is never written twice within a cooldown
                self._log.error("risk engine failed on a batch; will retry", error=type(exc).__name__)
                for msg in {id(m): m for m, _ in batch}.values():
                    await msg.nak(delay=1.0)
                return
            await ack_batch([msg for msg, _ in batch])

        await pull_loop(
            stop,
            self._js,
            durable=DURABLE,
            subject=events.USAGE_SUBJECTS,
            stream=events.USAGE_STREAM,
            handle=handle,
            log=self._log,
            batch=256,
            wait_s=1.0,
        )

    async def listen(self, stop: asyncio.Event) -> None:
        """Auth failures from the edges (core NATS: a lost one only weakens a rule)."""

        async def on_msg(msg) -> None:
            try:
                await self.auth_failed(events.decode(msg.subject, msg.data))
            except Exception as exc:
                self._log.warning("bad auth-failure event", error=type(exc).__name__)

        sub = await self._nc.subscribe(events.AUTH_FAILED_SUBJECT, cb=on_msg)
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def housekeeping(self, stop: asyncio.Event) -> None:
        """Delete tickets' metadata past its keep time; forget what the lookback no longer covers."""
        while not stop.is_set():
            try:
                purged = await self._store.purge(now_ms())
                if purged:
                    self._log.info("ticket diagnostics expired", requests=purged)
                self.recent.expire(now_ms())
            except Exception as exc:
                self._log.warning("ticket purge failed", error=type(exc).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), PURGE_S)


def _json(event: events.UsageEvent) -> str:
    return json.dumps(metadata(event))
