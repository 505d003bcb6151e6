"""The operator CLI without a server: parsing, credentials, tables and JSON (a fake stub
answers with protobuf messages), and the bearer metadata on a real in-process gRPC server."""

from __future__ import annotations

import argparse
import io
import json
from concurrent import futures

import grpc
import httpx
import pytest

from tollgate import cli, reconcile
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(list(argv))


class FakeAccounts:
    """Records every request and answers with canned messages."""

    def __init__(self, **replies):
        self.replies = replies
        self.calls: list[tuple[str, object]] = []

    def __getattr__(self, method: str):
        def call(request, timeout=None):
            self.calls.append((method, request))
            reply = self.replies[method]
            if isinstance(reply, Exception):
                raise reply
            return reply

        return call


def run(stub, *argv: str) -> tuple[int, str]:
    args = parse(*argv)
    out = io.StringIO()
    code = cli.execute(args.run, stub, args, out)
    return code, out.getvalue()


# -- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, micros",
    [
        ("1.5", 1_500_000),
        ("0.000001", 1),
        ("-1.50", -1_500_000),
        ("=-1.5", -1_500_000),
        ("+2", 2_000_000),
        ("$3", 3_000_000),
        ("-$0.25", -250_000),
        (".5", 500_000),
        ("10", 10_000_000),
    ],
)
def test_usd_to_micros(text: str, micros: int) -> None:
    assert cli.usd_to_micros(text) == micros


@pytest.mark.parametrize("text", ["", "-", "abc", "1.0000001", "inf", "nan", "1e3", "+-1", "--1", "1,5", "99999999999999"])
def test_usd_to_micros_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cli.usd_to_micros(text)


@pytest.mark.parametrize(
    "argv",
    [
        ("adjust", "acct_1", "-1.50", "--reason", "chargeback"),
        ("adjust", "acct_1", "--reason", "chargeback", "--", "-1.50"),
        ("adjust", "acct_1", "=-1.5", "--reason", "chargeback"),
        ("adjust", "--reason", "chargeback", "acct_1", "-1.5"),
    ],
)
def test_negative_adjustments_parse(argv: tuple[str, ...]) -> None:
    args = parse(*argv)
    assert (args.account_id, args.amount, args.reason) == ("acct_1", -1_500_000, "chargeback")


def test_adjust_needs_a_reason_and_amounts_are_checked(capsys) -> None:
    with pytest.raises(SystemExit):
        parse("adjust", "acct_1", "-1.50")
    assert "--reason" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("topup", "acct_1", "1.0000001")
    assert "6 decimal places" in capsys.readouterr().err


def test_aliases_and_json_anywhere() -> None:
    for group, alias in (("accounts", "account"), ("keys", "key")):
        action = "list" if group == "keys" else "show"
        assert parse(group, action, "x").run is parse(alias, action, "x").run
    assert parse("--json", "keys", "list", "acct_1").json and parse("keys", "list", "acct_1", "--json").json
    assert not parse("keys", "list", "acct_1").json
    assert parse("balance", "acct_1", "--admin-token", "t").admin_token == "t"
    assert parse("--admin-token", "t", "balance").admin_token == "t"


def test_credential_order(tmp_path) -> None:
    env = {"TOLLGATE_DATA_DIR": str(tmp_path)}
    file_token = cli.accounts_credential(parse("balance", "a"), env)
    assert file_token.startswith("tga_") and (tmp_path / "admin-token").read_text().strip() == file_token
    assert cli.accounts_credential(parse("balance", "a"), {**env, "TOLLGATE_ADMIN_TOKEN": "tga_env"}) == "tga_env"
    user = {**env, "TOLLGATE_ADMIN_TOKEN": "tga_env", "TOLLGATE_API_KEY": "sk-user"}
    assert cli.accounts_credential(parse("balance", "a"), user) == "sk-user"
    assert cli.accounts_credential(parse("--admin-token", "tga_flag", "balance", "a"), user) == "tga_flag"


# -- requests and renderings ------------------------------------------------------------


def account(**kw) -> pb.Account:
    return pb.Account(
        **{"account_id": "acct_1", "name": "acme", "balance_micros": 25_000_000, "created_at_ms": T0, "status": "active", **kw}
    )


