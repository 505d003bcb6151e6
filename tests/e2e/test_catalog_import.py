"""``tollgate catalog import`` end to end: a catalog holding only channels (one per vendor, each
pointed at the simulator speaking that vendor's protocol) becomes hundreds of priced models in
one command; the router's own loader accepts it, a stack serves it, and a request through the
edge on an imported model (the official SDKs in front) is metered at the imported price.

It runs a stack of its own: the shared one's catalog must not change under the other tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import anthropic
import httpx
import openai
import pytest

from services.router.catalog import load
from tools.stack import Ports, Stack

# channel id -> (provider kind, the simulator's path prefix for its protocol)
CHANNELS = {
    "openai": ("openai", "/v1"),
    "anthropic": ("anthropic", "/anthropic"),
    "google": ("gemini", "/gemini"),
    "mistral": ("mistral", "/v1"),
    "deepseek": ("deepseek", "/v1"),
    "groq": ("groq", "/v1"),
    "xai": ("xai", "/v1"),
    "together": ("together", "/v1"),  # a vendor missing from the data-policy table: the channel says its policy
}
POLICIES = {"together": "data_policy = { zdr = false, trains_on_data = false, retention_days = 30 }\n"}
QUESTION = "How much does this cost?"


def empty_catalog() -> str:
    return "# Channels only: `tollgate catalog import` fills in the models.\n\n" + "\n".join(
        f'[[channels]]\nid = "{cid}"\nprovider = "{kind}"\nbase_url = "http://127.0.0.1:${{TOLLGATE_SIM_PORT}}{prefix}"\n'
        f'api_key_env = "TOLLGATE_SIM_KEY"\n{POLICIES.get(cid, "")}models = {{}}\n'
        for cid, (kind, prefix) in CHANNELS.items()
    )


def import_catalog(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tollgate.cli", "catalog", "import", "--json", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("catalog-import")
    catalog = data_dir / "catalog.toml"
    catalog.write_text(empty_catalog())
    report = import_catalog("--catalog", str(catalog))
    stack = Stack(
        data_dir=data_dir, ports=Ports.free(), catalog=catalog, extra_env={"TOLLGATE_METERING_BATCH_WAIT_S": "0.2"}, log_to_files=True
    )
    stack.start()
    try:
        yield stack, catalog, report
    finally:
        stack.stop()


def logged(stack: Stack, account_id: str, model: str, timeout: float = 15.0) -> list[dict]:
    """The request log's rows for the model, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{stack.metering_url}/v1/requests", params={"account_id": account_id, "limit": 50}, headers=stack.admin_headers)
        rows = [row for row in r.json()["data"] if row["model_requested"] == model]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_an_empty_catalog_becomes_hundreds_of_priced_models_the_router_loads(imported, monkeypatch):
    stack, catalog, report = imported
    assert report["added"] >= 300 and (report["changed"], report["kept"], report["skipped"]) == (0, [], [])
    assert report["vendors"] == ["openai", "anthropic", "google", "mistral", "deepseek", "groq", "xai", "together"]
    monkeypatch.setenv("TOLLGATE_SIM_PORT", str(stack.ports.sim))
    loaded = load(catalog)
    priced = [m for m in loaded.models.values() if m.price.input_per_mtok_micros or m.price.output_per_mtok_micros]
    assert len(priced) == len(loaded.models) == report["added"]
    assert all(m.source.startswith("genai-prices:") and m.price.version.startswith("genai-prices-") for m in priced)
    assert {c.id: len(c.models) for c in loaded.channels} == report["routes"]
    assert any(m.price.cache_write_per_mtok_micros for m in priced if m.owned_by == "anthropic")
    assert any(m.price.cached_input_per_mtok_micros for m in priced if m.owned_by == "openai")

    # The same command again, on the written catalog: it owns every entry, nothing changes.
    again = import_catalog("--catalog", str(catalog), "--dry-run")
    assert (again["added"], again["changed"], again["unchanged"], again["written"]) == (0, 0, report["added"], None)


@pytest.mark.parametrize(("door", "model"), [("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-6")])
def test_a_request_on_an_imported_model_is_metered_at_the_imported_price(imported, monkeypatch, door, model):
    stack, catalog, _ = imported
    monkeypatch.setenv("TOLLGATE_SIM_PORT", str(stack.ports.sim))
    price = load(catalog).models[model].price
    assert price.input_per_mtok_micros and price.output_per_mtok_micros
    account_id, key = stack.bootstrap_demo()
    if door == "openai":
        client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": QUESTION}], max_tokens=7)
        prompt, completion = reply.usage.prompt_tokens, reply.usage.completion_tokens
    else:
        claude = anthropic.Anthropic(base_url=stack.edge_url.removesuffix("/v1"), api_key=key, max_retries=0, timeout=30)
        msg = claude.messages.create(model=model, max_tokens=7, messages=[{"role": "user", "content": QUESTION}])
        prompt, completion = msg.usage.input_tokens, msg.usage.output_tokens
    assert (prompt, completion) == (len(QUESTION.split()), 7)
    (row,) = logged(stack, account_id, model)
    assert row["channel_id"] == door  # each door here asks a model of the channel named like it
    expected = -(-(prompt * price.input_per_mtok_micros + completion * price.output_per_mtok_micros) // 1_000_000)
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_micros"], row["price_version"]) == (
        prompt,
        completion,
        expected,
        price.version,
    )
