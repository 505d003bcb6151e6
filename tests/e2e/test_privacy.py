"""No byte of a prompt reaches a log, the bus or a store (design invariant 3)."""

from __future__ import annotations

import secrets

import openai

from tests.e2e import busutil


def test_prompt_canary_is_nowhere_on_disk(stack, new_account):
    _, key = new_account()
    canary = "canary" + secrets.token_hex(16)
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    raw = c.chat.completions.with_raw_response.create(model="sim-1", messages=[{"role": "user", "content": f"remember {canary}"}])
    streamed = c.chat.completions.with_raw_response.create(model="sim-1", messages=[{"role": "user", "content": canary}], stream=True)
    list(streamed.parse())
    for response in (raw, streamed):
        busutil.find_event(stack.settings.nats_url, response.headers["x-request-id"])
    busutil.wait_consumers_idle(stack.settings.nats_url)

    files = [p for p in stack.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files) and any("nats" in p.parts for p in files)
    leaks = [str(p) for p in files if canary.encode() in p.read_bytes()]
    assert not leaks, f"prompt text found in {leaks}"
    assert key.encode() not in b"".join(p.read_bytes() for p in files), "a full API key was persisted"