def test_accounts_create_sends_every_option() -> None:
    stub = FakeAccounts(CreateAccount=account())
    code, out = run(stub, "accounts", "create", "acme", "--balance", "25", "--require-zdr", "--no-trial")
    assert code == 0 and out.strip() == "account acct_1 (acme) balance $25.000000"
    ((method, request),) = stub.calls
    assert method == "CreateAccount"
    assert (request.name, request.initial_balance_micros, request.require_zdr, request.skip_trial_credit) == (
        "acme",
        25_000_000,
        True,
        True,
    )


def test_accounts_list_table_and_json() -> None:
    reply = pb.ListAccountsResponse(
        accounts=[
            account(),
            account(
                account_id="acct_2",
                name="bad-co",
                balance_micros=-1_500_000,
                status="suspended",
                status_reason="chargeback",
                require_zdr=True,
            ),
        ]
    )
    stub = FakeAccounts(ListAccounts=reply)
    _, out = run(stub, "accounts", "list", "--limit", "2")
    header, first, second, more = out.strip().splitlines()
    assert header.split() == ["ACCOUNT", "NAME", "STATUS", "BALANCE", "ZDR", "CREATED"]
    assert first.split() == ["acct_1", "acme", "active", "$25.000000", "no", "2026-01-01T00:00:00Z"]
    assert second.split() == ["acct_2", "bad-co", "suspended", "(chargeback)", "-$1.500000", "yes", "2026-01-01T00:00:00Z"]
    assert header.index("BALANCE") == first.index("$25") == second.index("-$1.5")  # aligned columns
    assert more == "(more: --after acct_2)" and stub.calls[0][1].limit == 2

    _, out = run(stub, "--json", "accounts", "list")
    data = json.loads(out)
    assert data["accounts"][1] == {
        "account_id": "acct_2",
        "name": "bad-co",
        "balance_micros": -1_500_000,
        "created_at_ms": T0,
        "require_zdr": True,
        "status": "suspended",
        "status_reason": "chargeback",
        "price_group": "",  # not set in this fake reply; accounts answers "default" unless an admin set a group
    }
    assert "$" not in out


def test_suspend_and_activate_send_the_status() -> None:
    stub = FakeAccounts(SetAccountStatus=account(status="suspended", status_reason="fraud"))
    _, out = run(stub, "accounts", "suspend", "acct_1", "--reason", "fraud")
    assert out.strip() == "account acct_1 is suspended (fraud)"
    assert (stub.calls[0][1].status, stub.calls[0][1].reason) == ("suspended", "fraud")
    run(stub, "account", "activate", "acct_1")
    assert (stub.calls[1][1].account_id, stub.calls[1][1].status) == ("acct_1", "active")


def key(**kw) -> pb.KeyInfo:
    return pb.KeyInfo(**{"key_id": "key_1", "account_id": "acct_1", "name": "ci", "prefix": "sk-abcdefg", "created_at_ms": T0, **kw})


def test_keys_create_options_and_secret_once() -> None:
    stub = FakeAccounts(CreateKey=pb.CreatedKey(key=key(), secret="sk-" + "x" * 48))
    _, out = run(
        stub,
        "keys",
        "create",
        "acct_1",
        "--name",
        "ci",
        "--models",
        "gpt-4o*, sim-1,",
        "--rpm",
        "-1",
        "--tpm",
        "5000",
        "--cap-day",
        "5",
        "--cap-month",
        "50.5",
        "--expires-in-days",
        "1",
        "--require-zdr",
    )
    request = stub.calls[0][1]
    assert list(request.allowed_models) == ["gpt-4o*", "sim-1"] and (request.rpm_limit, request.tpm_limit) == (-1, 5000)
    assert (request.spend_cap_day_micros, request.spend_cap_month_micros) == (5_000_000, 50_500_000) and request.require_zdr
    assert abs(request.expires_at_ms - (cli.now_ms() + 86_400_000)) < 60_000
    assert out.count("sk-" + "x" * 48) == 1 and "shown once" in out
    data = json.loads(run(stub, "keys", "create", "acct_1", "--json")[1])
    assert data["secret"] == "sk-" + "x" * 48 and data["key"]["key_id"] == "key_1"


