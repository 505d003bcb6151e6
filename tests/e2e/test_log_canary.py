"""Canaries: a prompt string sent through every public endpoint (streaming or not, answered,
refused or broken), an API key that fails authentication, the provider secret and a console
user's password (with the session, CSRF and mailed tokens of that user's walk) must
appear in no log line (at debug level), no NATS or ClickHouse file, no accounts database
(where a ticket naming every request keeps their technical metadata) and no exported span.
The logs themselves are JSON lines; the edge's carry the request id and the trace id."""

from __future__ import annotations

import io
import json
import re
import secrets
import time
import wave
from typing import NamedTuple

import httpx
import pytest

from tests.e2e import busutil
from tests.e2e.identity_util import identity_walk
from tests.e2e.otlp import Collector
from tollgate import credentials
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tools.provider_sim.media import png
from tools.stack import ROOT, Ports, Stack

PYTHON_SERVICES = ("accounts", "router", "metering", "edge", "edge2")
PRICE = 'price = { input_per_mtok_micros = 1_000_000, output_per_mtok_micros = 1_000_000, version = "canary" }'
# Upstreams of every protocol (translated and passed through) and an upstream that refuses the request.
EXTRA_CATALOG = f"""
[[models]]
id = "canary-claude"
{PRICE}
[[models]]
id = "canary-gemini"
{PRICE}
[[models]]
id = "canary-400"
{PRICE}
[[channels]]
id = "canary-anthropic"
provider = "anthropic"
base_url = "http://127.0.0.1:${{TOLLGATE_SIM_PORT}}/anthropic"
api_key_env = "TOLLGATE_SIM_KEY"
models = {{ "canary-claude" = "sim-1" }}
[[channels]]
id = "canary-google"
provider = "gemini"
base_url = "http://127.0.0.1:${{TOLLGATE_SIM_PORT}}/gemini"
api_key_env = "TOLLGATE_SIM_KEY"
models = {{ "canary-gemini" = "sim-1" }}
[[channels]]
id = "canary-refuses"
provider = "simulator"
base_url = "http://127.0.0.1:${{TOLLGATE_SIM_PORT}}/v1"
api_key_env = "TOLLGATE_SIM_KEY"
models = {{ "canary-400" = "sim-error-400" }}
"""
# Azure (its api-key header carries the provider-key canary) and Cohere's native rerank/embed.
EXTRA_CATALOG += "".join(
    f'[[models]]\nid = "{m}"\n{PRICE}\n' for m in ("canary-azure", "canary-azure-400", "canary-rerank", "canary-embed")
)
EXTRA_CATALOG += """[[channels]]
id = "canary-azure"
provider = "azure"
base_url = "http://127.0.0.1:${TOLLGATE_SIM_PORT}/azure"
api_version = "2024-10-21"
api_key_env = "TOLLGATE_SIM_KEY"
models = { "canary-azure" = "sim-1", "canary-azure-400" = "sim-error-400" }
[[channels]]
id = "canary-cohere"
provider = "cohere"
base_url = "http://127.0.0.1:${TOLLGATE_SIM_PORT}/cohere"
api_key_env = "TOLLGATE_SIM_KEY"
models = { "canary-rerank" = "sim-rerank", "canary-embed" = "sim-embed" }
"""


def _canary(kind: str) -> str:
    return f"canary{kind}{secrets.token_hex(12)}"


@pytest.fixture(scope="module")
def canaries() -> dict[str, str]:
    return {
        "prompt": _canary("prompt"),
        "api_key": "sk-" + _canary("key"),
        "provider_key": _canary("provider"),
        "webhook_secret": "whsec_" + _canary("webhook"),  # the payment webhook's signing secret
        "code_guess": _canary("code"),  # a wrong redemption code typed on the Billing page
        "password": _canary("password"),
    }


@pytest.fixture(scope="module")
def canary_stack(tmp_path_factory, canaries):
    collector = Collector("http/protobuf").start()
    data_dir = tmp_path_factory.mktemp("canary")
    catalog = data_dir / "catalog.toml"
    catalog.write_text(
        (ROOT / "tests" / "data" / "catalog.toml").read_text()
        + EXTRA_CATALOG
        + (ROOT / "tests" / "data" / "catalog_media.toml").read_text()
    )
    env = {
        **collector.env(),
        "TOLLGATE_LOG_LEVEL": "debug",
        "TOLLGATE_SIM_KEY": canaries["provider_key"],  # every channel's upstream secret (the simulator takes any)
        "TOLLGATE_PAYMENT_WEBHOOK_SECRET": canaries["webhook_secret"],
        "TOLLGATE_METERING_BATCH_WAIT_S": "0.2",
        "TOLLGATE_UPSTREAM_READ_TIMEOUT_S": "2",
    }
    stack = Stack(data_dir=data_dir, ports=Ports.free(), catalog=catalog, extra_env=env, log_to_files=True)
    stack.start()
    try:
        yield stack, collector
    finally:
        stack.stop()
        collector.stop()


