"""``tollgate groups …`` and ``tollgate budgets …`` (issue 17): pricing groups and budgets
per member and per team. ``tollgate.cli`` adds these to its command table (``commands``
takes the table's own building blocks, so this module does not import the CLI's)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import grpc

from tollgate.rpc import budgets_pb2 as bpb
from tollgate.rpc import router_pb2 as rpb
from tollgate.rpc import router_pb2_grpc as rpb_grpc
from tollgate.settings import Settings

TIMEOUT_S = 10
GROUP_HELP = {"groups": "pricing groups: list them (router), put an account in one", "budgets": "budgets per member and per team"}


def usd(micros: int) -> str:
    return f"${micros / 1e6:,.6f}".rstrip("0").rstrip(".") if micros % 10_000 else f"${micros / 1e6:,.2f}"


def multiplier(g: rpb.Group) -> str:
    return str(Fraction(g.multiplier_numerator, g.multiplier_denominator or 1))


def budget_rows(reply: bpb.ListBudgetsResponse) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("SCOPE", "ID", "PER DAY", "SPENT TODAY", "PER MONTH", "SPENT THIS MONTH", "RESERVED")]
    for b in reply.budgets:
        rows.append(
            (
                b.scope,
                b.subject_id,
                usd(b.day_micros) if b.day_micros else "-",
                usd(b.spent_day_micros),
                usd(b.month_micros) if b.month_micros else "-",
                usd(b.spent_month_micros),
                usd(b.reserved_micros),
            )
        )
    return rows


def show_budget(b: bpb.Budget, _args) -> str:
    if not (b.day_micros or b.month_micros):
        return f"{b.scope} {b.subject_id} of account {b.account_id}: no budget"
    limits = [f"{usd(b.day_micros)}/day" if b.day_micros else "", f"{usd(b.month_micros)}/month" if b.month_micros else ""]
    return f"{b.scope} {b.subject_id} of account {b.account_id}: budget {', '.join(x for x in limits if x)}"


def set_budget(stub, a) -> bpb.Budget:
    if not (a.day or a.month):
        raise SystemExit("error: give --day and/or --month (use `tollgate budgets remove` to lift a budget)")
    request = bpb.SetBudgetRequest(account_id=a.account_id, scope=a.scope, subject_id=a.subject_id, day_micros=a.day, month_micros=a.month)
    return stub.SetBudget(request, timeout=TIMEOUT_S)


def set_group(stub, a) -> bpb.AccountGroup:
    """Refuse a group the router's catalog does not define (its accounts would see no model),
    unless ``--force`` (e.g. the catalog that defines it is about to be deployed)."""
    if not a.force:
        with grpc.insecure_channel(a.router or Settings.from_env().router_addr) as channel:
            known = [g.name for g in rpb_grpc.RouterStub(channel).ListGroups(rpb.ListGroupsRequest(), timeout=TIMEOUT_S).groups]
        if a.group not in known:
            raise SystemExit(f"error: the catalog has no group {a.group!r} (known: {', '.join(known)}); --force sets it anyway")
    return stub.SetAccountGroup(bpb.SetAccountGroupRequest(account_id=a.account_id, group=a.group), timeout=TIMEOUT_S)


def commands(command: Callable[..., Any], arg: Callable[..., Any], usd_to_micros: Callable[[str], int], table: Callable) -> tuple:
    """Entries for ``tollgate.cli.COMMANDS``: (command, aliases, action, help, arguments, Command)."""
    account = arg("account_id", metavar="ACCOUNT_ID")
    subject = (
        arg("scope", choices=("member", "team"), help="a member's budget or a team's"),
        arg("subject_id", metavar="ID", help="the member's or team's id"),
    )
    return (
        (
            "groups",
            ("group",),
            "list",
            "the catalog's pricing groups: multiplier and the models each shows",
            (),
            command(
                lambda s, a: s.ListGroups(rpb.ListGroupsRequest(), timeout=TIMEOUT_S),
                lambda r, a: table([("GROUP", "MULTIPLIER", "MODELS"), *((g.name, multiplier(g), ", ".join(g.models)) for g in r.groups)]),
                "router",
            ),
        ),
        (
            "groups",
            ("group",),
            "set",
            "put an account in a pricing group (its keys see that group's models at its prices)",
            (
                account,
                arg("group", metavar="GROUP"),
                arg("--force", action="store_true", help="set it even if the router's catalog has no such group (yet)"),
            ),
            command(set_group, lambda r, a: f"account {r.account_id} is in group {r.group}", "budgets"),
        ),
        (
            "budgets",
            ("budget",),
            "set",
            "set a member's or a team's budget (per UTC day and/or month, USD)",
            (
                account,
                *subject,
                arg("--day", metavar="USD", type=usd_to_micros, default=0, help="budget per UTC day"),
                arg("--month", metavar="USD", type=usd_to_micros, default=0, help="budget per UTC month"),
            ),
            command(set_budget, show_budget, "budgets"),
        ),
        (
            "budgets",
            ("budget",),
            "remove",
            "lift a member's or a team's budget",
            (account, *subject),
            command(
                lambda s, a: s.SetBudget(
                    bpb.SetBudgetRequest(account_id=a.account_id, scope=a.scope, subject_id=a.subject_id), timeout=TIMEOUT_S
                ),
                show_budget,
                "budgets",
            ),
        ),
        (
            "budgets",
            ("budget",),
            "list",
            "an account's budgets with what was spent under each today and this month",
            (arg("account_id", metavar="ACCOUNT_ID", nargs="?", default="", help="the account (with TOLLGATE_API_KEY: its own)"),),
            command(
                lambda s, a: s.ListBudgets(bpb.ListBudgetsRequest(account_id=a.account_id), timeout=TIMEOUT_S),
                lambda r, a: table(budget_rows(r)) if r.budgets else "no budgets",
                "budgets",
            ),
        ),
    )