def test_keys_list_states_and_limits() -> None:
    now = cli.now_ms()
    reply = pb.ListKeysResponse(
        keys=[
            key(rpm_limit=180, last_used_at_ms=T0 + 3_600_000),
            key(key_id="key_2", name="old", revoked_at_ms=T0 + 1, spend_cap_day_micros=5_000_000, allowed_models=["gpt-4o*", "sim-1"]),
            key(key_id="key_3", name="rotated", expires_at_ms=now - 1000),
            key(key_id="key_4", name="grace", expires_at_ms=now + 3_600_000, require_zdr=True),
        ]
    )
    _, out = run(FakeAccounts(ListKeys=reply), "key", "list", "acct_1")
    lines = out.strip().splitlines()
    assert lines[0].split() == ["KEY", "NAME", "PREFIX", "STATUS", "LIMITS", "EXPIRES", "LAST", "USED", "CREATED"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert "sk-abcdefg…" in rows["key_1"] and " active " in rows["key_1"] and "180 rpm" in rows["key_1"]
    assert "2026-01-01T01:00:00Z" in rows["key_1"] and "never" in rows["key_1"]  # last used; expires never
    assert " revoked " in rows["key_2"] and "$5.000000/day, models gpt-4o*,sim-1" in rows["key_2"]
    assert " expired " in rows["key_3"] and " active " in rows["key_4"] and "zdr" in rows["key_4"]
    assert all(line.find("sk-abcdefg") == lines[0].index("PREFIX") for line in lines[1:])


def test_keys_rotate_prints_the_new_secret_and_the_old_keys_end() -> None:
    old = key(expires_at_ms=T0 + 86_400_000 * 400)
    stub = FakeAccounts(RotateKey=pb.RotatedKey(new_key=pb.CreatedKey(key=key(key_id="key_2"), secret="sk-" + "n" * 48), old_key=old))
    _, out = run(stub, "keys", "rotate", "key_1", "--grace", "600")
    assert stub.calls[0][1].grace_s == 600 and stub.calls[0][1].key_id == "key_1"
    assert out.count("sk-" + "n" * 48) == 1 and "new key key_2" in out and "shown once" in out
    assert "old key key_1 stops working at 2027-02-05T00:00:00Z" in out
    stub = FakeAccounts(RotateKey=pb.RotatedKey(new_key=pb.CreatedKey(key=key(key_id="key_2"), secret="s"), old_key=key(revoked_at_ms=T0)))
    assert "old key key_1 has stopped working" in run(stub, "keys", "rotate", "key_1", "--grace", "-1")[1]
    assert stub.calls[0][1].grace_s == -1


def test_adjust_topup_balance() -> None:
    stub = FakeAccounts(Adjust=pb.Balance(account_id="acct_1", balance_micros=-500_000), TopUp=pb.Balance(balance_micros=3_750_000))
    _, out = run(stub, "adjust", "acct_1", "-1.50", "--reason", "chargeback", "--reference", "cb-1")
    request = stub.calls[0][1]
    assert (request.amount_micros, request.reason, request.reference) == (-1_500_000, "chargeback", "cb-1")
    assert out.strip() == "balance -$0.500000"
    assert json.loads(run(stub, "--json", "adjust", "acct_1", "2", "--reason", "refund")[1]) == {
        "account_id": "acct_1",
        "balance_micros": -500_000,
    }
    assert run(stub, "topup", "acct_1", "2.25")[1].strip() == "balance $3.750000"


def test_ledger_table_json_and_paging() -> None:
    entries = [
        pb.LedgerEntry(
            id=12,
            kind="usage",
            amount_micros=-1234,
            key_id="key_1",
            reference="usage:req_1",
            created_at_ms=T0 + 5000,
            effective_at_ms=T0 + 1000,
        ),
        pb.LedgerEntry(id=11, kind="adjustment", amount_micros=-1_500_000, reference="cb-1", note="charge back", created_at_ms=T0),
    ]
    stub = FakeAccounts(ListLedger=pb.ListLedgerResponse(entries=entries, balance_micros=8_498_766))
    _, out = run(stub, "ledger", "acct_1", "--limit", "2", "--before", "13")
    assert (stub.calls[0][1].limit, stub.calls[0][1].before_id) == (2, 13)
    lines = out.strip().splitlines()
    assert lines[0].split() == ["ID", "TIME", "KIND", "AMOUNT", "KEY", "REFERENCE", "NOTE"]
    assert lines[1].split() == ["12", "2026-01-01T00:00:01Z", "usage", "-$0.001234", "key_1", "usage:req_1", "-"]
    assert lines[2].split() == ["11", "2026-01-01T00:00:00Z", "adjustment", "-$1.500000", "-", "cb-1", "charge", "back"]
    assert lines[3:] == ["balance $8.498766", "(older entries: --before 11)"]
    data = json.loads(run(stub, "ledger", "acct_1", "--json")[1])
    assert data["balance_micros"] == 8_498_766 and [e["amount_micros"] for e in data["entries"]] == [-1234, -1_500_000]
    assert data["entries"][0]["effective_at_ms"] == T0 + 1000 and isinstance(data["entries"][0]["created_at_ms"], int)


def test_reconcile_json_and_exit_status(monkeypatch) -> None:
    rows = [
        (reconcile.RAW_COST, "2026-01-01", 100, 100),
        (reconcile.RAW_COST, "2026-01-02", 7, 7),
        ("cost: usage_daily (statement) vs ledger", "2026-01-02", 7, 5),
    ]
    monkeypatch.setattr(reconcile, "compare", lambda stub, url, account_id, days, credential: rows)
    code, out = run(FakeAccounts(), "--json", "reconcile", "acct_1", "--metering", "http://x")
    data = json.loads(out)
    assert (
        code == 1
        and data["ok"] is False
        and data["days"]
        == [
            {"day": "2026-01-01", "ledger_micros": 100, "metering_micros": 100, "diff_micros": 0},
            {"day": "2026-01-02", "ledger_micros": 7, "metering_micros": 7, "diff_micros": 0},
        ]
    )
    assert data["checks"][2] == {
        "what": "cost: usage_daily (statement) vs ledger",
        "period": "2026-01-02",
        "expected": 7,
        "metering": 5,
        "diff": 2,
    }
    code, out = run(FakeAccounts(), "reconcile", "acct_1", "--metering", "http://x")
    assert code == 1 and "DIFFERENCES FOUND" in out and "DIFFERENT: cost: usage_daily (statement) vs ledger" in out
    rows[2] = (rows[2][0], "2026-01-02", 7, 7)
    assert run(FakeAccounts(), "reconcile", "acct_1", "--metering", "http://x")[0] == 0


# -- main: errors and the credential on the wire ----------------------------------------


class Recorder(pb_grpc.AccountsServicer):
    def __init__(self):
        self.metadata: list[dict[str, str]] = []

    def GetBalance(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        if request.account_id == "acct_missing":
            context.abort(grpc.StatusCode.NOT_FOUND, "no account 'acct_missing'")
        return pb.Balance(account_id=request.account_id, balance_micros=1_000_000)


@pytest.fixture
def server():
    recorder = Recorder()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_AccountsServicer_to_server(recorder, srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    yield f"127.0.0.1:{port}", recorder
    srv.stop(None)


def test_main_sends_the_credential_and_reports_errors(server, monkeypatch, tmp_path, capsys) -> None:
    addr, recorder = server
    monkeypatch.delenv("TOLLGATE_API_KEY", raising=False)
    monkeypatch.setenv("TOLLGATE_ADMIN_TOKEN", "tga_admin")
    monkeypatch.setenv("TOLLGATE_DATA_DIR", str(tmp_path))
    assert cli.main(["--accounts", addr, "balance", "acct_1"]) == 0
    assert capsys.readouterr().out.strip() == "balance $1.000000"
    monkeypatch.setenv("TOLLGATE_API_KEY", "sk-user")
    assert cli.main(["--accounts", addr, "--json", "balance"]) == 0
    assert json.loads(capsys.readouterr().out) == {"account_id": "", "balance_micros": 1_000_000}
    assert cli.main(["--accounts", addr, "balance", "acct_missing", "--admin-token", "tga_flag"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == "error: no account 'acct_missing'" and not captured.out
    assert [m["authorization"] for m in recorder.metadata] == ["Bearer tga_admin", "Bearer sk-user", "Bearer tga_flag"]


def test_main_unreachable_service_is_an_error_not_a_traceback(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("TOLLGATE_ADMIN_TOKEN", "tga_admin")
    assert cli.main(["--accounts", "127.0.0.1:1", "accounts", "list"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_main_metering_unreachable_is_one_line(monkeypatch, capsys) -> None:
    def unreachable(*args):
        raise httpx.ConnectError("refused")

    monkeypatch.setattr(reconcile, "compare", unreachable)
    assert cli.main(["--accounts", "127.0.0.1:1", "--admin-token", "t", "reconcile", "acct_1", "--metering", "http://127.0.0.1:1"]) == 1
    assert capsys.readouterr().err == "error: metering unreachable (ConnectError)\n"
