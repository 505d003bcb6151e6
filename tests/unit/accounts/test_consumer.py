"""The ledger consumer's batch path (services.accounts.consumer.debit_batch) on SQLite and
PostgreSQL: a batch of usage events — several of them in one message, as a UsageBatch arrives —
is debited in one transaction, each event once, with one balance notice per (account, key)
and one ack per message."""

from __future__ import annotations

import pytest
import structlog

from services.accounts.consumer import debit_batch
from services.accounts.store import SqlStore, now_ms
from tollgate import events


@pytest.fixture
def store(accounts_db: str):
    s = SqlStore(accounts_db)
    yield s
    s.close()


class Msg:
    def __init__(self):
        self.acks = 0
        self.reply = ""  # no reply subject: ack_batch acks each message through ack()
        self._ackd = False
        self._client = None  # no connection: ack_batch falls back to ack() one by one

    async def ack(self):
        self.acks += 1
        self._ackd = True


class Notifier:
    def __init__(self):
        self.sent: list[events.BalanceChanged] = []

    async def publish(self, subject, event):
        assert subject == events.BALANCE_CHANGED_SUBJECT
        self.sent.append(event)


def usage(rid: str, account: str, cost: int, key: str = "key_1") -> events.UsageEvent:
    return events.UsageEvent(request_id=rid, occurred_at_ms=now_ms(), account_id=account, key_id=key, cost_micros=cost)


async def test_a_batch_is_debited_once_per_event_and_acked_once_per_message(store: SqlStore) -> None:
    a = await store.create_account("a", 10_000)
    b = await store.create_account("b", 5_000)
    one, two = Msg(), Msg()  # two messages: the first carries three events (a UsageBatch)
    batch = [
        (one, usage("r1", a.id, 100)),
        (one, usage("r2", a.id, 250, key="key_2")),
        (one, usage("r1", a.id, 100)),  # the same event twice (a spool replayed into another batch)
        (two, usage("r3", b.id, 40, key="key_3")),
        (two, usage("r4", "acct_missing", 7)),
        (two, usage("r5", b.id, 0)),  # free
    ]
    notifier = Notifier()
    assert await debit_batch(store, notifier, batch, structlog.get_logger(), None)
    assert (one.acks, two.acks) == (1, 1)
    assert (await store.get_account(a.id)).balance_micros == 10_000 - 350
    assert (await store.get_account(b.id)).balance_micros == 5_000 - 40
    assert await store.ledger_sum(a.id) == 10_000 - 350
    latest = {(n.account_id, n.key_id): n for n in notifier.sent}
    assert len(notifier.sent) == len(latest) == 3  # one per (account, key), with the balance after the batch
    assert latest[a.id, "key_1"].balance_micros == latest[a.id, "key_2"].balance_micros == 10_000 - 350
    assert latest[a.id, "key_1"].key_spent_day_micros == 100 and latest[a.id, "key_2"].key_spent_month_micros == 250

    again = Msg()  # the whole batch redelivered: nothing more is debited, nothing announced
    notifier.sent.clear()
    assert await debit_batch(store, notifier, [(again, e) for _, e in batch], structlog.get_logger(), None)
    assert again.acks == 1 and notifier.sent == []
    assert (await store.get_account(a.id)).balance_micros == 10_000 - 350
