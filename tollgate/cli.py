"""``tollgate`` — operator CLI talking to the accounts and router services over gRPC.

  tollgate account create NAME [--balance USD]
  tollgate key create ACCOUNT_ID [--name NAME]     (prints the secret once)
  tollgate key list ACCOUNT_ID
  tollgate key revoke KEY_ID
  tollgate topup ACCOUNT_ID USD [--reference REF]
  tollgate balance ACCOUNT_ID
  tollgate reconcile ACCOUNT_ID [--days N]         (ledger debits vs metering cost per day)
  tollgate channels list                           (every channel with its health)
  tollgate channels disable CHANNEL_ID [--reason TEXT]
  tollgate channels enable CHANNEL_ID
The accounts address comes from TOLLGATE_ACCOUNTS_ADDR (or --accounts), the router's from
TOLLGATE_ROUTER_ADDR (or --router).
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal, InvalidOperation

import grpc
import httpx

from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tollgate.rpc import router_pb2 as rpb
from tollgate.rpc import router_pb2_grpc as rpb_grpc
from tollgate import reconcile
from tollgate.settings import Settings


def usd_to_micros(text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    micros = value * 1_000_000
    if micros != micros.to_integral_value():
        raise argparse.ArgumentTypeError("amounts have at most 6 decimal places (micro-USD)")
    return int(micros)


def fmt_usd(micros: int) -> str:
    return f"${Decimal(micros) / 1_000_000:.6f}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tollgate", description="Tollgate operator CLI")
    parser.add_argument("--accounts", help="accounts service address (host:port)")
    parser.add_argument("--router", help="router service address (host:port)")
    sub = parser.add_subparsers(dest="command", required=True)
    account = sub.add_parser("account").add_subparsers(dest="action", required=True)
    create = account.add_parser("create")
    create.add_argument("name")
    create.add_argument("--balance", type=usd_to_micros, default=0, help="initial balance in USD")
    create.add_argument("--require-zdr", action="store_true", help="route all of the account's traffic to zero-data-retention channels only")
    key = sub.add_parser("key").add_subparsers(dest="action", required=True)
    key_create = key.add_parser("create")
    key_create.add_argument("account_id")
    key_create.add_argument("--name", default="default")
    key_create.add_argument("--require-zdr", action="store_true", help="route this key's traffic to zero-data-retention channels only")
    key_create.add_argument("--models", default="", help="comma-separated model patterns the key may use, e.g. 'gpt-4o*,sim-1'")
    key_create.add_argument("--expires-in-days", type=float, default=0, help="the key stops working after this many days")
    key_create.add_argument("--rpm", type=int, default=0, help="requests per minute (default 180; -1 = unlimited)")
    key_create.add_argument("--tpm", type=int, default=0, help="tokens per minute (default unlimited)")
    key.add_parser("list").add_argument("account_id")
    key.add_parser("revoke").add_argument("key_id")
    topup = sub.add_parser("topup")
    topup.add_argument("account_id")
    topup.add_argument("amount", type=usd_to_micros, help="USD")
    topup.add_argument("--reference", default="")
    sub.add_parser("balance").add_argument("account_id")
    recon = sub.add_parser("reconcile", help="ledger debits vs metering cost, per UTC day (exit 1 on any difference)")
    recon.add_argument("account_id")
    recon.add_argument("--days", type=int, default=30)
    recon.add_argument("--metering", default=None, help="metering base URL (default from TOLLGATE_METERING_HOST/PORT)")
    channels_cmd = sub.add_parser("channels", help="channel health (router)")
    channels_cmd.add_argument("--router", default=argparse.SUPPRESS, help="router service address (host:port)")
    channels = channels_cmd.add_subparsers(dest="action", required=True)
    channels.add_parser("list", help="every channel with its state, error rate, latency and reason")
    disable = channels.add_parser("disable", help="take a channel out of rotation until enabled")
    disable.add_argument("channel_id")
    disable.add_argument("--reason", default="", help="shown in `channels list`")
    channels.add_parser("enable", help="put a channel back in rotation with a fresh health window").add_argument("channel_id")
    return parser


def run(args: argparse.Namespace, stub: pb_grpc.AccountsStub) -> int:
    match (args.command, getattr(args, "action", None)):
        case ("account", "create"):
            a = stub.CreateAccount(pb.CreateAccountRequest(name=args.name, initial_balance_micros=args.balance, require_zdr=args.require_zdr))
            print(f"account {a.account_id} ({a.name}) balance {fmt_usd(a.balance_micros)}")
        case ("key", "create"):
            expires = int(time.time() * 1000 + args.expires_in_days * 86_400_000) if args.expires_in_days > 0 else 0
            patterns = [p.strip() for p in args.models.split(",") if p.strip()]
            k = stub.CreateKey(
                pb.CreateKeyRequest(account_id=args.account_id, name=args.name, require_zdr=args.require_zdr, allowed_models=patterns, expires_at_ms=expires,
                                    rpm_limit=args.rpm, tpm_limit=args.tpm)
            )
            print(f"key {k.key.key_id} ({k.key.name}) — shown once, store it now:\n{k.secret}")
        case ("key", "list"):
            for k in stub.ListKeys(pb.ListKeysRequest(account_id=args.account_id)).keys:
                state = "revoked" if k.revoked_at_ms else "active"
                print(f"{k.key_id}  {k.prefix}…  {k.name}  {state}")
        case ("key", "revoke"):
            k = stub.RevokeKey(pb.RevokeKeyRequest(key_id=args.key_id))
            print(f"key {k.key_id} revoked")
        case ("topup", _):
            b = stub.TopUp(pb.TopUpRequest(account_id=args.account_id, amount_micros=args.amount, reference=args.reference))
            print(f"balance {fmt_usd(b.balance_micros)}")
        case ("balance", _):
            b = stub.GetBalance(pb.GetBalanceRequest(account_id=args.account_id))
            print(f"balance {fmt_usd(b.balance_micros)}")
        case ("reconcile", _):
            settings = Settings.from_env()
            url = args.metering or f"http://{settings.metering_host}:{settings.metering_port}"
            text, ok = reconcile.report(reconcile.compare(stub, url, args.account_id, args.days))
            print(text)
            return 0 if ok else 1
    return 0


CHANNEL_COLUMNS = ("CHANNEL", "PROVIDER", "STATE", "ERRORS", "SAMPLES", "LATENCY", "REASON")


def channel_row(c: rpb.ChannelStatus, now_ms: int) -> tuple[str, ...]:
    reason = c.disabled_reason
    if c.cooldown_until_ms and c.cooldown_until_ms > now_ms:
        reason = f"{reason} (back in {(c.cooldown_until_ms - now_ms) / 1000:.1f}s)".strip()
    latency = f"{c.latency_ewma_ms:.0f} ms" if c.latency_ewma_ms else "-"
    return (c.channel_id, c.provider, c.state, f"{c.error_rate:.0%}", str(c.samples), latency, reason or "-")


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def run_channels(args: argparse.Namespace, stub: rpb_grpc.RouterStub) -> None:
    match args.action:
        case "list":
            reply = stub.ListChannels(rpb.ListChannelsRequest(), timeout=10)
            now_ms = time.time_ns() // 1_000_000
            print(format_table([CHANNEL_COLUMNS, *(channel_row(c, now_ms) for c in reply.channels)]))
            print(f"(routing table version {reply.table_version})")
        case "disable" | "enable":
            enabled = args.action == "enable"
            c = stub.SetChannelEnabled(rpb.SetChannelEnabledRequest(channel_id=args.channel_id, enabled=enabled, reason=getattr(args, "reason", "")), timeout=10)
            print(f"channel {c.channel_id} is {c.state}" + (f": {c.disabled_reason}" if c.disabled_reason else ""))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "channels":
        addr, make_stub, runner = args.router or Settings.from_env().router_addr, rpb_grpc.RouterStub, run_channels
    else:
        addr, make_stub, runner = args.accounts or Settings.from_env().accounts_addr, pb_grpc.AccountsStub, run
    with grpc.insecure_channel(addr) as channel:
        try:
            return runner(args, make_stub(channel)) or 0
        except grpc.RpcError as err:
            print(f"error: {err.details() or err.code().name}", file=sys.stderr)
            return 1
        except httpx.HTTPError as err:
            print(f"error: metering unreachable ({type(err).__name__})", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
