"""``tollgate`` — operator CLI talking to the accounts and router services over gRPC.

  tollgate accounts create NAME [--balance USD] [--require-zdr] [--no-trial]
  tollgate accounts list [--limit N] [--after ACCOUNT_ID]
  tollgate accounts show ACCOUNT_ID
  tollgate accounts suspend ACCOUNT_ID --reason TEXT      (every request then gets 403)
  tollgate accounts activate ACCOUNT_ID
  tollgate keys create ACCOUNT_ID [--name NAME] [--require-zdr] [--models PATTERNS] [--expires-in-days N]
                                  [--rpm N] [--tpm N] [--cap-day USD] [--cap-month USD]   (prints the secret once)
  tollgate keys list ACCOUNT_ID
  tollgate keys revoke KEY_ID
  tollgate keys rotate KEY_ID [--grace SECONDS]           (new secret once; the old key works for the grace period)
  tollgate topup ACCOUNT_ID USD [--reference REF]
  tollgate adjust ACCOUNT_ID USD --reason TEXT [--reference REF]    (USD may be negative: -1.50)
  tollgate balance ACCOUNT_ID
  tollgate ledger ACCOUNT_ID [--limit N] [--before ENTRY_ID]
  tollgate reconcile ACCOUNT_ID [--days N]                (ledger vs every metering table, per day; exit 1 on a difference)
  tollgate channels list | disable CHANNEL_ID [--reason TEXT] | enable CHANNEL_ID
  tollgate groups list | set ACCOUNT_ID GROUP                 (pricing groups; keys create also takes --member ID --team ID)
  tollgate budgets set ACCOUNT_ID member|team ID [--day USD] [--month USD] | remove ACCOUNT_ID member|team ID | list ACCOUNT_ID
  tollgate catalog import [--vendor V,...] [--margin X] [--force] [--dry-run] [--out PATH]   (local: see tollgate/catalog_import)

``account`` and ``key`` are aliases of ``accounts`` and ``keys``. ``--json`` prints JSON (money
in integer micro-USD, times in integer ms) instead of tables. The accounts address comes from
TOLLGATE_ACCOUNTS_ADDR (or --accounts), the router's from TOLLGATE_ROUTER_ADDR (or --router).
Accounts calls present ``--admin-token``, else TOLLGATE_API_KEY (a user key: its own account
only; ACCOUNT_ID may then be omitted), else the admin token (TOLLGATE_ADMIN_TOKEN or
``<data_dir>/admin-token``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import grpc

from tollgate import cli_budgets, credentials
from tollgate.catalog_import import parser as catalog_import
from tollgate.protojson import to_data
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tollgate.rpc import budgets_pb2_grpc
from tollgate.rpc import router_pb2 as rpb
from tollgate.rpc import router_pb2_grpc as rpb_grpc
from tollgate.settings import Settings

TIMEOUT_S = 30
INT64_MAX = 2**63 - 1
MAX_PAGE = 1000  # the accounts service returns at most this many accounts or ledger entries per call
AMOUNT = re.compile(r"=?([+-]?)\$?(\d+(?:\.\d*)?|\.\d+)")

# -- values -----------------------------------------------------------------------------


def usd_to_micros(text: str) -> int:
    """``"1.5"`` → 1_500_000. Signed; a leading ``=`` (``=-1.5``) and a ``$`` after the sign are accepted."""
    match = AMOUNT.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}")
    micros = Decimal(match[1] + match[2]) * 1_000_000
    if micros != micros.to_integral_value():
        raise argparse.ArgumentTypeError("amounts have at most 6 decimal places (micro-USD)")
    if abs(micros) > INT64_MAX:
        raise argparse.ArgumentTypeError(f"amount out of range: {text!r}")
    return int(micros)


def fmt_usd(micros: int) -> str:
    return f"{'-' if micros < 0 else ''}${Decimal(abs(micros)) / 1_000_000:.6f}"


def fmt_time(ms: int, never: str = "-") -> str:
    if not ms:
        return never
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


# -- renderings (tables and lines for people; --json prints to_data(reply) instead) --------

ACCOUNT_COLUMNS = ("ACCOUNT", "NAME", "STATUS", "BALANCE", "ZDR", "CREATED")
KEY_COLUMNS = ("KEY", "NAME", "PREFIX", "STATUS", "LIMITS", "EXPIRES", "LAST USED", "CREATED")
LEDGER_COLUMNS = ("ID", "TIME", "KIND", "AMOUNT", "KEY", "REFERENCE", "NOTE")
CHANNEL_COLUMNS = ("CHANNEL", "PROVIDER", "STATE", "ERRORS", "SAMPLES", "LATENCY", "REASON")


def account_status(a: pb.Account) -> str:
    return f"{a.status or 'active'} ({a.status_reason})" if a.status_reason else a.status or "active"


def account_row(a: pb.Account) -> tuple[str, ...]:
    return (a.account_id, a.name, account_status(a), fmt_usd(a.balance_micros), "yes" if a.require_zdr else "no", fmt_time(a.created_at_ms))


def show_account(a: pb.Account, args) -> str:
    fields = zip(("account", "name", "status", "balance", "zdr", "created"), account_row(a), strict=True)
    return format_table([*((f"{name}:", value) for name, value in fields), ("group:", a.price_group or "default")])


def key_status(k: pb.KeyInfo, now: int) -> str:
    if k.revoked_at_ms:
        return "revoked"
    return "expired" if k.expires_at_ms and k.expires_at_ms <= now else "active"


def key_limits(k: pb.KeyInfo) -> str:
    parts = [
        f"{k.rpm_limit} rpm" if k.rpm_limit > 0 else "",
        f"{k.tpm_limit} tpm" if k.tpm_limit > 0 else "",
        f"{fmt_usd(k.spend_cap_day_micros)}/day" if k.spend_cap_day_micros else "",
        f"{fmt_usd(k.spend_cap_month_micros)}/month" if k.spend_cap_month_micros else "",
        "zdr" if k.require_zdr else "",
        f"models {','.join(k.allowed_models)}" if k.allowed_models else "",
        f"member {k.member_id}" if k.member_id else "",
        f"team {k.team_id}" if k.team_id else "",
    ]
    return ", ".join(p for p in parts if p) or "-"


def key_row(k: pb.KeyInfo, now: int) -> tuple[str, ...]:
    return (
        k.key_id,
        k.name,
        f"{k.prefix}…",
        key_status(k, now),
        key_limits(k),
        fmt_time(k.expires_at_ms, "never"),
        fmt_time(k.last_used_at_ms, "never"),
        fmt_time(k.created_at_ms),
    )


def show_secret(created: pb.CreatedKey, what: str = "key") -> str:
    k = created.key
    return f"{what} {k.key_id} ({k.name}) — shown once, store it now:\n{created.secret}"


def show_rotated(r: pb.RotatedKey, args) -> str:
    old = r.old_key
    if old.revoked_at_ms or (old.expires_at_ms and old.expires_at_ms <= now_ms()):
        until = "has stopped working"
    else:
        until = f"stops working at {fmt_time(old.expires_at_ms, 'never (no expiry set)')}"
    return f"{show_secret(r.new_key, 'new key')}\nold key {old.key_id} {until}"


def show_ledger(reply: pb.ListLedgerResponse, args) -> str:
    rows = [
        (
            str(e.id),
            fmt_time(e.effective_at_ms or e.created_at_ms),
            e.kind,
            fmt_usd(e.amount_micros),
            e.key_id or "-",
            e.reference or "-",
            e.note or "-",
        )
        for e in reply.entries
    ]
    lines = [format_table([LEDGER_COLUMNS, *rows]), f"balance {fmt_usd(reply.balance_micros)}"]
    if reply.entries and len(reply.entries) >= min(args.limit or 50, MAX_PAGE):
        lines.append(f"(older entries: --before {reply.entries[-1].id})")
    return "\n".join(lines)


def show_accounts(reply: pb.ListAccountsResponse, args) -> str:
    lines = [format_table([ACCOUNT_COLUMNS, *map(account_row, reply.accounts)])]
    if reply.accounts and len(reply.accounts) >= min(args.limit or 100, MAX_PAGE):
        lines.append(f"(more: --after {reply.accounts[-1].account_id})")
    return "\n".join(lines)


def channel_row(c: rpb.ChannelStatus, now: int) -> tuple[str, ...]:
    reason = c.disabled_reason
    if c.cooldown_until_ms and c.cooldown_until_ms > now:
        reason = f"{reason} (back in {(c.cooldown_until_ms - now) / 1000:.1f}s)".strip()
    latency = f"{c.latency_ewma_ms:.0f} ms" if c.latency_ewma_ms else "-"
    return (c.channel_id, c.provider, c.state, f"{c.error_rate:.0%}", str(c.samples), latency, reason or "-")


def show_channels(reply: rpb.ListChannelsResponse, args) -> str:
    table = format_table([CHANNEL_COLUMNS, *(channel_row(c, now_ms()) for c in reply.channels)])
    return f"{table}\n(routing table version {reply.table_version})"


class Failed(Exception):
    """A command failed for a reason worth one line on stderr."""


def run_reconcile(stub: pb_grpc.AccountsStub, args) -> dict[str, Any]:
    import httpx  # only here: importing it costs half a second

    from tollgate import reconcile

    settings = Settings.from_env()
    url = args.metering or f"http://{settings.metering_host}:{settings.metering_port}"
    try:
        rows = reconcile.compare(stub, url, args.account_id, args.days, accounts_credential(args))
    except httpx.HTTPStatusError as err:
        raise Failed(f"metering answered {err.response.status_code} ({err.response.text[:200]})") from None
    except httpx.HTTPError as err:
        raise Failed(f"metering unreachable ({type(err).__name__})") from None
    days = [
        {"day": d, "ledger_micros": ledger, "metering_micros": metering, "diff_micros": ledger - metering}
        for what, d, ledger, metering in rows
        if what == reconcile.RAW_COST
    ]
    checks = [{"what": what, "period": p, "expected": ref, "metering": got, "diff": ref - got} for what, p, ref, got in rows]
    return {"days": days, "checks": checks, "ok": all(c["diff"] == 0 for c in checks)}


def show_reconcile(reply: dict[str, Any], args) -> str:
    from tollgate import reconcile

    return reconcile.report([(c["what"], c["period"], c["expected"], c["metering"]) for c in reply["checks"]])[0]


# -- the command table ------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    call: Callable[[Any, argparse.Namespace], Any]  # (stub, args) -> reply
    show: Callable[[Any, argparse.Namespace], str]  # (reply, args) -> text for people
    service: str = "accounts"  # or "router"
    ok: Callable[[Any], bool] = lambda reply: True  # False: exit status 1


def arg(*flags: str, **kw) -> tuple[tuple[str, ...], dict]:
    return flags, kw


def expires_at(days: float) -> int:
    return int(now_ms() + days * 86_400_000) if days > 0 else 0


def patterns(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def balance_line(b: pb.Balance, args) -> str:
    return f"balance {fmt_usd(b.balance_micros)}"


ACCOUNT_ID = arg("account_id", metavar="ACCOUNT_ID")
OPTIONAL_ACCOUNT_ID = arg(
    "account_id", metavar="ACCOUNT_ID", nargs="?", default="", help="the account (with TOLLGATE_API_KEY: its own when omitted)"
)
REFERENCE = arg("--reference", default="", help="idempotency reference: a repeated reference applies once")

# (command, aliases, action or None, help, arguments, Command)
COMMANDS: tuple[tuple[str, tuple[str, ...], str | None, str, tuple, Command], ...] = (
    (
        "accounts",
        ("account",),
        "create",
        "create an account",
        (
            arg("name"),
            arg("--balance", metavar="USD", type=usd_to_micros, default=0, help="initial balance in USD"),
            arg("--require-zdr", action="store_true", help="route all of the account's traffic to zero-data-retention channels only"),
            arg("--no-trial", action="store_true", help="do not grant the configured free trial credit"),
        ),
        Command(
            lambda s, a: s.CreateAccount(
                pb.CreateAccountRequest(
                    name=a.name, initial_balance_micros=a.balance, require_zdr=a.require_zdr, skip_trial_credit=a.no_trial
                ),
                timeout=TIMEOUT_S,
            ),
            lambda r, a: f"account {r.account_id} ({r.name}) balance {fmt_usd(r.balance_micros)}",
        ),
    ),
    (
        "accounts",
        ("account",),
        "list",
        "list accounts, oldest id first",
        (
            arg("--limit", type=int, default=0, help="at most this many (default 100)"),
            arg("--after", default="", help="paging: accounts after this id"),
        ),
        Command(lambda s, a: s.ListAccounts(pb.ListAccountsRequest(limit=a.limit, after_id=a.after), timeout=TIMEOUT_S), show_accounts),
    ),
    (
        "accounts",
        ("account",),
        "show",
        "one account",
        (OPTIONAL_ACCOUNT_ID,),
        Command(lambda s, a: s.GetAccount(pb.GetAccountRequest(account_id=a.account_id), timeout=TIMEOUT_S), show_account),
    ),
    (
        "accounts",
        ("account",),
        "suspend",
        "every request of the account then gets 403 account_suspended",
        (ACCOUNT_ID, arg("--reason", required=True, help="shown to the account's callers in the 403 message")),
        Command(
            lambda s, a: s.SetAccountStatus(
                pb.SetAccountStatusRequest(account_id=a.account_id, status="suspended", reason=a.reason), timeout=TIMEOUT_S
            ),
            lambda r, a: f"account {r.account_id} is {account_status(r)}",
        ),
    ),
    (
        "accounts",
        ("account",),
        "activate",
        "lift a suspension",
        (ACCOUNT_ID,),
        Command(
            lambda s, a: s.SetAccountStatus(pb.SetAccountStatusRequest(account_id=a.account_id, status="active"), timeout=TIMEOUT_S),
            lambda r, a: f"account {r.account_id} is {account_status(r)}",
        ),
    ),
    (
        "keys",
        ("key",),
        "create",
        "create an API key (the secret is shown once)",
        (
            OPTIONAL_ACCOUNT_ID,
            arg("--name", default="default"),
            arg("--require-zdr", action="store_true", help="route this key's traffic to zero-data-retention channels only"),
            arg("--models", default="", help="comma-separated model patterns the key may use, e.g. 'gpt-4o*,sim-1'"),
            arg("--expires-in-days", type=float, default=0, help="the key stops working after this many days"),
            arg("--rpm", type=int, default=0, help="requests per minute (default 180; -1 = unlimited)"),
            arg("--tpm", type=int, default=0, help="tokens per minute (default unlimited)"),
            arg("--cap-day", metavar="USD", type=usd_to_micros, default=0, help="spend cap per UTC day, USD"),
            arg("--cap-month", metavar="USD", type=usd_to_micros, default=0, help="spend cap per UTC month, USD"),
            arg("--member", default="", help="the member the key belongs to (their budget bounds it)"),
            arg("--team", default="", help="the team the key belongs to (its budget bounds it)"),
        ),
        Command(
            lambda s, a: s.CreateKey(
                pb.CreateKeyRequest(
                    account_id=a.account_id,
                    name=a.name,
                    require_zdr=a.require_zdr,
                    allowed_models=patterns(a.models),
                    expires_at_ms=expires_at(a.expires_in_days),
                    rpm_limit=a.rpm,
                    tpm_limit=a.tpm,
                    spend_cap_day_micros=a.cap_day,
                    spend_cap_month_micros=a.cap_month,
                    member_id=a.member,
                    team_id=a.team,
                ),
                timeout=TIMEOUT_S,
            ),
            lambda r, a: show_secret(r),
        ),
    ),
    (
        "keys",
        ("key",),
        "list",
        "an account's keys",
        (OPTIONAL_ACCOUNT_ID,),
        Command(
            lambda s, a: s.ListKeys(pb.ListKeysRequest(account_id=a.account_id), timeout=TIMEOUT_S),
            lambda r, a: format_table([KEY_COLUMNS, *(key_row(k, now_ms()) for k in r.keys)]),
        ),
    ),
    (
        "keys",
        ("key",),
        "revoke",
        "every edge drops the key within a second",
        (arg("key_id", metavar="KEY_ID"),),
        Command(lambda s, a: s.RevokeKey(pb.RevokeKeyRequest(key_id=a.key_id), timeout=TIMEOUT_S), lambda r, a: f"key {r.key_id} revoked"),
    ),
    (
        "keys",
        ("key",),
        "rotate",
        "a new key with the old one's settings (the new secret is shown once)",
        (
            arg("key_id", metavar="KEY_ID"),
            arg(
                "--grace",
                metavar="SECONDS",
                type=int,
                default=0,
                help="seconds the old key keeps working (default 86400; -1 = stop at once)",
            ),
        ),
        Command(lambda s, a: s.RotateKey(pb.RotateKeyRequest(key_id=a.key_id, grace_s=a.grace), timeout=TIMEOUT_S), show_rotated),
    ),
    (
        "topup",
        (),
        None,
        "add credit",
        (ACCOUNT_ID, arg("amount", metavar="USD", type=usd_to_micros, help="amount in USD"), REFERENCE),
        Command(
            lambda s, a: s.TopUp(
                pb.TopUpRequest(account_id=a.account_id, amount_micros=a.amount, reference=a.reference), timeout=TIMEOUT_S
            ),
            balance_line,
        ),
    ),
    (
        "adjust",
        (),
        None,
        "a signed correction with a reason (refund +, chargeback -)",
        (
            ACCOUNT_ID,
            arg("amount", metavar="USD", type=usd_to_micros, help="signed amount in USD: 2.50 or -1.50"),
            arg("--reason", required=True, help="recorded in the ledger"),
            REFERENCE,
        ),
        Command(
            lambda s, a: s.Adjust(
                pb.AdjustRequest(account_id=a.account_id, amount_micros=a.amount, reason=a.reason, reference=a.reference), timeout=TIMEOUT_S
            ),
            balance_line,
        ),
    ),
    (
        "balance",
        (),
        None,
        "an account's balance",
        (OPTIONAL_ACCOUNT_ID,),
        Command(lambda s, a: s.GetBalance(pb.GetBalanceRequest(account_id=a.account_id), timeout=TIMEOUT_S), balance_line),
    ),
    (
        "ledger",
        (),
        None,
        "an account's ledger, newest first",
        (
            OPTIONAL_ACCOUNT_ID,
            arg("--limit", type=int, default=0, help="at most this many (default 50)"),
            arg("--before", metavar="ENTRY_ID", type=int, default=0, help="paging: entries older than this entry id"),
        ),
        Command(
            lambda s, a: s.ListLedger(pb.ListLedgerRequest(account_id=a.account_id, limit=a.limit, before_id=a.before), timeout=TIMEOUT_S),
            show_ledger,
        ),
    ),
    (
        "reconcile",
        (),
        None,
        "ledger debits vs metering's raw table, rollups, statements and rankings (exit 1 on any difference)",
        (
            ACCOUNT_ID,
            arg("--days", type=int, default=30),
            arg("--metering", default=None, help="metering base URL (default from TOLLGATE_METERING_HOST/PORT)"),
        ),
        Command(run_reconcile, show_reconcile, ok=lambda r: r["ok"]),
    ),
    (
        "channels",
        (),
        "list",
        "every channel with its state, error rate, latency and reason",
        (),
        Command(lambda s, a: s.ListChannels(rpb.ListChannelsRequest(), timeout=10), show_channels, "router"),
    ),
    (
        "channels",
        (),
        "disable",
        "take a channel out of rotation until enabled",
        (arg("channel_id", metavar="CHANNEL_ID"), arg("--reason", default="", help="shown in `channels list`")),
        Command(
            lambda s, a: s.SetChannelEnabled(
                rpb.SetChannelEnabledRequest(channel_id=a.channel_id, enabled=False, reason=a.reason), timeout=10
            ),
            lambda c, a: f"channel {c.channel_id} is {c.state}" + (f": {c.disabled_reason}" if c.disabled_reason else ""),
            "router",
        ),
    ),
    (
        "channels",
        (),
        "enable",
        "put a channel back in rotation with a fresh health window",
        (arg("channel_id", metavar="CHANNEL_ID"),),
        Command(
            lambda s, a: s.SetChannelEnabled(rpb.SetChannelEnabledRequest(channel_id=a.channel_id, enabled=True), timeout=10),
            lambda c, a: f"channel {c.channel_id} is {c.state}",
            "router",
        ),
    ),
)

COMMANDS += cli_budgets.commands(Command, arg, usd_to_micros, format_table)  # groups, budgets (issue 17)
GROUP_HELP = {"accounts": "accounts (admin)", "keys": "API keys", "channels": "channel health (router)", **cli_budgets.GROUP_HELP}


def build_parser() -> argparse.ArgumentParser:
    # Options every subcommand also accepts after its name (SUPPRESS: the top level's value stands otherwise).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON instead of tables")
    common.add_argument("--admin-token", default=argparse.SUPPRESS, help="credential for the accounts service")
    parser = argparse.ArgumentParser(prog="tollgate", description="Tollgate operator CLI")
    parser.add_argument("--accounts", help="accounts service address (host:port)")
    parser.add_argument("--router", help="router service address (host:port)")
    parser.add_argument("--json", action="store_true", help="print JSON (micro-USD, ms timestamps) instead of tables")
    parser.add_argument(
        "--admin-token", default=None, help="credential for the accounts service (default: TOLLGATE_API_KEY, else the admin token)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for name, aliases, action, help_, arguments, command in COMMANDS:
        if action is None:
            leaf = sub.add_parser(name, aliases=list(aliases), help=help_, description=help_, parents=[common])
        else:
            if name not in groups:
                group = sub.add_parser(name, aliases=list(aliases), help=GROUP_HELP.get(name), parents=[common])
                if name in ("channels", "groups"):
                    group.add_argument("--router", default=argparse.SUPPRESS, help="router service address (host:port)")
                groups[name] = group.add_subparsers(dest="action", required=True, metavar="ACTION")
            leaf = groups[name].add_parser(action, help=help_, description=help_, parents=[common])
        for flags, kw in arguments:
            leaf.add_argument(*flags, **kw)
        leaf.set_defaults(run=command)
    catalog_import.add_parser(sub, common)
    return parser


def accounts_credential(args: argparse.Namespace, environ=os.environ) -> str:
    """--admin-token, else TOLLGATE_API_KEY (a user key), else the installation's admin token."""
    return args.admin_token or environ.get("TOLLGATE_API_KEY", "").strip() or Settings.from_env(environ).admin_credential


