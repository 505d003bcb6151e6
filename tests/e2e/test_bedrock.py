"""Bedrock channels end to end, beyond the contract matrix (``test_contract.py`` and
``test_error_contract.py`` run bedrock as an upstream for every SDK door: whole, stream, a
tool round trip, 400/401/429/500 and both mid-stream breaks). Here: a channel whose AWS
secret is wrong is refused by the simulator's SigV4 check and the client gets its door's
error; and every failure, from every door, is metered exactly once with what the client saw."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import pytest
from google.genai import errors as gerrors

from tests.e2e.clients import DRIVERS
from tests.e2e.test_responses import create
from tools.provider_sim.app import answer_words
from tools.stack import SIM_AWS_KEY

CLIENTS = ("openai", "anthropic", "gemini")
AUTH_FAILED = {"openai": openai.InternalServerError, "anthropic": anthropic.InternalServerError, "gemini": gerrors.ServerError}
BROKEN = {"openai": openai.APIError, "anthropic": anthropic.APIError, "gemini": gerrors.APIError}


def metered(stack, account_id: str, settle_s: float = 1.0, timeout: float = 15.0) -> list[dict]:
    """The account's usage rows, once one has arrived and no other for ``settle_s``."""
    deadline, rows = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        r = httpx.get(f"{stack.metering_url}/v1/requests", params={"account_id": account_id}, headers=stack.admin_headers, timeout=10)
        rows = r.json()["data"]
        if rows:
            time.sleep(settle_s)
            return httpx.get(
                f"{stack.metering_url}/v1/requests", params={"account_id": account_id}, headers=stack.admin_headers, timeout=10
            ).json()["data"]
        time.sleep(0.1)
    return rows


def metered_n(stack, account_id: str, n: int, timeout: float = 15.0) -> list[dict]:
    """The account's usage rows once ``n`` have arrived, read again a second later (no more may come)."""
    deadline = time.monotonic() + timeout
    while len(metered(stack, account_id, settle_s=0)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    return metered(stack, account_id, settle_s=0)


def sim_requests(stack, model: str) -> int:
    return httpx.get(f"{stack.sim_url.removesuffix('/v1')}/_sim/stats", timeout=5).json()["requests"].get(model, 0)


@pytest.mark.parametrize("client", CLIENTS)
def test_wrong_aws_secret_is_refused_by_the_signature_check(stack, new_account, client):
    account_id, key = new_account()
    driver = DRIVERS[client](stack, key)
    driver.model = f"{client}-bedrock-bad-signature"
    before = sim_requests(stack, "sim-1")
    with pytest.raises(AUTH_FAILED[client]) as err:
        driver.ask(driver.first_turn(), stream=False, tools=False)
    assert (getattr(err.value, "status_code", None) or getattr(err.value, "code", None)) == 502
    assert "wrong-secret" not in str(err.value)
    (row,) = metered(stack, account_id)
    assert (row["status"], row["provider"], row["channel_id"]) == (502, "bedrock", f"bad-sig-{client}")
    assert row["completion_tokens"] == 0 and row["cost_micros"] == 0
    assert sim_requests(stack, "sim-1") == before  # refused at the signature: never admitted as a request for the model


# mode -> (stream?, the status the usage row records)
FAILURES = {"error-429": (False, 429), "error-500": (False, 502), "error-400": (False, 400), "midstream-error": (True, 502)}


@pytest.mark.parametrize("mode", sorted(FAILURES))
@pytest.mark.parametrize("client", CLIENTS)
def test_each_failure_is_metered_once(stack, new_account, client, mode):
    account_id, key = new_account()
    driver = DRIVERS[client](stack, key)
    driver.model = f"{client}-bedrock-{mode}"
    stream, status = FAILURES[mode]
    with pytest.raises(BROKEN[client]):
        driver.ask(driver.first_turn(), stream=stream, tools=False)
    (row,) = metered(stack, account_id)
    assert (row["status"], row["provider"], row["attempts"]) == (status, "bedrock", 1)
    if mode == "midstream-error":  # three words reached the client before the exception frame: billed (estimated, per event)
        assert row["completion_tokens"] >= 3 and row["cost_micros"] > 0


@pytest.mark.parametrize("client", CLIENTS)
def test_whole_and_stream_are_metered_once_with_bedrocks_counts(stack, new_account, client):
    account_id, key = new_account()
    driver = DRIVERS[client](stack, key)
    driver.model = "contract-bedrock"
    whole = driver.ask(driver.first_turn(), stream=False, tools=False)
    streamed = driver.ask(driver.first_turn(), stream=True, tools=False)
    assert (whole.prompt_tokens, whole.completion_tokens) == (streamed.prompt_tokens, streamed.completion_tokens)
    rows = metered_n(stack, account_id, 2)
    assert sorted(bool(r["stream"]) for r in rows) == [False, True]
    assert all((r["status"], r["provider"], r["prompt_tokens"], r["completion_tokens"]) == (200, "bedrock", 9, 5) for r in rows)


def test_no_aws_secret_reaches_a_log(stack, new_account):
    """After this module's traffic (signed requests, a refused signature): no service logged an
    AWS secret access key, the wrong one, or the simulator's signature diagnostics of them."""
    _, key = new_account()
    driver = DRIVERS["openai"](stack, key)
    driver.model = "contract-bedrock"
    driver.ask(driver.first_turn(), stream=True, tools=False)
    logs = list((stack.data_dir / "logs").glob("*.log"))
    assert logs
    text = "".join(p.read_text(errors="replace") for p in logs)
    for secret in (SIM_AWS_KEY.split(":")[1], "wrong-secret"):
        assert secret not in text


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_legacy_completions_and_responses_doors_reach_bedrock(stack, new_account, stream):
    """The other OpenAI doors translate through the same canonical form to Converse."""
    account_id, key = new_account()
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    done = client.completions.create(model="contract-bedrock", prompt="def fibonacci(n):", max_tokens=4, stream=stream)
    text = "".join(c.choices[0].text for c in done if c.choices) if stream else done.choices[0].text
    assert text == " ".join(answer_words(4))
    response = create(client, stream=stream, model="contract-bedrock", input="What is the weather", max_output_tokens=3)
    assert (response.status, response.output_text) == ("completed", " ".join(answer_words(3)))
    assert (response.usage.input_tokens, response.usage.output_tokens) == (4, 3)
    rows = metered_n(stack, account_id, 2)
    assert sorted((r["endpoint"], r["status"], r["completion_tokens"]) for r in rows) == [("completions", 200, 4), ("responses", 200, 3)]