def _key(stack: Stack) -> str:
    with credentials.channel(stack.settings.accounts_addr, stack.settings.admin_credential) as channel:
        stub = pb_grpc.AccountsStub(channel)
        account = stub.CreateAccount(pb.CreateAccountRequest(name="canary", initial_balance_micros=50_000_000))
        return stub.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="k", rpm_limit=-1)).secret


class Form(NamedTuple):
    """A multipart upload: its text fields and its files (name -> (filename, bytes, type))."""

    fields: dict[str, str]
    files: dict[str, tuple[str, bytes, str]]


def _uploads(canary: str) -> list[tuple[str, str, Form, int | None]]:
    """Uploads whose bytes, file names and fields carry the canary (streamed to the upstream, never kept)."""
    samples = (canary.encode() * 4000)[: 2 * 16_000]  # a second of "audio" that is the canary's bytes
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(samples)
    audio = out.getvalue()
    image = png(16, 16, (9, 9, 9)) + canary.encode()  # a PNG with trailing bytes: still a PNG to the simulator
    t, e = "/v1/audio/transcriptions", "/v1/images/edits"
    return [
        (
            "transcription, srt",
            t,
            Form({"model": "whisper-1", "prompt": canary, "response_format": "srt"}, {"file": (f"{canary}.wav", audio, "audio/wav")}),
            200,
        ),
        (
            "translation, verbose",
            "/v1/audio/translations",
            Form({"model": "whisper-1", "response_format": "verbose_json"}, {"file": ("a.wav", audio, "audio/wav")}),
            200,
        ),
        (
            "transcription the upstream refuses",
            t,
            Form({"model": "whisper-1"}, {"file": ("a.mp3", canary.encode() * 100, "audio/mpeg")}),
            400,
        ),
        (
            "transcription of a bad format",
            t,
            Form({"model": "whisper-1", "response_format": canary}, {"file": ("a.wav", audio, "audio/wav")}),
            400,
        ),
        (
            "image edit",
            e,
            Form(
                {"model": "image-1", "prompt": canary, "size": "256x256"},
                {"image": (f"{canary}.png", image, "image/png"), "mask": ("m.png", image, "image/png")},
            ),
            200,
        ),
    ]


