"""Spend caps reserved through leases (docs/balance-leases.md, "Spend caps per key").

A key's spend counts against its own caps and those of every key above it: the key that
created it (a user key calling ``CreateKey``) or the key it replaced (``RotateKey``), and
so on up. ``key_spend`` therefore holds, for each capped key, what it and every key below
it spent in a UTC day (``d<day number>``) and month (``m<year*12+month-1>``).

A capped key's lease records the capped keys its grant was checked against
(``leases.cap_keys``). A grant fits within every one of them:

    cap − spent this period − what live leases counted against that key still reserve

so granted money, like balance, is never promised twice. These functions run inside the
store's lease and debit transactions, which hold the account's lock (every key of a chain
belongs to one account).
"""

from __future__ import annotations

from dataclasses import dataclass

from tollgate.errors import NotFound
from tollgate.periods import day_number, month_number

_CHAIN = (
    "WITH RECURSIVE chain(id, parent, account_id, cap_day, cap_month, member_id, team_id) AS ("
    " SELECT id, parent_key_id, account_id, spend_cap_day_micros, spend_cap_month_micros, member_id, team_id FROM api_keys WHERE id = ?"
    " UNION SELECT k.id, k.parent_key_id, k.account_id, k.spend_cap_day_micros, k.spend_cap_month_micros, k.member_id, k.team_id"
    " FROM api_keys k JOIN chain c ON k.id = c.parent)"
    " SELECT id, account_id, cap_day, cap_month, member_id, team_id FROM chain"
)
BUDGET_SCOPES = ("member", "team")


@dataclass(frozen=True, slots=True)
class Cap:
    key_id: str
    day_micros: int  # 0 = no cap
    month_micros: int


def periods(day: int, month: int) -> tuple[str, str]:
    return f"d{day}", f"m{month}"


def budget_id(scope: str, account_id: str, subject_id: str) -> str:
    """The id a member's or team's budget counts its spend and reservations under (in
    ``key_spend`` and ``leases.cap_keys``, beside capped keys' ids)."""
    return f"{scope}:{account_id}:{subject_id}"


def is_budget(cap_key: str) -> bool:
    return cap_key.startswith(tuple(f"{scope}:" for scope in BUDGET_SCOPES))


def capped_chain(db, key_id: str, account_id: str = "") -> list[Cap]:
    """The caps a request on ``key_id`` must fit in: its own and its ancestors', capped ones
    only, then the budgets of the members and teams those keys belong to. With
    ``account_id``, the key must belong to that account (else 404)."""
    rows = list(db.execute(_CHAIN, (key_id,)))
    if account_id and not any(r[0] == key_id and r[1] == account_id for r in rows):
        raise NotFound(f"no key {key_id!r} in account {account_id!r}")
    chain = [Cap(r[0], int(r[2]), int(r[3])) for r in rows if r[2] or r[3]]
    for scope, owner_account, subject in _owners(rows):
        found = db.execute(
            "SELECT day_micros, month_micros FROM budgets WHERE account_id = ? AND scope = ? AND subject_id = ?",
            (owner_account, scope, subject),
        ).fetchone()
        if found and (found[0] or found[1]):
            chain.append(Cap(budget_id(scope, owner_account, subject), int(found[0]), int(found[1])))
    return chain


def _owners(rows) -> list[tuple[str, str, str]]:
    """(scope, account, member or team id) of every member and team the chain's keys belong to."""
    return sorted({(scope, r[1], subject) for r in rows for scope, subject in zip(BUDGET_SCOPES, (r[4], r[5]), strict=True) if subject})


def add_spend(db, key_id: str, cost: int, day: int, month: int) -> None:
    """Count a debit against the key, every capped key above it and every member and team
    those keys belong to (in the debit's transaction). Members' and teams' spend is counted
    whether or not they have a budget yet, so a budget set mid-period sees what was spent."""
    rows = list(db.execute(_CHAIN, (key_id,)))
    targets = {key_id, *(r[0] for r in rows if r[2] or r[3]), *(budget_id(*owner) for owner in _owners(rows))}
    for target in sorted(targets):
        for period in periods(day, month):
            db.execute(
                "INSERT INTO key_spend (key_id, period, micros) VALUES (?, ?, ?) "
                "ON CONFLICT (key_id, period) DO UPDATE SET micros = key_spend.micros + excluded.micros",
                (target, period, cost),
            )


def reservation(granted: int, debited: int, spent: int) -> int:
    """What one lease holds back: open (spent < 0), granted − debited; returned, reported
    spent − debited; never below zero."""
    return max((granted if spent < 0 else spent) - debited, 0)


def room(db, account_id: str, chain: list[Cap], now: int, day: int, month: int) -> int:
    """What ``chain``'s caps still allow: for each cap, cap − spent − reserved under it."""
    reserved: dict[str, int] = {cap.key_id: 0 for cap in chain}
    rows = db.execute(
        "SELECT granted_micros, debited_micros, spent_micros, cap_keys FROM leases WHERE account_id = ? AND cap_keys <> '' AND "
        "expires_at_ms > ?",
        (account_id, now),
    )
    for granted, debited, spent, cap_keys in rows:
        held = reservation(granted, debited, spent)
        for key_id in cap_keys.split("\n"):
            if key_id in reserved:
                reserved[key_id] += held
    day_p, month_p = periods(day, month)
    least = None
    for cap in chain:
        spent = dict(db.execute("SELECT period, micros FROM key_spend WHERE key_id = ? AND period IN (?, ?)", (cap.key_id, day_p, month_p)))
        for limit, period in ((cap.day_micros, day_p), (cap.month_micros, month_p)):
            if limit:
                left = limit - int(spent.get(period, 0)) - reserved[cap.key_id]
                least = left if least is None else min(least, left)
    return max(least or 0, 0)


def budget_binds(db, account_id: str, chain: list[Cap], now: int, least: int) -> bool:
    """Whether ``least`` (what the whole chain allows) comes from a member's or team's budget
    rather than a key's own cap: the grant's refusal then says "budget"."""
    budgets = [cap for cap in chain if is_budget(cap.key_id)]
    if not budgets:
        return False
    return room(db, account_id, budgets, now, day_number(now), month_number(now)) <= least
