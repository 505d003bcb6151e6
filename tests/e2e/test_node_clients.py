"""The official ``openai`` npm package against the running stack: ``responses.create``
streamed, with a function tool and a ``function_call_output`` round trip, the way
Codex-style agents call it (``tests/node/responses_stream.mjs``), against every upstream
protocol and a channel that serves the Responses API natively. Skipped, saying why, when ``node`` or the package (``make install`` runs
``npm ci --prefix tests/node`` when npm exists) is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.clients import EXPECTED_ARGS, MAX_TOKENS, QUESTION, SYSTEM, TOOL_RESULT
from tests.e2e.test_contract import KINDS, TOOL_CALL_TOKENS, wait_for_usage, words
from tests.e2e.test_responses import ANSWER, NATIVE, metered_by_endpoint

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: the Node SDK test needs it"),
    pytest.mark.skipif(
        not (NODE_DIR / "node_modules" / "openai").is_dir(),
        reason="the openai npm package is not installed: run `make install` (npm ci --prefix tests/node)",
    ),
]


def run_script(stack, key: str, model: str) -> dict:
    assert NODE is not None  # the module is skipped otherwise
    env = {**os.environ, "OPENAI_BASE_URL": stack.edge_url, "OPENAI_API_KEY": key, "TOLLGATE_MODEL": model}
    done = subprocess.run([NODE, "responses_stream.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def check_stream(seen: dict) -> None:
    assert seen["types"][:2] == ["response.created", "response.in_progress"]
    assert seen["types"][-1] == "response.completed"
    assert seen["sequence"] == list(range(len(seen["types"])))
    assert seen["types"].count("response.output_item.added") == seen["types"].count("response.output_item.done")


@pytest.mark.parametrize("model", [*(f"contract-{kind}" for kind in KINDS), NATIVE])
def test_node_sdk_streams_a_tool_round_trip(stack, new_account, model):
    """Translated for each upstream protocol, and passed through to a native Responses channel."""
    account_id, key = new_account()
    seen = run_script(stack, key, model)
    first, second = seen["first"], seen["second"]
    for turn in (first, second):
        check_stream(turn)
        if model != NATIVE:  # a passed-through answer names the upstream's model, as the upstream sent it
            assert turn["model"] == model
    assert seen["call"] == {"name": "get_weather", "arguments": EXPECTED_ARGS}
    assert json.loads(first["arguments"]) == EXPECTED_ARGS
    assert first["output_types"] == ["function_call"]
    assert (first["usage"]["input_tokens"], first["usage"]["output_tokens"]) == (words(SYSTEM, QUESTION), TOOL_CALL_TOKENS)
    assert second["output_types"] == ["message"]
    assert second["text"] == ANSWER
    assert (second["usage"]["input_tokens"], second["usage"]["output_tokens"]) == (words(SYSTEM, QUESTION, TOOL_RESULT), MAX_TOKENS)
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["errors"]) == (2, 0)
    assert metered_by_endpoint(stack, account_id) == {"responses": 2}
