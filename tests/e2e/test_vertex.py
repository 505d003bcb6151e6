"""Vertex AI channels end to end: the official openai, anthropic and google-genai SDKs call
the edge; it mints OAuth2 access tokens from service-account files (google-auth, against the
simulator's fake token endpoint, which checks the signed assertion) and calls the
simulator's Vertex mode, which accepts only those tokens, for a Gemini model (publisher
google) and a Claude model (publisher anthropic, rawPredict). Answers, streams, a tool
round trip and each class of failure, every request metered exactly once; and a token is
refreshed before it expires, without a request waiting for it.

A stack of its own (module scope): its simulator needs the test's service-account keys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from google.genai import errors as gerrors

from tests.e2e.clients import DRIVERS, EXPECTED_ARGS, MAX_TOKENS, QUESTION, SYSTEM, TOOL_RESULT
from tests.e2e.test_contract import TOOL_CALL_TOKENS, wait_for_usage, words
from tests.vertex_accounts import TOKEN_PATH, service_account, write_registry
from tollgate import credentials
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tools.provider_sim.app import answer_words
from tools.stack import Ports, Stack

CLIENTS = ("openai", "anthropic", "gemini")
PUBLISHERS = ("google", "anthropic")  # the upstream model's prefix picks the publisher
FAULTS = ("error-429", "error-500", "midstream-error")
PRICE = 'price = { input_per_mtok_micros = 3_000_000, output_per_mtok_micros = 7_000_000, version = "test-1" }'
WHOLE = {  # fault -> (status the client sees, exception per client protocol)
    "error-429": (429, {"openai": openai.RateLimitError, "anthropic": anthropic.RateLimitError, "gemini": gerrors.ClientError}),
    "error-500": (502, {"openai": openai.InternalServerError, "anthropic": anthropic.InternalServerError, "gemini": gerrors.ServerError}),
    "revoked": (502, {"openai": openai.InternalServerError, "anthropic": anthropic.InternalServerError, "gemini": gerrors.ServerError}),
}
MID_STREAM = {"openai": openai.APIError, "anthropic": anthropic.APIError, "gemini": gerrors.APIError}


def _model(name: str) -> str:
    return f'[[models]]\nid = "{name}"\n{PRICE}\n'


def _channel(cid: str, port: int, key_file: Path, models: dict[str, str]) -> str:
    mapping = ", ".join(f'"{m}" = "{u}"' for m, u in models.items())
    return (
        f'[[channels]]\nid = "{cid}"\nprovider = "vertex"\nbase_url = "http://127.0.0.1:{port}/vertex"\n'
        f'project = "tollgate-test"\nregion = "us-east5"\napi_key_file = "{key_file}"\nmodels = {{ {mapping} }}\n'
    )


class Vertex:
    def __init__(self, stack: Stack, accounts: pb_grpc.AccountsStub, emails: dict[str, str]) -> None:
        self.stack, self.accounts, self.emails = stack, accounts, emails
        self.sim = f"http://127.0.0.1:{stack.ports.sim}"

    # what test_contract's helpers and the SDK drivers read from a stack
    edge_url = property(lambda self: self.stack.edge_url)
    metering_url = property(lambda self: self.stack.metering_url)
    admin_headers = property(lambda self: self.stack.admin_headers)

    def new_account(self) -> tuple[str, str]:
        account = self.accounts.CreateAccount(pb.CreateAccountRequest(name="vertex", initial_balance_micros=5_000_000))
        key = self.accounts.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="k", rpm_limit=-1))
        return account.account_id, key.secret

    def tokens(self) -> dict:
        return httpx.get(f"{self.sim}/_sim/oauth2/stats", timeout=5).json()

    def driver(self, client: str, key: str, model: str):
        driver = DRIVERS[client](self, key)
        driver.model = model
        return driver


@pytest.fixture(scope="module")
def vertex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vertex]:
    data_dir = tmp_path_factory.mktemp("vertex-stack")
    ports = Ports.free()
    token_uri = f"http://127.0.0.1:{ports.sim}{TOKEN_PATH}"
    keys, emails, registry = {}, {}, {}
    for name in ("edge", "revoked", "refresh", "unknown"):
        keys[name], emails[name], public = service_account(data_dir, f"{name}-sa", token_uri)
        if name != "unknown":  # the token endpoint does not know this one's key
            registry[emails[name]] = public
    parts = ["[health]\ncooldown_s = 1\nmax_cooldown_s = 2\n"]

    def add(model: str, upstream: str, account: str) -> None:  # a model on a channel of its own
        parts.extend((_model(model), _channel(f"ch-{model}", ports.sim, keys[account], {model: upstream})))

    for publisher in PUBLISHERS:
        add(f"vertex-{publisher}", f"{publisher}/sim-1", "edge")
        for client in CLIENTS:
            for fault in FAULTS:
                add(f"{client}-vertex-{publisher}-{fault}", f"{publisher}/sim-{fault}", "edge")
            add(f"{client}-vertex-{publisher}-revoked", f"{publisher}/sim-1", "revoked")
    add("vertex-refresh", "sim-1", "refresh")
    add("vertex-unknown-sa", "anthropic/sim-1", "unknown")
    catalog = data_dir / "catalog.toml"
    catalog.write_text("\n".join(parts))
    env = {
        "SIM_VERTEX_ACCOUNTS": str(write_registry(data_dir / "vertex-accounts.json", registry)),
        "TOLLGATE_UPSTREAM_READ_TIMEOUT_S": "2",
        "TOLLGATE_METERING_BATCH_WAIT_S": "0.2",
        "TOLLGATE_LOG_LEVEL": "debug",
    }
    stack = Stack(data_dir=data_dir, ports=ports, catalog=catalog, extra_env=env, log_to_files=True)
    stack.start()
    try:
        with credentials.channel(stack.settings.accounts_addr, stack.settings.admin_credential) as channel:
            yield Vertex(stack, pb_grpc.AccountsStub(channel), emails)
    finally:
        stack.stop()
    logs = "".join(p.read_text(errors="replace") for p in data_dir.rglob("*.log"))
    assert "vertex" in logs and "PRIVATE KEY" not in logs and "ya29.sim-" not in logs  # neither the key nor a token is ever logged


def used_by(vertex: Vertex, account: str) -> list[int]:
    """The numbers of the tokens of a service account the simulator saw on model requests, in order."""
    return [u["token"] for u in vertex.tokens()["used"] if u["account"] == vertex.emails[account]]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("publisher", PUBLISHERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_answer(vertex: Vertex, client: str, publisher: str, stream: bool) -> None:
    account_id, key = vertex.new_account()
    before = len([u for u in vertex.tokens()["used"] if u["publisher"] == publisher])
    seen = vertex.driver(client, key, f"vertex-{publisher}").ask(DRIVERS[client](vertex, key).first_turn(), stream=stream, tools=False)
    assert seen.text == " ".join(answer_words(MAX_TOKENS))
    assert (seen.prompt_tokens, seen.completion_tokens) == (words(SYSTEM, QUESTION), MAX_TOKENS)
    assert len([u for u in vertex.tokens()["used"] if u["publisher"] == publisher]) == before + 1  # served by Vertex's endpoint
    stored = wait_for_usage(vertex, account_id, 1)
    assert (stored["requests"], stored["errors"]) == (1, 0)
    assert (stored["prompt_tokens"], stored["completion_tokens"]) == (seen.prompt_tokens, seen.completion_tokens)
    assert stored["cost_micros"] == -(-(seen.prompt_tokens * 3_000_000 + seen.completion_tokens * 7_000_000) // 1_000_000)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("publisher", PUBLISHERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_tool_round_trip(vertex: Vertex, client: str, publisher: str, stream: bool) -> None:
    account_id, key = vertex.new_account()
    driver = vertex.driver(client, key, f"vertex-{publisher}")
    first = driver.first_turn()
    call = driver.ask(first, stream=stream, tools=True)
    assert (call.tool_name, call.tool_args, call.finish) == ("get_weather", EXPECTED_ARGS, driver.finish_tool)
    assert (call.prompt_tokens, call.completion_tokens) == (words(SYSTEM, QUESTION), TOOL_CALL_TOKENS)
    answer = driver.ask(driver.second_turn(first), stream=stream, tools=True)
    assert answer.tool_name is None and answer.text == " ".join(answer_words(MAX_TOKENS))
    assert answer.prompt_tokens == words(SYSTEM, QUESTION, TOOL_RESULT)
    stored = wait_for_usage(vertex, account_id, 2)
    assert stored["requests"] == 2
    assert stored["prompt_tokens"] == call.prompt_tokens + answer.prompt_tokens


@pytest.mark.parametrize("fault", ["error-429", "error-500"])
@pytest.mark.parametrize("publisher", PUBLISHERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_upstream_error(vertex: Vertex, client: str, publisher: str, fault: str) -> None:
    account_id, key = vertex.new_account()
    status, classes = WHOLE[fault]
    driver = vertex.driver(client, key, f"{client}-vertex-{publisher}-{fault}")
    with pytest.raises(classes[client]) as err:
        driver.ask(driver.first_turn(), stream=False, tools=False)
    assert (getattr(err.value, "status_code", None) or getattr(err.value, "code", None)) == status
    if fault == "error-429" and client != "gemini":  # google-genai does not expose response headers on errors
        assert err.value.response.headers.get("retry-after") == "1"
    stored = wait_for_usage(vertex, account_id, 1)
    assert (stored["requests"], stored["errors"], stored["cost_micros"]) == (1, 1, 0)


@pytest.mark.parametrize("publisher", PUBLISHERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_mid_stream_break(vertex: Vertex, client: str, publisher: str) -> None:
    account_id, key = vertex.new_account()
    driver = vertex.driver(client, key, f"{client}-vertex-{publisher}-midstream-error")
    with pytest.raises(MID_STREAM[client]):
        driver.ask(driver.first_turn(), stream=True, tools=False)
    stored = wait_for_usage(vertex, account_id, 1)
    assert (stored["requests"], stored["errors"]) == (1, 1)
    assert stored["completion_tokens"] > 0  # what was delivered before the break is billed


@pytest.mark.parametrize("publisher", PUBLISHERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_refused_token_is_an_auth_failure(vertex: Vertex, client: str, publisher: str) -> None:
    """The channel's cached token is revoked upstream: Vertex answers 401, the client gets the
    door's upstream error (metered: an upstream was reached) and the token is dropped."""
    account_id, key = vertex.new_account()
    model = f"{client}-vertex-{publisher}-revoked"
    driver = vertex.driver(client, key, model)
    assert driver.ask(driver.first_turn(), stream=False, tools=False).text  # mints and caches the channel's token
    refused_before = vertex.tokens()["refused"]
    httpx.post(f"{vertex.sim}/_sim/oauth2/revoke", json={"account": vertex.emails["revoked"]}, timeout=5)
    status, classes = WHOLE["revoked"]
    with pytest.raises(classes[client]) as err:
        driver.ask(driver.first_turn(), stream=False, tools=False)
    assert (getattr(err.value, "status_code", None) or getattr(err.value, "code", None)) == status
    assert vertex.tokens()["refused"] == refused_before + 1
    stored = wait_for_usage(vertex, account_id, 2)
    assert (stored["requests"], stored["errors"]) == (2, 1)


