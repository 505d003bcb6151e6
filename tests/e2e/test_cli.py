"""The operator CLI against the running accounts service."""

from __future__ import annotations

import re
import subprocess
import sys

import openai


def tollgate(stack, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tollgate.cli", "--accounts", stack.settings.accounts_addr, *args], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cli_account_key_topup_balance(stack):
    account_id = re.search(r"account (acct_\w+)", tollgate(stack, "account", "create", "cli-co", "--balance", "1.5")).group(1)
    created = tollgate(stack, "key", "create", account_id, "--name", "ci")
    secret = re.search(r"(sk-[A-Za-z0-9]{48})", created).group(1)
    assert "balance $3.750000" in tollgate(stack, "topup", account_id, "2.25", "--reference", "inv-1")
    assert "balance $3.750000" in tollgate(stack, "topup", account_id, "2.25", "--reference", "inv-1")  # same reference: once
    assert "balance $3.750000" in tollgate(stack, "balance", account_id)
    listing = tollgate(stack, "key", "list", account_id)
    assert secret[:10] in listing and secret not in listing and "active" in listing

    reply = openai.OpenAI(base_url=stack.edge_url, api_key=secret, max_retries=0).chat.completions.create(
        model="sim-1", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content


def test_cli_reports_errors_without_a_traceback(stack):
    out = subprocess.run(
        [sys.executable, "-m", "tollgate.cli", "--accounts", stack.settings.accounts_addr, "balance", "acct_missing"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 1
    assert "no account" in out.stderr and "Traceback" not in out.stderr
