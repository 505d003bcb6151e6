"""Budgets per member and per team, and the account's pricing group (issue 17).

A budget bounds what the keys of one member (``api_keys.member_id``) or one team
(``api_keys.team_id``) of an account spend per UTC day and/or month, on top of each key's
own spend caps. It is enforced exactly like a key's cap (``services/accounts/caps.py``): a
key under a budget takes leases of its own, granted only within what the budget leaves
after its spend and every live lease counted against it, so however many edges and
requests run at once the budget is overshot by at most what lapsed leases' holders spent
(docs/balance-leases.md, "Budgets per member and per team"). A budget's spend lives in
``key_spend`` under its id (``caps.budget_id``), added in the ledger's debit transaction.

Setting a budget or a group changes how the edge must treat the account's keys (a key
lease; the group's models and prices), so the keys concerned are announced as updated:
edges drop them from their caches and ask ``Authenticate`` again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.accounts import caps
from services.accounts.access import Access, Caller
from services.accounts.db import Transaction
from services.accounts.notices import Notifier
from services.accounts.store import SqlStore, now_ms
from tollgate import events
from tollgate.errors import BadRequest, Forbidden, NotFound, TollgateError, abort
from tollgate.periods import day_number, month_number
from tollgate.rpc import budgets_pb2 as pb
from tollgate.rpc import budgets_pb2_grpc as pb_grpc

MANAGING_ROLES = ("owner", "admin")  # an organisation's roles that may hand a new key to any member, or to the organisation

GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SUBJECT_ID = re.compile(r"[^\s:]{1,200}")  # identity's member / team ids: opaque, but no ':' (budget ids join with it)
USER_METHODS = frozenset({"ListBudgets"})


@dataclass(frozen=True, slots=True)
class BudgetRow:
    account_id: str
    scope: str
    subject_id: str
    day_micros: int
    month_micros: int
    updated_at_ms: int
    spent_day_micros: int = 0
    spent_month_micros: int = 0
    reserved_micros: int = 0


def _keys_of(db, account_id: str, scope: str = "", subject_id: str = "") -> list[tuple[str, str]]:
    """(id, hash) of the account's keys (of one member or team when ``scope`` is given)."""
    if not scope:
        return list(db.execute("SELECT id, key_hash FROM api_keys WHERE account_id = ?", (account_id,)))
    column = "member_id" if scope == "member" else "team_id"
    return list(db.execute(f"SELECT id, key_hash FROM api_keys WHERE account_id = ? AND {column} = ?", (account_id, subject_id)))


def _account_exists(db, account_id: str) -> bool:
    return db.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone() is not None


def set_budget(db, account_id: str, scope: str, subject_id: str, day: int, month: int) -> tuple[BudgetRow, list[tuple[str, str]]]:
    """Upsert (or, both amounts 0, delete) a budget; the row and the keys it covers."""
    with Transaction(db):
        db.lock_account(account_id)
        if not _account_exists(db, account_id):
            raise NotFound(f"no account {account_id!r}")
        now = now_ms()
        if day or month:
            db.execute(
                "INSERT INTO budgets (account_id, scope, subject_id, day_micros, month_micros, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (account_id, scope, subject_id) DO UPDATE SET day_micros = excluded.day_micros, "
                "month_micros = excluded.month_micros, updated_at_ms = excluded.updated_at_ms",
                (account_id, scope, subject_id, day, month, now),
            )
        else:
            db.execute("DELETE FROM budgets WHERE account_id = ? AND scope = ? AND subject_id = ?", (account_id, scope, subject_id))
        rows = [r for r in _budgets(db, account_id, now) if r.scope == scope and r.subject_id == subject_id]
        row = rows[0] if rows else BudgetRow(account_id, scope, subject_id, 0, 0, now)
        return row, _keys_of(db, account_id, scope, subject_id)


def list_budgets(db, account_id: str) -> list[BudgetRow] | None:
    with Transaction(db):
        if not _account_exists(db, account_id):
            return None
        return _budgets(db, account_id, now_ms())


def _budgets(db, account_id: str, now: int) -> list[BudgetRow]:
    found = list(
        db.execute(
            "SELECT scope, subject_id, day_micros, month_micros, updated_at_ms FROM budgets WHERE account_id = ? "
            "ORDER BY scope, subject_id",
            (account_id,),
        )
    )
    day_p, month_p = caps.periods(day_number(now), month_number(now))
    reserved: dict[str, int] = {}
    for granted, debited, spent, cap_keys in db.execute(
        "SELECT granted_micros, debited_micros, spent_micros, cap_keys FROM leases WHERE account_id = ? AND cap_keys <> '' AND "
        "expires_at_ms > ?",
        (account_id, now),
    ):
        for cap_key in cap_keys.split("\n"):
            reserved[cap_key] = reserved.get(cap_key, 0) + caps.reservation(granted, debited, spent)
    rows = []
    for scope, subject, day, month, updated in found:
        bid = caps.budget_id(scope, account_id, subject)
        spent = dict(db.execute("SELECT period, micros FROM key_spend WHERE key_id = ? AND period IN (?, ?)", (bid, day_p, month_p)))
        rows.append(
            BudgetRow(
                account_id,
                scope,
                subject,
                int(day),
                int(month),
                int(updated),
                int(spent.get(day_p, 0)),
                int(spent.get(month_p, 0)),
                reserved.get(bid, 0),
            )
        )
    return rows


