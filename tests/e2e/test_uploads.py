"""Issue 18, the upload half: multipart uploads streamed through the edge to the upstream
(never written to disk, bounded memory), transcriptions and translations priced per second
of audio, image edits per image, with the openai SDK through the running stack."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import threading
import time
import wave
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.test_contract import wait_for_usage
from tests.e2e.test_media import decode_png, requests_of
from tools.provider_sim.media import colour, png
from tools.provider_sim.transcribe import segments

RATE = 16_000


def tone_wav(seconds: float, rate: int = RATE) -> bytes:
    """A mono 16-bit WAV whose samples differ every second (so each second transcribes its own words)."""
    frames = int(seconds * rate)
    samples = bytearray(2 * frames)
    for i in range(0, frames, 97):
        value = (i * 7919 + (i // rate) * 104729) % 30_000 - 15_000
        samples[2 * i : 2 * i + 2] = value.to_bytes(2, "little", signed=True)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(samples))
    return out.getvalue()


SRT_CUE = re.compile(r"(\d+)\n(\d{2}):(\d{2}):(\d{2}),(\d{3}) --> (\d{2}):(\d{2}):(\d{2}),(\d{3})\n(.+)\n")


def parse_srt(text: str) -> list[tuple[int, float, float, str]]:
    """Every cue of an SRT document (index, start s, end s, text); the whole text must be cues."""
    cues, pos = [], 0
    for m in SRT_CUE.finditer(text):
        assert text[pos : m.start()].strip() == "", text[pos : m.start()]
        g = m.groups()
        start = int(g[1]) * 3600 + int(g[2]) * 60 + int(g[3]) + int(g[4]) / 1000
        end = int(g[5]) * 3600 + int(g[6]) * 60 + int(g[7]) + int(g[8]) / 1000
        cues.append((int(g[0]), start, end, g[9]))
        pos = m.end()
    assert text[pos:].strip() == ""
    return cues


def test_a_wav_transcribed_into_srt_with_the_openai_sdk_is_metered_per_second(stack, new_account, tmp_path):
    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    audio = tone_wav(3.5)
    path = tmp_path / "speech.wav"
    path.write_bytes(audio)
    with path.open("rb") as f:
        srt = c.audio.transcriptions.create(model="whisper-1", file=f, response_format="srt")
    cues = parse_srt(srt)
    assert [(i, s, e) for i, s, e, _ in cues] == [(1, 0.0, 1.0), (2, 1.0, 2.0), (3, 2.0, 3.0), (4, 3.0, 3.5)]
    _, expected = segments(audio)
    assert [t for *_, t in cues] == [s["text"].strip() for s in expected]  # the simulator's words for each second
    verbose = c.audio.transcriptions.create(model="whisper-1", file=path, response_format="verbose_json")
    assert verbose.duration == 3.5 and [s.end for s in verbose.segments or []] == [1.0, 2.0, 3.0, 3.5]
    vtt = c.audio.translations.create(model="whisper-1", file=path, response_format="vtt")
    assert vtt.startswith("WEBVTT") and "00:00:03.000 --> 00:00:03.500" in vtt
    text = c.audio.transcriptions.create(model="whisper-1", file=path, response_format="text")
    assert text.strip() == " ".join(s["text"].strip() for s in expected)
    plain = c.audio.transcriptions.create(model="whisper-1", file=("clip.wav", audio, "audio/wav"))
    assert plain.text == text.strip()
    stored = wait_for_usage(stack, account_id, 5)
    assert (stored["requests"], stored["cost_micros"]) == (5, 5 * 350)  # 3.5 s at 100 µ$ a second, from the WAV header
    rows = requests_of(stack, account_id, "transcriptions", 4) + requests_of(stack, account_id, "translations", 1)
    assert [u["unit"] for row in rows for u in row["units"]] == ["audio_ms"] * 5
    assert {u["quantity"] for row in rows for u in row["units"]} == {3500}


def test_the_hold_is_the_uploads_duration(stack, new_account):
    _, key = new_account(balance_micros=1_000)  # 10 s of audio at 100 µ$ a second
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    c.audio.transcriptions.create(model="whisper-1", file=("short.wav", tone_wav(2), "audio/wav"))
    with pytest.raises(openai.APIStatusError) as err:
        c.audio.transcriptions.create(model="whisper-1", file=("long.wav", tone_wav(20), "audio/wav"))
    assert err.value.status_code == 402 and err.value.body["code"] == "insufficient_quota"


def _form(key: str, fields: list[tuple[str, str]], file: tuple[str, bytes, str] | None, field: str = "file"):
    files = {field: file} if file else None
    return {"headers": {"Authorization": f"Bearer {key}"}, "data": dict(fields), "files": files, "timeout": 30}


@pytest.mark.parametrize(
    ("fields", "file", "status", "code"),
    [
        ([("response_format", "json")], ("a.wav", b"RIFF", "audio/wav"), 400, "missing_model"),
        ([("model", "whisper-1"), ("response_format", "docx")], ("a.wav", b"RIFF", "audio/wav"), 400, "invalid_response_format"),
        ([("model", "whisper-1"), ("temperature", "hot")], ("a.wav", b"RIFF", "audio/wav"), 400, "invalid_temperature"),
        ([("model", "whisper-1")], None, 400, "invalid_content_type"),
        ([("model", "whisper-1")], ("a.wav", b"", "audio/wav"), 400, "empty_file"),
    ],
)
def test_bad_uploads_are_400s_in_openai_shape(stack, new_account, fields, file, status, code):
    _, key = new_account()
    r = httpx.post(f"{stack.edge_url}/audio/transcriptions", **_form(key, fields, file))
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text


def test_a_form_without_a_file_is_a_400(stack, new_account):
    _, key = new_account()
    body = b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--xyz--\r\n'
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "multipart/form-data; boundary=xyz"}
    r = httpx.post(f"{stack.edge_url}/audio/transcriptions", content=body, headers=headers, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_file", r.text


def test_an_upload_over_25_mb_is_a_413_in_openai_shape(stack, new_account):
    _, key = new_account()
    big = b"\0" * (26 * 1024 * 1024 + 1)
    r = httpx.post(f"{stack.edge_url}/audio/transcriptions", **_form(key, [("model", "whisper-1")], ("big.wav", big, "audio/wav")))
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large", r.text

    def chunked():  # no Content-Length: cut off once it passes the limit
        yield b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        for _ in range(27):
            yield b"\0" * (1024 * 1024)

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "multipart/form-data; boundary=xyz"}
    r = httpx.post(f"{stack.edge_url}/audio/transcriptions", content=chunked(), headers=headers, timeout=30)
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large", r.text


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_25_mb_upload_streams_through_the_edge_in_bounded_memory(stack, new_account):
    account_id, key = new_account()
    edge = stack.service("edge").proc
    assert edge is not None
    audio = tone_wav((25 * 1024 * 1024 - 44) / (2 * RATE))  # a 25 MB WAV: 819 s of audio
    assert 25 * 1024 * 1024 - 100 < len(audio) <= 25 * 1024 * 1024
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=120)
    c.audio.transcriptions.create(model="whisper-1", file=("warm.wav", tone_wav(1), "audio/wav"))  # code paths loaded
    baseline = _rss_kib(edge.pid)
    peak, done = [baseline], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_kib(edge.pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        answer = c.audio.transcriptions.create(model="whisper-1", file=("big.wav", audio, "audio/wav"), response_format="verbose_json")
    finally:
        done.set()
        sampler.join()
    seconds = (len(audio) - 44) / (2 * RATE)
    assert answer.duration == pytest.approx(seconds) and len(answer.segments or []) == math.ceil(seconds)
    growth_mib = (peak[0] - baseline) / 1024
    print(f"edge RSS growth while a {len(audio) / 2**20:.1f} MiB upload streamed through: {growth_mib:.1f} MiB")
    assert growth_mib < 8, f"the edge grew {growth_mib:.1f} MiB for a 25 MiB upload: it is buffering"
    stored = wait_for_usage(stack, account_id, 2)
    held_ms = math.ceil(seconds * 1000)
    assert stored["cost_micros"] == 100 + -(-held_ms // 10)  # 100 µ$ a second, from the WAV header (rounded up once)


def test_image_edits_with_the_openai_sdk_are_metered_per_image(stack, new_account):
    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    image, mask = png(64, 64, (1, 2, 3)), png(64, 64, (0, 0, 0))
    prompt = "add a red door"
    result = c.images.edit(
        model="image-1", image=("in.png", image, "image/png"), mask=("mask.png", mask, "image/png"), prompt=prompt, n=2, size="256x256"
    )
    assert len(result.data) == 2
    for i, item in enumerate(result.data):
        width, height, pixel = decode_png(base64.b64decode(item.b64_json or ""))
        assert (width, height, tuple(pixel)) == (256, 256, colour(prompt, i))
    stored = wait_for_usage(stack, account_id, 1)
    assert stored["cost_micros"] == 2 * 16_000  # two 256x256 images, as generations
    rows = requests_of(stack, account_id, "image_edits", 1)
    assert [(u["unit"], u["quantity"]) for u in rows[0]["units"]] == [("image", 2)]


def test_failover_before_the_upload_is_sent_and_none_after(stack, new_account):
    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    raw = c.audio.transcriptions.with_raw_response.create(model="whisper-failover", file=("a.wav", tone_wav(1), "audio/wav"))
    assert raw.headers["x-tollgate-channel"] == "whisper-backup" and raw.headers["x-tollgate-attempts"] == "2"
    assert raw.parse().text
    with pytest.raises(openai.APIStatusError) as err:  # the 503 channel received the upload: it is not sent again
        c.audio.transcriptions.create(model="whisper-503", file=("a.wav", tone_wav(1), "audio/wav"))
    assert err.value.status_code == 502 and "not retried" in err.value.body["message"]
    rows = requests_of(stack, account_id, "transcriptions", 2)
    assert sorted(row["status"] for row in rows) == [200, 502]


def test_a_transcription_on_an_azure_deployment(stack, new_account):
    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    audio = tone_wav(1.5)
    raw = c.audio.transcriptions.with_raw_response.create(model="whisper-azure", file=("a.wav", audio, "audio/wav"), response_format="vtt")
    assert raw.headers["x-tollgate-channel"] == "sim-azure-whisper"
    vtt = raw.parse()
    assert vtt.startswith("WEBVTT") and "00:00:01.000 --> 00:00:01.500" in vtt
    assert wait_for_usage(stack, account_id, 1)["cost_micros"] == 300  # 1.5 s at 200 µ$ a second


def test_a_client_leaving_mid_upload_is_billed_nothing_and_the_edge_carries_on(stack, new_account):
    import socket
    from urllib.parse import urlsplit

    account_id, key = new_account()
    edge = urlsplit(stack.edge_url)
    head = b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
    head += b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    audio = tone_wav(30)  # 960 KB announced, a quarter of it sent
    request = (
        f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {edge.netloc}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {len(head) + len(audio) + 9}\r\n\r\n"
    ).encode()
    with socket.create_connection((edge.hostname, edge.port), timeout=10) as s:
        s.sendall(request + head + audio[: len(audio) // 4])
        time.sleep(0.5)  # routed and streaming to the upstream by now
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    assert c.audio.transcriptions.create(model="whisper-1", file=("b.wav", tone_wav(1), "audio/wav")).text
    stored = wait_for_usage(stack, account_id, 1)
    assert stored["cost_micros"] == 100  # the second request's one second; the cut one is billed nothing
    balance_left = httpx.get(f"{stack.edge_url}/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert balance_left.status_code == 200
    lines = [json.loads(line) for line in (stack.data_dir / "logs" / "edge.log").read_text().splitlines()[-400:] if line.startswith("{")]
    assert any(line.get("path") == "/v1/audio/transcriptions" and line.get("status") == 499 for line in lines)  # client_closed
    assert not any("Traceback" in json.dumps(line) for line in lines)
