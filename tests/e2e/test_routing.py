"""Routing that survives real providers: breakers, cool-downs, disabled credentials,
fallback models, data-policy routing, mid-stream billing and live config reloads."""

from __future__ import annotations

import threading
import time

import grpc
import httpx
import openai
import pytest

from tests.e2e import busutil
from tests.e2e.test_contract import wait_for_usage
from tollgate import events
from tollgate.rpc import router_pb2 as rpb
from tollgate.rpc import router_pb2_grpc as rpb_grpc


def client(stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)


def ask(c: openai.OpenAI, model: str, **kw):
    return c.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "hi there"}], max_tokens=2, **kw)


def force(stack, model: str, status: int) -> None:
    httpx.post(f"{stack.sim_url.removesuffix('/v1')}/_sim/force", json={"model": model, "status": status}, timeout=5).raise_for_status()


def channels(stack) -> dict[str, rpb.ChannelStatus]:
    with grpc.insecure_channel(stack.settings.router_addr) as ch:
        reply = rpb_grpc.RouterStub(ch).ListChannels(rpb.ListChannelsRequest())
    return {c.channel_id: c for c in reply.channels}


def set_enabled(stack, channel_id: str, enabled: bool) -> None:
    with grpc.insecure_channel(stack.settings.router_addr) as ch:
        rpb_grpc.RouterStub(ch).SetChannelEnabled(rpb.SetChannelEnabledRequest(channel_id=channel_id, enabled=enabled, reason="test"))


def eventually(check, timeout: float = 5.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except AssertionError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            return check()
        time.sleep(interval)


def served_by(raw) -> tuple[str, int]:
    return raw.headers["x-tollgate-channel"], int(raw.headers["x-tollgate-attempts"])


def test_failing_channel_opens_then_half_opens_and_recovers(stack, new_account):
    _, key = new_account()
    c = client(stack, key)
    force(stack, "sim-switch-500", 500)
    try:
        assert served_by(ask(c, "h500")) == ("h500-backup", 2)  # failover hides the failure
        # Keep sending: once the window holds enough failures the breaker opens.
        assert eventually(lambda: ask(c, "h500") and channels(stack)["h500-primary"].state == "open", timeout=10)
        assert eventually(lambda: served_by(ask(c, "h500")) == ("h500-backup", 1))  # skipped while open
    finally:
        force(stack, "sim-switch-500", 0)
    # After the cool-down the channel is half-open; the probe succeeds and it serves again.
    assert eventually(lambda: served_by(ask(c, "h500"))[0] == "h500-primary", timeout=8, interval=0.2)
    assert eventually(lambda: channels(stack)["h500-primary"].state == "closed")


def test_rate_limited_channel_cools_down_and_is_not_disabled(stack, new_account):
    _, key = new_account()
    c = client(stack, key)
    force(stack, "sim-switch-429", 429)
    try:
        assert served_by(ask(c, "h429")) == ("h429-backup", 2)
        assert eventually(lambda: channels(stack)["h429-primary"].state == "cooling_down")
        assert eventually(lambda: served_by(ask(c, "h429")) == ("h429-backup", 1))
    finally:
        force(stack, "sim-switch-429", 0)
    assert eventually(lambda: served_by(ask(c, "h429"))[0] == "h429-primary", timeout=5, interval=0.2)
    assert channels(stack)["h429-primary"].state == "closed"


def test_rejected_credential_disables_the_channel_until_an_operator_enables_it(stack, new_account):
    _, key = new_account()
    c = client(stack, key)
    force(stack, "sim-switch-401", 401)
    assert served_by(ask(c, "h401")) == ("h401-backup", 2)
    force(stack, "sim-switch-401", 0)
    status = eventually(lambda: channels(stack)["h401-primary"].state == "disabled" and channels(stack)["h401-primary"])
    assert "401" in status.disabled_reason
    time.sleep(1.5)  # longer than any cool-down: it stays disabled
    assert served_by(ask(c, "h401")) == ("h401-backup", 1)
    set_enabled(stack, "h401-primary", True)
    assert eventually(lambda: served_by(ask(c, "h401"))[0] == "h401-primary")


def test_fallback_models_and_models_fall_through_in_order(stack, new_account):
    _, key = new_account()
    c = client(stack, key)
    raw = ask(c, "sim-broken", extra_body={"fallback_models": ["no-such-model", "sim-1"]})
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-tollgate-channel"] == "sim-primary"
    raw = ask(c, "sim-broken", extra_body={"models": ["sim-1"]})
    assert raw.headers["x-tollgate-channel"] == "sim-primary"


def test_zdr_requests_never_reach_a_retaining_channel(stack, new_account):
    _, key = new_account()
    c = client(stack, key)
    for _ in range(10):
        assert served_by(ask(c, "policy-mixed", extra_body={"provider": {"zdr": True}}))[0] == "policy-zdr"
    with pytest.raises(openai.InternalServerError) as err:
        ask(c, "policy-retaining", extra_body={"provider": {"zdr": True}})
    assert err.value.status_code == 503 and "zdr" in err.value.message
    assert served_by(ask(c, "policy-retaining"))[0] == "policy-openai"  # without the flag it is fine


def test_mid_stream_failure_bills_what_was_delivered(stack, new_account):
    account_id, key = new_account()
    c = client(stack, key)
    raw = c.chat.completions.with_raw_response.create(
        model="sim-midstream-error", messages=[{"role": "user", "content": "tell me a story"}], stream=True
    )
    delivered = []
    with pytest.raises(openai.APIError):
        for chunk in raw.parse():
            delivered.append(chunk)
    event = events.decode(events.USAGE_SUBJECT, busutil.find_event(stack.settings.nats_url, raw.headers["x-request-id"]))
    assert event.status == 502 and event.usage_estimated
    assert event.completion_tokens == len(delivered) > 0 and event.prompt_tokens > 0 and event.cost_micros > 0
    assert wait_for_usage(stack, account_id, 1)["cost_micros"] == event.cost_micros


def test_config_reload_reaches_the_edge_within_a_second_without_dropping_streams(stack, new_account):
    _, key = new_account()
    c = client(stack, key)
    with pytest.raises(openai.NotFoundError):  # not in the catalog yet: 404
        ask(c, "hot-model")
    finished = {}

    def long_stream():
        stream = c.chat.completions.create(model="sim-slow-stream", messages=[{"role": "user", "content": "x"}], stream=True, max_tokens=3)
        finished["text"] = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)

    worker = threading.Thread(target=long_stream)
    worker.start()
    time.sleep(0.3)  # the stream is in flight
    catalog = stack.catalog
    catalog.write_text(
        catalog.read_text() + '\n[[models]]\nid = "hot-model"\nprice = { input_per_mtok_micros = 1, output_per_mtok_micros = 1 }\n'
        '[[channels]]\nid = "hot-channel"\nprovider = "simulator"\nbase_url = "http://127.0.0.1:${TOLLGATE_SIM_PORT}/v1"\n'
        'api_key_env = "TOLLGATE_SIM_KEY"\nmodels = { "hot-model" = "sim-1" }\n'
    )
    changed = time.monotonic()
    raw = None
    while raw is None:
        try:
            raw = ask(c, "hot-model")
        except openai.NotFoundError:
            assert time.monotonic() - changed < 1.0, "the reloaded catalog did not reach the edge within 1 s"
            time.sleep(0.05)
    assert raw.headers["x-tollgate-channel"] == "hot-channel"
    worker.join(10)
    assert finished.get("text"), "the in-flight stream was dropped by the reload"


