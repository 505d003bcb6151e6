"""The official ``openai`` npm package draws, speaks and moderates through the edge
(``tests/node/media.mjs``): what it decodes is a real PNG and a real WAV, each request metered
once in its own unit. Skipped, saying why, when ``node`` or the package is missing."""

from __future__ import annotations

import json
import os
import subprocess

from tests.e2e.test_contract import wait_for_usage
from tests.e2e.test_node_clients import NODE, NODE_DIR, pytestmark  # noqa: F401  (the same skip conditions)
from tools.provider_sim.media import SPEECH_MS_PER_WORD, SPEECH_RATE


def test_node_sdk_draws_speaks_and_moderates(stack, new_account):
    account_id, key = new_account()
    assert NODE is not None
    env = {**os.environ, "OPENAI_BASE_URL": stack.edge_url, "OPENAI_API_KEY": key}
    done = subprocess.run([NODE, "media.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert seen["png"] == {"signature": "PNG", "width": 256, "height": 256}
    wav = seen["wav"]
    assert (wav["riff"], wav["wave"], wav["channels"], wav["rate"]) == ("RIFF", "WAVE", 1, SPEECH_RATE)
    assert wav["bytes"] == 44 + 2 * SPEECH_RATE * SPEECH_MS_PER_WORD * 3 // 1000  # three words of 16-bit mono after the header
    assert wav["contentType"].startswith("audio/wav")
    assert seen["flagged"] is True
    stored = wait_for_usage(stack, account_id, 3)
    text = "Hello from Node."
    assert (stored["requests"], stored["cost_micros"]) == (3, 16_000 + len(text) * 15 + 150)  # an image, 16 characters, a request


def test_node_sdk_transcribes_a_wav_into_srt(stack, new_account, tmp_path):
    from tests.e2e.test_uploads import parse_srt, tone_wav

    account_id, key = new_account()
    assert NODE is not None
    path = tmp_path / "speech.wav"
    path.write_bytes(tone_wav(2.25))
    env = {**os.environ, "OPENAI_BASE_URL": stack.edge_url, "OPENAI_API_KEY": key, "WAV_PATH": str(path)}
    done = subprocess.run([NODE, "transcribe.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert [(s, e) for _, s, e, _ in parse_srt(seen["srt"])] == [(0.0, 1.0), (1.0, 2.0), (2.0, 2.25)]
    assert (seen["duration"], seen["segments"]) == (2.25, 3)  # a File before `model`: held until model, then relayed
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["cost_micros"]) == (2, 2 * 225)  # 2.25 s at 100 µ$ a second