def execute(command: Command, stub, args: argparse.Namespace, out=None) -> int:
    """Call, print the reply (JSON or text) and return the exit status."""
    reply, out = command.call(stub, args), out or sys.stdout
    if args.json:
        print(json.dumps(to_data(reply), indent=2, ensure_ascii=False), file=out)
    else:
        print(command.show(reply, args), file=out)
    return 0 if command.ok(reply) else 1


def open_channel(command: Command, args: argparse.Namespace) -> tuple[grpc.Channel, Any]:
    if command.service == "router":
        channel = grpc.insecure_channel(args.router or Settings.from_env().router_addr)
        return channel, rpb_grpc.RouterStub(channel)
    channel = credentials.channel(args.accounts or Settings.from_env().accounts_addr, accounts_credential(args))
    if command.service == "budgets":  # served by the accounts process
        return channel, budgets_pb2_grpc.BudgetsStub(channel)
    return channel, pb_grpc.AccountsStub(channel)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "local"):  # a local command (catalog import): no service to call
        try:
            return int(args.local(args))
        except BrokenPipeError:  # e.g. `| head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
    try:
        channel, stub = open_channel(args.run, args)
    except OSError as err:
        print(f"error: cannot read the admin token ({err})", file=sys.stderr)
        return 1
    with channel:
        try:
            return execute(args.run, stub, args)
        except grpc.RpcError as err:
            print(f"error: {err.details() or err.code().name}", file=sys.stderr)
            return 1
        except Failed as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # e.g. `| head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
