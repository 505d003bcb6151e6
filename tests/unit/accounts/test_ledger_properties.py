"""Property tests: any interleaving of top-ups, debits, adjustments and duplicate
deliveries keeps balance = ledger sum and applies every reference exactly once,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.accounts.store import SqlStore

KINDS = {"topup": 1, "usage": -1, "adjustment": 1}

operation = st.one_of(
    st.tuples(st.sampled_from(sorted(KINDS)), st.integers(min_value=1, max_value=5_000_000), st.integers(0, 30)),
    st.tuples(st.just("replay"), st.integers(0, 40), st.just(0)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=40), concurrent=st.booleans())
def test_balance_is_the_ledger_sum_and_nothing_applies_twice(accounts_db, ops, concurrent):
    store = SqlStore(accounts_db)
    try:
        asyncio.run(_check(store, ops, concurrent))
    finally:
        store.close()


async def _check(store: SqlStore, ops: list, concurrent: bool) -> None:
    account = await store.create_account("prop", 0)
    entries: list[tuple[str, int, str]] = []  # (kind, signed amount, reference) as delivered
    for kind, amount, ref in ops:
        if kind == "replay":
            if not entries:
                continue
            entries.append(entries[amount % len(entries)])  # a duplicate delivery
            continue
        sign = -1 if kind == "usage" else 1
        if kind == "adjustment" and ref % 2:
            sign = -1  # adjustments go both ways
        # References are unique ledger-wide; the service namespaces them by account.
        entries.append((kind, sign * amount, f"{kind}:{account.id}:{ref}"))

    async def apply(entry):
        return await store.apply(account.id, *entry)

    if concurrent:
        await asyncio.gather(*(apply(e) for e in entries))
    else:
        for e in entries:
            await apply(e)

    first_seen: dict[str, int] = {}
    for _, amount, reference in entries:
        first_seen.setdefault(reference, amount)  # a reference applies once: its first amount wins
    expected = sum(first_seen.values()) if not concurrent else None
    balance = (await store.get_account(account.id)).balance_micros
    assert balance == await store.ledger_sum(account.id)
    if expected is not None:
        assert balance == expected
    else:  # concurrent: which duplicate lands first is a race, but each reference counts once
        amounts = {ref: {a for _, a, r in entries if r == ref} for ref in first_seen}
        assert sum(min(v) for v in amounts.values()) <= balance <= sum(max(v) for v in amounts.values())


# Balance leases: edges that spend only what their leases granted can never overdraw, in
# any interleaving of grants, spends, late or repeated debit deliveries, returns and top-ups.
lease_op = st.one_of(
    st.tuples(st.just("acquire"), st.integers(0, 2), st.integers(1, 3_000)),
    st.tuples(st.just("spend"), st.integers(0, 2), st.integers(1, 3_000)),
    st.tuples(st.just("return"), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("topup"), st.just(0), st.integers(1, 2_000)),
    st.tuples(st.just("deliver"), st.integers(0, 50), st.just(0)),  # a debit reaches the ledger (again, maybe)
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(lease_op, min_size=1, max_size=40))
@example(ops=[("acquire", 0, 3_000), ("spend", 0, 3_000), ("return", 0, 0), ("acquire", 1, 3_000), ("spend", 1, 3_000)])
def test_spending_within_leases_never_overdraws(accounts_db, ops):
    store = SqlStore(accounts_db)
    try:
        asyncio.run(_check_leases(store, ops))
    finally:
        store.close()


async def _check_leases(store: SqlStore, ops: list) -> None:
    account = await store.create_account("leases", 5_000)
    edges: list[dict] = [{"lease": "", "granted": 0, "spent": 0} for _ in range(3)]
    spends: list[tuple[int, str, str]] = []  # (cost, reference, lease) in the order edges spent
    delivered: set[str] = set()
    for op, n, amount in ops:
        edge = edges[n % len(edges)]
        if op == "acquire":
            row = await store.acquire_lease(account.id, edge["lease"], amount, 1, "edge")
            if row.id != edge["lease"]:
                edge.update(lease=row.id, granted=0, spent=0)
            edge["granted"] = row.total_granted
        elif op == "spend" and edge["lease"]:
            cost = min(amount, edge["granted"] - edge["spent"])
            if cost > 0:
                edge["spent"] += cost
                spends.append((cost, f"usage:{len(spends)}", edge["lease"]))
        elif op == "return" and edge["lease"]:
            await store.return_lease(edge["lease"], edge["spent"])
            edge.update(lease="", granted=0, spent=0)
        elif op == "topup":
            await store.apply(account.id, "topup", amount, f"topup:{account.id}:{len(spends)}:{amount}")
        elif op == "deliver" and spends:
            cost, reference, lease = spends[n % len(spends)]
            await store.apply(account.id, "usage", -cost, reference, lease_id=lease)
            delivered.add(reference)
        balance = (await store.get_account(account.id)).balance_micros
        undelivered = sum(cost for cost, reference, _ in spends if reference not in delivered)
        assert balance == await store.ledger_sum(account.id)
        assert balance - undelivered >= 0, "spent more than the account holds"
        assert balance - await store.reserved(account.id) >= 0