def budget_room(db, key_id: str) -> tuple[bool, int]:
    """Whether budgets bound ``key_id``'s spend, and what they leave now (a hint for the edge)."""
    chain = [cap for cap in caps.capped_chain(db, key_id) if caps.is_budget(cap.key_id)]
    if not chain:
        return False, 0
    account_id = db.execute("SELECT account_id FROM api_keys WHERE id = ?", (key_id,)).fetchone()[0]
    now = now_ms()
    return True, caps.room(db, account_id, chain, now, day_number(now), month_number(now))


def set_group(db, account_id: str, group: str) -> list[tuple[str, str]]:
    with Transaction(db):
        if not _account_exists(db, account_id):
            raise NotFound(f"no account {account_id!r}")
        db.execute("UPDATE accounts SET price_group = ? WHERE id = ?", (group, account_id))
        return _keys_of(db, account_id)


def budget_msg(row: BudgetRow) -> pb.Budget:
    return pb.Budget(
        account_id=row.account_id,
        scope=row.scope,
        subject_id=row.subject_id,
        day_micros=row.day_micros,
        month_micros=row.month_micros,
        spent_day_micros=row.spent_day_micros,
        spent_month_micros=row.spent_month_micros,
        reserved_micros=row.reserved_micros,
        updated_at_ms=row.updated_at_ms,
    )


class BudgetsService(pb_grpc.BudgetsServicer):
    """Served by the accounts process beside ``Accounts`` (same store, access and notices)."""

    def __init__(self, store: SqlStore, notifier: Notifier, access: Access):
        self._store = store
        self._notify = notifier
        self._access = access

    async def _caller(self, context, method: str) -> Caller:
        # A user key may only read its own account's budgets; everything else is the admin's.
        return await self._access.caller(context.invocation_metadata(), "ListKeys" if method in USER_METHODS else method)

    async def SetBudget(self, request: pb.SetBudgetRequest, context) -> pb.Budget:
        try:
            caller = await self._caller(context, "SetBudget")
            if request.scope not in caps.BUDGET_SCOPES:
                raise BadRequest(f"scope must be one of {', '.join(caps.BUDGET_SCOPES)}")
            if not SUBJECT_ID.fullmatch(request.subject_id):
                raise BadRequest("subject_id must be the member's or team's id (1-200 characters, no spaces or ':')")
            if min(request.day_micros, request.month_micros) < 0:
                raise BadRequest("budget amounts cannot be negative")
            account_id = caller.account(request.account_id)
            row, covered = await self._store.run(
                set_budget, account_id, request.scope, request.subject_id, request.day_micros, request.month_micros
            )
            await self._keys_changed(account_id, covered)
            return budget_msg(row)
        except TollgateError as err:
            await abort(context, err)

    async def ListBudgets(self, request: pb.ListBudgetsRequest, context) -> pb.ListBudgetsResponse:
        try:
            caller = await self._caller(context, "ListBudgets")
            account_id = caller.account(request.account_id)
            rows = await self._store.run(list_budgets, account_id)
            if rows is None:
                raise NotFound(f"no account {account_id!r}")
            return pb.ListBudgetsResponse(budgets=[budget_msg(r) for r in rows])
        except TollgateError as err:
            await abort(context, err)

    async def SetAccountGroup(self, request: pb.SetAccountGroupRequest, context) -> pb.AccountGroup:
        try:
            caller = await self._caller(context, "SetAccountGroup")
            if not GROUP_NAME.fullmatch(request.group):
                raise BadRequest("group must be a group name: letters, digits, '-', '_', '.' (at most 64)")
            account_id = caller.account(request.account_id)
            covered = await self._store.run(set_group, account_id, request.group)
            await self._keys_changed(account_id, covered)
            return pb.AccountGroup(account_id=account_id, group=request.group)
        except TollgateError as err:
            await abort(context, err)

    async def _keys_changed(self, account_id: str, covered: list[tuple[str, str]]) -> None:
        for key_id, key_hash in covered:
            notice = events.KeyUpdated(key_id=key_id, key_hash=key_hash, account_id=account_id)
            await self._notify.publish(events.KEY_UPDATED_SUBJECT, notice)


def owners(caller: Caller, member_id: str, team_id: str) -> tuple[str, str]:
    """The member and team a new key belongs to. The admin, or an organisation's owner or admin
    in the console, names them (or leaves the key the organisation's); any other member's new key
    is their own, in one of their teams; a user key's new key belongs to the same member and team
    as itself, and may not be handed to another (its budget would no longer bound it)."""
    member_id, team_id = member_id.strip(), team_id.strip()
    for value in (member_id, team_id):
        if value and not SUBJECT_ID.fullmatch(value):
            raise BadRequest("member_id and team_id are ids (1-200 characters, no spaces or ':')")
    presenting = caller.key
    if presenting is None and caller.member_id and caller.role not in MANAGING_ROLES:
        if member_id and member_id != caller.member_id:
            raise Forbidden("Your role may only create keys of your own.", code="forbidden")
        if team_id and team_id not in caller.team_ids:
            raise Forbidden("A key can only belong to one of your own teams.", code="forbidden")
        only_team = caller.team_ids[0] if len(caller.team_ids) == 1 else ""
        return caller.member_id, team_id or only_team
    if presenting is None:
        return member_id, team_id
    for asked, own, what in ((member_id, presenting.member_id, "member"), (team_id, presenting.team_id, "team")):
        if asked and own and asked != own:
            raise Forbidden(f"A key cannot create a key for another {what} than its own.", code="forbidden")
    return member_id or presenting.member_id, team_id or presenting.team_id