def _calls(canary: str) -> list[tuple[str, str, dict | bytes, int | None]]:
    """(name, path, body, expected status or None) for every public endpoint, with the canary as content."""

    def chat(model, **kw):
        return {"model": model, "messages": [{"role": "user", "content": f"say {canary}"}], "max_tokens": 4, **kw}

    def msgs(model, **kw):
        return {"model": model, "max_tokens": 4, "system": canary, "messages": [{"role": "user", "content": canary}], **kw}

    gem = {
        "contents": [{"role": "user", "parts": [{"text": canary}]}],
        "systemInstruction": {"parts": [{"text": canary}]},
        "generationConfig": {"maxOutputTokens": 4},
    }
    g = "/gemini/v1beta/models/"
    return [
        ("openai chat", "/v1/chat/completions", chat("sim-1"), 200),
        ("openai chat stream", "/v1/chat/completions", chat("sim-1", stream=True, stream_options={"include_usage": True}), 200),
        ("openai chat -> anthropic", "/v1/chat/completions", chat("canary-claude"), 200),
        ("openai chat stream -> gemini", "/v1/chat/completions", chat("canary-gemini", stream=True), 200),
        (
            "openai chat, tools",
            "/v1/chat/completions",
            chat(
                "sim-1",
                tools=[
                    {
                        "type": "function",
                        "function": {
                            "name": "f",
                            "description": canary,
                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                        },
                    }
                ],
            ),
            200,
        ),
        ("embeddings", "/v1/embeddings", {"model": "embed-1", "input": [canary, f"{canary} again"]}, 200),
        (
            "rerank",
            "/v1/rerank",
            {"model": "rerank-1", "query": canary, "documents": [canary, "other"], "top_n": 1, "return_documents": True},
            200,
        ),
        ("images", "/v1/images/generations", {"model": "image-1", "prompt": canary, "size": "256x256", "n": 2}, 200),
        (
            "images, url answer",
            "/v1/images/generations",
            {"model": "image-1", "prompt": canary, "size": "256x256", "response_format": "url"},
            200,
        ),
        ("images of a bad size", "/v1/images/generations", {"model": "image-1", "prompt": canary, "size": canary}, 400),
        ("speech", "/v1/audio/speech", {"model": "tts-1", "voice": "alloy", "input": canary, "response_format": "wav"}, 200),
        (
            "speech the upstream refuses",
            "/v1/audio/speech",
            {"model": "tts-1", "voice": canary, "input": canary, "response_format": "opus"},
            400,
        ),
        ("moderations", "/v1/moderations", {"model": "moderation-1", "input": [canary, f"{canary} kill"]}, 200),
        ("azure chat", "/v1/chat/completions", chat("canary-azure"), 200),
        ("azure chat stream", "/v1/chat/completions", chat("canary-azure", stream=True), 200),
        ("anthropic messages -> azure", "/v1/messages", msgs("canary-azure"), 200),
        ("azure content filter", "/v1/chat/completions", chat("canary-azure-400"), 400),
        ("cohere embed", "/v1/embeddings", {"model": "canary-embed", "input": [canary]}, 200),
        ("cohere rerank", "/v1/rerank", {"model": "canary-rerank", "query": canary, "documents": [canary], "return_documents": True}, 200),
        ("anthropic messages", "/v1/messages", msgs("canary-claude"), 200),
        ("anthropic messages stream", "/v1/messages", msgs("canary-claude", stream=True), 200),
        ("anthropic messages -> openai", "/v1/messages", msgs("sim-1"), 200),
        ("anthropic count_tokens", "/v1/messages/count_tokens", {"model": "sim-1", "messages": [{"role": "user", "content": canary}]}, 200),
        ("gemini generateContent", g + "canary-gemini:generateContent", gem, 200),
        ("gemini streamGenerateContent", g + "canary-gemini:streamGenerateContent?alt=sse", gem, 200),
        ("gemini generateContent -> openai", g + "sim-1:generateContent", gem, 200),
        ("gemini embedContent", g + "embed-1:embedContent", {"content": {"parts": [{"text": canary}]}}, 200),
        ("gemini countTokens", g + "sim-1:countTokens", gem, 200),
        ("responses", "/v1/responses", {"model": "sim-1", "instructions": canary, "input": canary, "max_output_tokens": 4}, 200),
        (
            "responses stream -> anthropic, tools",
            "/v1/responses",
            {
                "model": "canary-claude",
                "input": [{"role": "user", "content": [{"type": "input_text", "text": canary}]}],
                "tools": [{"type": "function", "name": "f", "description": canary, "parameters": {"type": "object", "properties": {}}}],
                "stream": True,
            },
            200,
        ),
        (
            "responses -> gemini, a function call round trip",
            "/v1/responses",
            {
                "model": "canary-gemini",
                "input": [
                    {"role": "user", "content": canary},
                    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": json.dumps({"q": canary})},
                    {"type": "function_call_output", "call_id": "c1", "output": canary},
                ],
                "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object", "description": canary}}},
            },
            200,
        ),
        ("responses stream that breaks", "/v1/responses", {"model": "sim-midstream-error", "input": canary, "stream": True}, 200),
        ("responses built-in tool", "/v1/responses", {"model": "sim-1", "input": canary, "tools": [{"type": canary}]}, 400),
        ("responses unknown item", "/v1/responses", {"model": "sim-1", "input": [{"type": canary, "content": canary}]}, 400),
        # errors: the answer may quote the request back to its sender; no log line may
        ("stream that breaks", "/v1/chat/completions", chat("sim-midstream-error", stream=True), 200),
        ("upstream refuses", "/v1/chat/completions", chat("canary-400"), 400),
        ("all upstreams fail", "/v1/chat/completions", chat("sim-broken"), 502),
        (
            "invalid JSON",
            "/v1/chat/completions",
            b'{"model": "sim-1", "messages": [{"role": "user", "content": "' + canary.encode() + b'"',
            400,
        ),
        ("messages not a list", "/v1/chat/completions", {"model": "sim-1", "messages": canary}, 400),
        (
            "content of the wrong type",
            "/v1/chat/completions",
            {"model": "sim-1", "messages": [{"role": canary, "content": 7}]},
            None,
        ),  # passed through
        ("anthropic without max_tokens", "/v1/messages", {"model": "sim-1", "messages": [{"role": "user", "content": canary}]}, 400),
        (
            "anthropic bad block",
            "/v1/messages",
            {"model": "sim-1", "max_tokens": 4, "messages": [{"role": "user", "content": [{"type": canary, "text": canary}]}]},
            None,
        ),
        ("gemini bad part", g + "sim-1:generateContent", {"contents": [{"role": "user", "parts": [{canary: canary}]}]}, None),
        ("gemini unknown action", g + "sim-1:noSuchAction", gem, 404),
        ("rerank without documents", "/v1/rerank", {"model": "rerank-1", "query": canary}, 400),
        ("embeddings of a number", "/v1/embeddings", {"model": "embed-1", "input": {canary: 1}}, None),
    ]