def test_a_key_that_requires_zdr_never_reaches_a_retaining_channel(stack, accounts):
    from tollgate.rpc import accounts_pb2 as apb

    account = accounts.CreateAccount(apb.CreateAccountRequest(name="zdr-only", initial_balance_micros=1_000_000))
    key = accounts.CreateKey(apb.CreateKeyRequest(account_id=account.account_id, name="zdr", require_zdr=True)).secret
    c = client(stack, key)
    raw = ask(c, "policy-mixed")  # no preference in the request: the key's setting applies
    assert served_by(raw)[0] == "policy-zdr"
    event = events.decode(events.USAGE_SUBJECT, busutil.find_event(stack.settings.nats_url, raw.headers["x-request-id"]))
    assert event.zdr
    with pytest.raises(openai.InternalServerError) as err:
        ask(c, "policy-retaining", extra_body={"provider": {"zdr": False}})  # a request cannot lift it
    assert err.value.status_code == 503


def test_client_disconnect_mid_stream_bills_what_was_delivered(stack, new_account):
    """The upstream never reports usage for a stream the client abandons: the edge bills the
    chunks it delivered (estimated, flagged) — never zero, never the whole answer."""
    _, key = new_account()
    words = 20_000  # far more than socket buffers hold: the client leaves long before the end
    raw = client(stack, key).chat.completions.with_raw_response.create(
        model="sim-1", messages=[{"role": "user", "content": "tell me everything"}], stream=True, max_tokens=words
    )
    stream = raw.parse()
    for i, _chunk in enumerate(stream):
        if i == 5:
            break
    stream.close()
    event = events.decode(events.USAGE_SUBJECT, busutil.find_event(stack.settings.nats_url, raw.headers["x-request-id"], timeout=20))
    assert event.status == 499 and event.error_code == "client_closed" and event.usage_estimated
    assert 5 <= event.completion_tokens < words and event.cost_micros > 0
