"""No byte of a prompt reaches a log, the bus or a store (design invariant 3)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

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

    contents = files_of(stack.data_dir)
    assert any(p.suffix == ".log" for p in contents) and any("nats" in p.parts for p in contents)
    leaks = [str(p) for p, data in contents.items() if canary.encode() in data]
    assert not leaks, f"prompt text found in {leaks}"
    assert not any(key.encode() in data for data in contents.values()), "a full API key was persisted"


def files_of(root: Path) -> dict[Path, bytes]:
    """Every file under ``root`` and its bytes. ClickHouse renames and deletes its temporary part
    folders while it merges: what vanished between listing and reading was not kept."""
    out: dict[Path, bytes] = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                out[path] = path.read_bytes()
    return out