def _auth(path: str, key: str) -> dict[str, str]:
    if path.startswith("/v1/messages"):
        return {"x-api-key": key, "anthropic-version": "2023-06-01"}
    if path.startswith("/gemini/"):
        return {"x-goog-api-key": key}
    return {"authorization": f"Bearer {key}"}


def _console(stack: Stack, key: str, canaries: dict[str, str]) -> list[str]:
    """Codes minted and redeemed, a wrong code, a signed payment event and a playground chat
    whose prompt is the canary; the minted codes' secrets."""
    from services.metering.console import webhook

    admin = {"authorization": f"Bearer {stack.settings.admin_credential}"}
    with httpx.Client(base_url=stack.metering_url, timeout=30) as http:
        minted = http.post("/console/api/billing/codes", headers=admin, json={"count": 2, "amount_micros": 1_000_000})
        assert minted.status_code == 201, minted.text
        codes = [c["secret"] for c in minted.json()["codes"]]
        user = {"authorization": f"Bearer {key}"}
        assert http.post("/console/api/billing/redeem", headers=user, json={"code": codes[0]}).status_code == 200
        assert http.post("/console/api/billing/redeem", headers=user, json={"code": canaries["code_guess"]}).status_code == 400
        account_id = http.get("/v1/whoami", headers=user).json()["account_id"]
        paid_object = {"amount_received": 100, "currency": "usd", "metadata": {"account_id": account_id}}
        event = json.dumps({"id": "evt_canary", "type": "payment_intent.succeeded", "data": {"object": paid_object}}).encode()
        signature = webhook.sign(event, canaries["webhook_secret"], int(time.time()))
        paid = http.post("/console/api/billing/webhook/stripe", content=event, headers={"stripe-signature": signature})
        assert paid.status_code == 200 and paid.json()["credited"] is True, paid.text
        chat = {"model": "sim-1", "messages": [{"role": "user", "content": canaries["prompt"]}], "max_tokens": 8}
        assert http.post("/console/api/playground/chat", headers=user, json=chat).status_code == 200
    return codes


def _ticket_keeps_metadata_only(stack: Stack, key: str, request_ids: list[str], metered: list[str], prompt: str) -> None:
    """A ticket naming the requests keeps their technical metadata (in the accounts database,
    scanned below with every other file) and shows it back without any content."""
    console = httpx.Client(base_url=stack.metering_url, headers={"authorization": f"Bearer {key}"}, timeout=10)
    metered = [r for r in metered if r in request_ids[:50]]  # a ticket names at most 50 requests
    with console:
        opened = console.post("/console/api/tickets", json={"subject": "canary", "request_ids": request_ids[:50]})
        assert opened.status_code == 201, opened.text
        ticket_id = opened.json()["ticket_id"]
        deadline = time.monotonic() + 10
        while True:
            body = console.get(f"/console/api/tickets/{ticket_id}").json()
            found = {d["request_id"] for d in body["diagnostics"] if d["found"]}
            if set(metered) <= found or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert set(metered) <= found, "a ticket's metered requests were not kept"
        assert prompt not in json.dumps(body)