def test_a_credential_the_token_endpoint_refuses(vertex: Vertex) -> None:
    """No token, no upstream call: a clear error, nothing metered, nothing secret in it."""
    account_id, key = vertex.new_account()
    minted = vertex.tokens()["minted"]
    r = httpx.post(
        f"{vertex.edge_url}/chat/completions",
        json={"model": "vertex-unknown-sa", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert r.status_code == 503 and r.json()["error"]["code"] == "no_usable_channel"
    assert "no access token" in r.json()["error"]["message"] and "PRIVATE KEY" not in r.text
    assert vertex.tokens()["minted"] == minted
    time.sleep(1.0)
    assert wait_for_usage(vertex, account_id, 1, timeout=1)["requests"] == 0


def test_token_is_refreshed_before_it_expires(vertex: Vertex) -> None:
    """Tokens of 6 s: a request past half their life goes out at once with the current token
    and starts a refresh; the next one carries the new token, minted before the old expired."""
    httpx.post(f"{vertex.sim}/_sim/oauth2/lifetime", json={"seconds": 6, "account": vertex.emails["refresh"]}, timeout=5)
    account_id, key = vertex.new_account()
    driver = vertex.driver("openai", key, "vertex-refresh")
    started = time.monotonic()
    refused = vertex.tokens()["refused"]

    def ask_at(t: float) -> None:
        time.sleep(max(0.0, started + t - time.monotonic()))
        assert driver.ask(driver.first_turn(), stream=False, tools=False).text

    ask_at(0)  # mints token A (lives until 6 s; refresh from 3 s)
    ask_at(3.5)  # A is still valid: sent with A, refresh to B starts
    ask_at(4.5)  # B
    assert time.monotonic() - started < 5.4, "the machine was too slow for this test's timing"
    ask_at(6.5)  # A has expired by now: B, nothing waited or was refused
    tokens = used_by(vertex, "refresh")
    assert len(tokens) == 4 and tokens[0] == tokens[1] != tokens[2] == tokens[3]
    assert vertex.tokens()["refused"] == refused
    assert wait_for_usage(vertex, account_id, 4)["requests"] == 4
