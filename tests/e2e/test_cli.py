"""The operator CLI against the running accounts service.

The CLI runs with the stack's environment, so it finds the admin credential exactly as the
services do (TOLLGATE_ADMIN_TOKEN, or the token file in the stack's data dir); a user key is
passed as TOLLGATE_API_KEY."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
import time

import openai
import pytest


def cli(stack, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in stack.env().items() if k != "TOLLGATE_API_KEY"} | env
    return subprocess.run(
        [sys.executable, "-m", "tollgate.cli", "--accounts", stack.settings.accounts_addr, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=environ,
    )


def tollgate(stack, *args: str, **env: str) -> str:
    out = cli(stack, *args, **env)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return out.stdout


def tollgate_json(stack, *args: str, **env: str):
    return json.loads(tollgate(stack, "--json", *args, **env))


def fails(stack, *args: str, **env: str) -> str:
    """The error line of a command that must fail cleanly."""
    out = cli(stack, *args, **env)
    assert out.returncode == 1, out.stdout
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    return out.stderr


def chat(stack, key: str) -> str:
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    return (
        client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=5).choices[0].message.content
    )


def new_account(stack, name: str, balance: str = "5") -> str:
    return tollgate_json(stack, "accounts", "create", name, "--balance", balance, "--no-trial")["account_id"]


def test_cli_account_key_topup_balance(stack):  # the old singular spellings still work
    account_id = re.search(r"account (acct_\w+)", tollgate(stack, "account", "create", "cli-co", "--balance", "1.5", "--no-trial")).group(1)
    created = tollgate(stack, "key", "create", account_id, "--name", "ci")
    secret = re.search(r"(sk-[A-Za-z0-9]{48})", created).group(1)
    assert "shown once" in created
    assert "balance $3.750000" in tollgate(stack, "topup", account_id, "2.25", "--reference", "inv-1")
    assert "balance $3.750000" in tollgate(stack, "topup", account_id, "2.25", "--reference", "inv-1")  # same reference: once
    assert "balance $3.750000" in tollgate(stack, "balance", account_id)
    listing = tollgate(stack, "key", "list", account_id)
    assert secret[:10] in listing and secret not in listing and "active" in listing
    assert chat(stack, secret)


def test_cli_reports_errors_without_a_traceback(stack):
    assert "no account" in fails(stack, "balance", "acct_missing")
    assert fails(stack, "accounts", "list", "--admin-token", "tga_not-the-token")  # a wrong credential is refused


def test_cli_admin_credential_sources(stack, admin_token, tmp_path):
    elsewhere = {"TOLLGATE_DATA_DIR": str(tmp_path)}  # another installation's token file: refused
    assert fails(stack, "accounts", "list", "--limit", "1", **elsewhere)
    assert (tmp_path / "admin-token").read_text().strip() != admin_token
    assert tollgate_json(stack, "accounts", "list", "--limit", "1", "--admin-token", admin_token, **elsewhere)["accounts"]
    assert tollgate_json(stack, "accounts", "list", "--limit", "1", TOLLGATE_ADMIN_TOKEN=admin_token, **elsewhere)["accounts"]


def test_cli_accounts_create_list_show_suspend_activate(stack):
    created = tollgate_json(stack, "accounts", "create", "cli-accounts", "--balance", "2", "--require-zdr", "--no-trial")
    account_id = created["account_id"]
    assert (created["name"], created["balance_micros"], created["require_zdr"], created["status"]) == (
        "cli-accounts",
        2_000_000,
        True,
        "active",
    )
    assert isinstance(created["created_at_ms"], int) and abs(created["created_at_ms"] - time.time() * 1000) < 60_000

    listed, after = {}, ""
    while account_id not in listed:  # page through every account (ids are not in creation order)
        page = tollgate_json(stack, "accounts", "list", "--limit", "50", *(["--after", after] if after else []))["accounts"]
        assert page, f"{account_id} not listed"
        assert [a["account_id"] for a in page] == sorted(a["account_id"] for a in page) and page[0]["account_id"] > after
        listed |= {a["account_id"]: a for a in page}
        after = page[-1]["account_id"]
    assert listed[account_id] == created
    table = tollgate(stack, "accounts", "list").splitlines()
    assert table[0].split() == ["ACCOUNT", "NAME", "STATUS", "BALANCE", "ZDR", "CREATED"]

    assert (
        tollgate(stack, "accounts", "suspend", account_id, "--reason", "unpaid invoice").strip()
        == f"account {account_id} is suspended (unpaid invoice)"
    )
    shown = tollgate_json(stack, "accounts", "show", account_id)
    assert (shown["status"], shown["status_reason"], shown["balance_micros"]) == ("suspended", "unpaid invoice", 2_000_000)
    assert tollgate(stack, "account", "activate", account_id).strip() == f"account {account_id} is active"
    assert tollgate_json(stack, "accounts", "show", account_id)["status"] == "active"
    assert "suspended" not in tollgate(stack, "accounts", "show", account_id)
    assert "no account" in fails(stack, "accounts", "suspend", "acct_missing", "--reason", "x")


def test_cli_suspended_account_is_refused_at_the_edge(stack):
    account_id = new_account(stack, "cli-suspend")
    secret = tollgate_json(stack, "keys", "create", account_id, "--rpm", "-1")["secret"]
    assert chat(stack, secret)
    tollgate(stack, "accounts", "suspend", account_id, "--reason", "fraud review")
    deadline = time.monotonic() + 5
    while True:
        try:
            chat(stack, secret)
        except openai.PermissionDeniedError as err:
            assert err.body["code"] == "account_suspended" and "fraud review" in err.body["message"]
            break
        assert time.monotonic() < deadline, "a suspended account still gets answers after 5 s"
        time.sleep(0.2)
    tollgate(stack, "accounts", "activate", account_id)
    deadline = time.monotonic() + 5
    while True:
        try:
            assert chat(stack, secret)
            break
        except openai.PermissionDeniedError:
            assert time.monotonic() < deadline, "a reactivated account is still refused after 5 s"
            time.sleep(0.2)


def test_cli_keys_create_rotate_revoke_list(stack):
    account_id = new_account(stack, "cli-keys")
    created = tollgate_json(
        stack,
        "keys",
        "create",
        account_id,
        "--name",
        "svc",
        "--models",
        "sim-1",
        "--rpm",
        "-1",
        "--tpm",
        "100000",
        "--cap-day",
        "1",
        "--cap-month",
        "20",
        "--expires-in-days",
        "30",
    )
    key, secret = created["key"], created["secret"]
    assert re.fullmatch(r"sk-[A-Za-z0-9]{48}", secret) and secret.startswith(key["prefix"])
    assert (key["name"], key["allowed_models"], key["tpm_limit"]) == ("svc", ["sim-1"], 100_000)
    assert (key["spend_cap_day_micros"], key["spend_cap_month_micros"]) == (1_000_000, 20_000_000)
    assert abs(key["expires_at_ms"] - (time.time() + 30 * 86400) * 1000) < 60_000
    assert chat(stack, secret)

    rotated = tollgate(stack, "keys", "rotate", key["key_id"], "--grace", "600")
    new_secret = re.search(r"^(sk-[A-Za-z0-9]{48})$", rotated, re.M).group(1)
    assert new_secret != secret and rotated.count(new_secret) == 1 and "shown once" in rotated
    until = re.search(rf"old key {key['key_id']} stops working at (\S+)", rotated).group(1)
    assert abs(datetime.datetime.strptime(until, "%Y-%m-%dT%H:%M:%S%z").timestamp() - (time.time() + 600)) < 60
    assert chat(stack, new_secret) and chat(stack, secret)  # the old key works during the grace period

    keys = {k["key_id"]: k for k in tollgate_json(stack, "keys", "list", account_id)["keys"]}
    assert len(keys) == 2 and key["key_id"] in keys
    new = next(k for k in keys.values() if k["key_id"] != key["key_id"])
    assert new["prefix"] == new_secret[:10] and (new["allowed_models"], new["tpm_limit"], new["spend_cap_day_micros"]) == (
        ["sim-1"],
        100_000,
        1_000_000,
    )
    assert abs(keys[key["key_id"]]["expires_at_ms"] - (time.time() + 600) * 1000) < 60_000

    assert tollgate(stack, "keys", "revoke", new["key_id"]).strip() == f"key {new['key_id']} revoked"
    table = tollgate(stack, "keys", "list", account_id)
    rows = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert " revoked " in rows[new["key_id"]] and " active " in rows[key["key_id"]] and new_secret not in table
    deadline = time.monotonic() + 5
    while True:  # every edge drops a revoked key within a second
        try:
            chat(stack, new_secret)
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)

    at_once = tollgate_json(stack, "keys", "rotate", key["key_id"], "--grace", "-1")
    old = at_once["old_key"]
    assert old["revoked_at_ms"] or 0 < old["expires_at_ms"] <= time.time() * 1000 + 1000
    status = {line.split()[0]: line.split()[3] for line in tollgate(stack, "keys", "list", account_id).splitlines()[1:]}
    assert status[key["key_id"]] in ("expired", "revoked") and list(status.values()).count("active") == 1
    assert "no key" in fails(stack, "keys", "revoke", "key_missing")


def test_cli_adjust_and_ledger_json(stack):
    account_id = new_account(stack, "cli-ledger", balance="10")
    tollgate(stack, "topup", account_id, "2.5", "--reference", "inv-7")
    assert tollgate(stack, "adjust", account_id, "-1.50", "--reason", "chargeback", "--reference", "cb-1").strip() == "balance $11.000000"
    assert (
        tollgate(stack, "adjust", account_id, "-1.50", "--reason", "chargeback", "--reference", "cb-1").strip() == "balance $11.000000"
    )  # once
    assert tollgate(stack, "adjust", account_id, "--reason", "goodwill", "--", "0.25").strip() == "balance $11.250000"
    assert tollgate(stack, "adjust", account_id, "=-0.05", "--reason", "rounding").strip() == "balance $11.200000"
    assert "reason" in fails(stack, "adjust", account_id, "1", "--reason", "")
    assert fails(stack, "adjust", account_id, "0", "--reason", "nothing")

    ledger = tollgate_json(stack, "ledger", account_id)
    balance = tollgate_json(stack, "balance", account_id)
    assert ledger["balance_micros"] == balance["balance_micros"] == 11_200_000
    entries = ledger["entries"]
    assert sum(e["amount_micros"] for e in entries) == ledger["balance_micros"]
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)  # newest first
    assert [(e["kind"], e["amount_micros"], e["note"]) for e in entries] == [
        ("adjustment", -50_000, "rounding"),
        ("adjustment", 250_000, "goodwill"),
        ("adjustment", -1_500_000, "chargeback"),
        ("topup", 2_500_000, ""),
        ("credit", 10_000_000, ""),
    ]
    assert all(isinstance(e["created_at_ms"], int) and abs(e["created_at_ms"] - time.time() * 1000) < 120_000 for e in entries)

    page = tollgate_json(stack, "ledger", account_id, "--limit", "2", "--before", str(entries[1]["id"]))["entries"]
    assert [e["id"] for e in page] == [e["id"] for e in entries[2:4]]
    table = tollgate(stack, "ledger", account_id, "--limit", "2")
    assert table.splitlines()[0].split() == ["ID", "TIME", "KIND", "AMOUNT", "KEY", "REFERENCE", "NOTE"]
    assert "-$0.050000" in table and "balance $11.200000" in table and f"--before {entries[1]['id']}" in table


def test_cli_user_key_manages_only_its_own_account(stack):
    own = new_account(stack, "cli-user")
    other = new_account(stack, "cli-other")
    secret = tollgate_json(stack, "keys", "create", own, "--name", "first", "--rpm", "-1")["secret"]
    as_user = {"TOLLGATE_API_KEY": secret, "TOLLGATE_ADMIN_TOKEN": "", "TOLLGATE_DATA_DIR": str(stack.data_dir / "no-such-dir")}

    second = tollgate_json(stack, "keys", "create", own, "--name", "second", **as_user)
    assert second["key"]["account_id"] == own
    for args in (("keys", "list", own), ("keys", "list")):  # the account may be left out with a user key
        assert {k["name"] for k in tollgate_json(stack, *args, **as_user)["keys"]} == {"first", "second"}
    assert tollgate_json(stack, "balance", **as_user)["balance_micros"] == 5_000_000
    assert tollgate_json(stack, "ledger", own, **as_user)["balance_micros"] == 5_000_000
    tollgate(stack, "keys", "revoke", second["key"]["key_id"], **as_user)

    other_key = tollgate_json(stack, "keys", "create", other)["key"]["key_id"]
    fails(stack, "keys", "list", other, **as_user)
    fails(stack, "keys", "create", other, **as_user)
    fails(stack, "keys", "revoke", other_key, **as_user)
    fails(stack, "balance", other, **as_user)
    fails(stack, "ledger", other, **as_user)
    for admin_only in (
        ("topup", own, "1"),
        ("adjust", own, "1", "--reason", "x"),
        ("accounts", "list"),
        ("accounts", "suspend", own, "--reason", "x"),
    ):
        fails(stack, *admin_only, **as_user)
    assert tollgate_json(stack, "balance", own)["balance_micros"] == 5_000_000  # nothing a user tried moved money
    assert [k["revoked_at_ms"] > 0 for k in tollgate_json(stack, "keys", "list", other)["keys"]] == [False]
    assert not (stack.data_dir / "no-such-dir").exists()  # a user key never needs the admin token


@pytest.mark.parametrize("args", [("keys", "list", "acct_missing"), ("ledger", "acct_missing")])
def test_cli_json_errors_are_still_plain(stack, args):
    assert "no account" in fails(stack, "--json", *args)