def test_canaries_reach_no_log_store_or_span(canary_stack, canaries):
    stack, collector = canary_stack
    prompt, bad_key = canaries["prompt"], canaries["api_key"]
    key = _key(stack)
    base = stack.edge_url.removesuffix("/v1")
    request_ids, metered = [], []
    with httpx.Client(base_url=base, timeout=30) as http:
        for name, path, body, expected in [*_calls(prompt), *_uploads(prompt)]:
            if isinstance(body, Form):
                r = http.post(path, headers=_auth(path, key), data=body.fields, files=body.files)
            else:
                kw = {"content": body} if isinstance(body, bytes) else {"json": body}
                r = http.post(path, headers={**_auth(path, key), "content-type": "application/json"}, **kw)
            assert expected is None or r.status_code == expected, f"{name}: {r.status_code} {r.text[:300]}"
            request_ids.append(r.headers["x-request-id"])
            if expected == 200 and "ount" not in path:  # count_tokens / countTokens are not metered
                metered.append(r.headers["x-request-id"])
        # The canary as the credential, on every door and in each place a door reads it from.
        for path, headers in [
            ("/v1/chat/completions", {"authorization": f"Bearer {bad_key}"}),
            ("/v1/embeddings", {"authorization": f"Bearer {bad_key}"}),
            ("/v1/messages", {"x-api-key": bad_key, "anthropic-version": "2023-06-01"}),
            ("/gemini/v1beta/models/sim-1:generateContent", {"x-goog-api-key": bad_key}),
            (f"/gemini/v1beta/models/sim-1:generateContent?key={bad_key}", {}),
        ]:
            r = http.post(path, headers=headers, json={"model": "sim-1", "messages": [{"role": "user", "content": prompt}], "contents": []})
            assert r.status_code == 401, f"{path}: {r.status_code} {r.text[:200]}"
            request_ids.append(r.headers["x-request-id"])
        r = http.get("/v1/models", headers={"authorization": f"Bearer {bad_key}"})
        assert r.status_code == 401

    minted = _console(stack, key, canaries)  # the console: codes, the webhook, the playground

    # Console identity: a password, session, CSRF and mailed tokens (tests/e2e/identity_util.py).
    sign_in_secrets, mailed = identity_walk(stack, canaries["password"], secrets.token_hex(3))
    for request_id in metered:
        busutil.find_event(stack.settings.nats_url, request_id)
    busutil.wait_consumers_idle(stack.settings.nats_url)
    _ticket_keeps_metadata_only(stack, key, request_ids, metered, prompt)
    collector.wait(
        lambda spans: {s.attributes.get("tollgate.request_id") for s in spans} >= set(request_ids), what="every request's server span"
    )
    stack.stop()  # everything flushed: logs, NATS and ClickHouse files, the last spans
    unclean = {name: code for name, code in stack.exit_codes.items() if name in PYTHON_SERVICES and code != 0}
    assert not unclean, unclean

    # Nowhere: not in any file of the installation (logs, NATS, ClickHouse, accounts), not in a span.
    files = [p for p in stack.data_dir.rglob("*") if p.is_file() and p.name != "catalog.toml"]
    assert any(p.suffix == ".log" for p in files) and any("nats" in p.parts for p in files) and any("clickhouse" in p.parts for p in files)
    contents = {p: p.read_bytes() for p in files}
    for what, canary in canaries.items():
        leaks = [str(p.relative_to(stack.data_dir)) for p, data in contents.items() if canary.encode() in data]
        assert not leaks, f"the {what} canary was found in {leaks}"
        assert not any(canary.encode() in payload for payload in collector.raw), f"the {what} canary was exported in a span"
    assert not any(key.encode() in data for data in contents.values()), "a real API key was persisted"
    for code in minted:  # redemption codes: hashes only, redeemed or not
        for variant in (code, code.replace("-", "")):
            assert not any(variant.encode() in data for data in contents.values()), "a redemption code was persisted or logged"
    for what, value in sign_in_secrets.items():
        leaks = [str(p.relative_to(stack.data_dir)) for p, data in contents.items() if value.encode() in data]
        assert not leaks, f"a {what} was found in {leaks}"
    for what, value in mailed.items():  # a mailed link's token is in its mail, and nowhere else
        leaks = [str(p.relative_to(stack.data_dir)) for p, data in contents.items() if value.encode() in data and "outbox" not in p.parts]
        assert not leaks, f"a {what} was found in {leaks}"

    # The services log JSON lines, at debug level here; the edge's request lines carry the request id and trace id.
    logs = stack.data_dir / "logs"
    for service in PYTHON_SERVICES:
        lines = [line for line in (logs / f"{service}.log").read_text().splitlines() if line.strip()]
        parsed = [json.loads(line) for line in lines]  # raises on a line that is not JSON
        assert parsed and all({"event", "level", "timestamp"} <= set(p) for p in parsed), service
    edge = [json.loads(line) for line in (logs / "edge.log").read_text().splitlines() if line.strip()]
    assert any(line["level"] == "debug" for line in edge)
    finished = {line["request_id"]: line for line in edge if line["event"] == "request" and "request_id" in line}
    assert set(request_ids) <= set(finished)
    hexes = re.compile(r"^[0-9a-f]{32}$")
    assert all(hexes.match(finished[r]["trace_id"]) and finished[r]["span_id"] for r in request_ids)
    traced = {
        s.attributes.get("tollgate.request_id"): s.trace_id for s in collector.spans if s.kind == "SERVER" and s.service == "tollgate-edge"
    }
    assert all(finished[r]["trace_id"] == traced[r] for r in request_ids), "a log line's trace id is its request's trace"
