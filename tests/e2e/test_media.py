"""Issue 18: images and moderation through the same key, with the openai SDK, each metered
once in its own unit and priced per the catalog (tests/data/catalog_media.toml)."""

from __future__ import annotations

import base64
import struct
import time
import zlib

import httpx
import openai
import pytest

from tests.e2e.test_contract import wait_for_usage
from tollgate.rpc import accounts_pb2 as pb
from tools.provider_sim.media import colour


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the first pixel of an 8-bit RGB PNG, every chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour_type) == (8, 2) and b"IEND" in chunks
    pixels = zlib.decompress(chunks[b"IDAT"])
    assert len(pixels) == height * (1 + 3 * width)
    return width, height, pixels[1:4]


def requests_of(stack, account_id: str, endpoint: str, count: int, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{stack.metering_url}/v1/requests", params={"account_id": account_id}, headers=stack.admin_headers, timeout=10)
        rows = [row for row in r.json()["data"] if row["endpoint"] == endpoint]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_images_with_the_openai_sdk_are_metered_per_image(stack, new_account, accounts):
    account_id, key = new_account(balance_micros=5_000_000)
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    prompt = "a lighthouse at dusk"
    result = c.images.generate(model="image-1", prompt=prompt, n=2, size="256x256", response_format="b64_json")
    assert len(result.data) == 2
    for i, image in enumerate(result.data):
        width, height, pixel = decode_png(base64.b64decode(image.b64_json))
        assert (width, height) == (256, 256)
        assert tuple(pixel) == colour(prompt, i)  # the simulator's image for this prompt, byte for byte
    hd = c.images.generate(model="tollgate/image-1", prompt=prompt, quality="hd")  # 1024x1024 by default
    assert decode_png(base64.b64decode(hd.data[0].b64_json))[:2] == (1024, 1024)
    stored = wait_for_usage(stack, account_id, 2)
    assert stored["requests"] == 2
    assert stored["cost_micros"] == 2 * 16_000 + 80_000  # two 256x256 images (by size) and one 1024x1024/hd
    assert (stored["prompt_tokens"], stored["completion_tokens"]) == (0, 0)
    rows = requests_of(stack, account_id, "images", 2)
    units = sorted((u["unit"], u["variant"], u["quantity"]) for row in rows for u in row["units"])
    assert units == [("image", "1024x1024/hd", 1), ("image", "256x256/standard", 2)]
    headers = stack.admin_headers
    usage = httpx.get(
        f"{stack.metering_url}/v1/usage", params={"account_id": account_id, "group_by": "model", "bucket": "none"}, headers=headers
    ).json()["data"]
    assert [(r["model"], r["requests"], r["cost_micros"], r["units"]) for r in usage] == [("image-1", 2, 112_000, {"image": 3})]
    statement = httpx.get(f"{stack.metering_url}/v1/statement", params={"account_id": account_id}, headers=headers).json()
    assert [(line["model"], line["units"]) for line in statement["lines"]] == [("image-1", {"image": 3})]
    assert statement["total_cost_micros"] == 112_000
    csv = httpx.get(f"{stack.metering_url}/v1/statement", params={"account_id": account_id, "format": "csv"}, headers=headers).text
    assert csv.splitlines()[0].endswith(",units_image") and csv.splitlines()[1].endswith(",3")
    ranked = httpx.get(f"{stack.metering_url}/v1/rankings", params={"window": "1h"}, headers=headers).json()["models"]
    assert next(m for m in ranked if m["model"] == "image-1")["units"]["image"] >= 3
    # the ledger debited exactly what metering billed (the leases settled at the images' price)
    deadline = time.monotonic() + 15
    while accounts.GetBalance(pb.GetBalanceRequest(account_id=account_id)).balance_micros != 5_000_000 - 112_000:
        assert time.monotonic() < deadline, accounts.GetBalance(pb.GetBalanceRequest(account_id=account_id))
        time.sleep(0.1)


def test_image_url_answers_and_failover(stack, new_account):
    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    raw = c.images.with_raw_response.generate(model="image-failover", prompt="x", size="256x256", response_format="url")
    assert raw.headers["x-tollgate-channel"] == "sim-media" and raw.headers["x-tollgate-attempts"] == "2"
    url = raw.parse().data[0].url
    assert url.startswith("data:image/png;base64,")
    assert decode_png(base64.b64decode(url.split(",", 1)[1]))[:2] == (256, 256)
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["cost_micros"]) == (1, 20_000)  # the failed attempt costs nothing


def test_images_on_an_azure_deployment(stack, new_account):
    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    result = c.images.generate(model="image-azure", prompt="a fox", size="256x256")
    assert decode_png(base64.b64decode(result.data[0].b64_json))[:2] == (256, 256)
    assert wait_for_usage(stack, account_id, 1)["cost_micros"] == 30_000


def test_an_image_request_holds_its_worst_case_n_images(stack, new_account):
    _, key = new_account(balance_micros=100_000)
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    c.images.generate(model="image-1", prompt="one", n=1, size="1024x1024")  # 40,000: within the balance
    with pytest.raises(openai.APIStatusError) as err:
        c.images.generate(model="image-1", prompt="three hd", n=3, size="1024x1024", quality="hd")  # 240,000 at worst
    assert err.value.status_code == 402 and err.value.body["code"] == "insufficient_quota"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "image-1"}, "invalid_prompt"),
        ({"model": "image-1", "prompt": "x", "n": 11}, "invalid_n"),
        ({"model": "image-1", "prompt": "x", "n": "2"}, "invalid_n"),
        ({"model": "image-1", "prompt": "x", "size": "big"}, "invalid_size"),
        ({"model": "image-1", "prompt": "x", "quality": "ultra"}, "invalid_quality"),
        ({"model": "image-1", "prompt": "x", "response_format": "png"}, "invalid_response_format"),
        ({"prompt": "x"}, "missing_model"),
    ],
)
def test_bad_image_bodies_are_400s_in_openai_shape(stack, new_account, body, code):
    _, key = new_account()
    r = httpx.post(f"{stack.edge_url}/images/generations", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text


def test_a_chat_model_does_not_draw(stack, new_account):
    _, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as err:
        c.images.generate(model="embed-voyage", prompt="x")  # a retrieval-only kind: no channel serves images
    assert err.value.status_code == 503 and err.value.body["code"] == "no_usable_channel"
    assert "does not serve this endpoint" in err.value.body["message"]


def test_moderations_with_the_openai_sdk_are_metered_per_request(stack, new_account):
    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    result = c.moderations.create(model="moderation-1", input=["a sunny day", "I will kill the process"])
    assert [r.flagged for r in result.results] == [False, True]
    assert result.results[1].categories.violence and result.results[1].category_scores.violence > 0.5
    default = c.moderations.create(input="hello")  # no model: OpenAI's default, an alias here
    assert default.results[0].flagged is False
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["cost_micros"]) == (2, 2 * 150)
    rows = requests_of(stack, account_id, "moderations", 2)
    assert sorted((u["unit"], u["quantity"]) for row in rows for u in row["units"]) == [("request", 1), ("request", 1)]


def test_bad_moderation_input_is_a_400(stack, new_account):
    _, key = new_account()
    r = httpx.post(f"{stack.edge_url}/moderations", json={"input": []}, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"


def test_speech_streams_a_wav_a_decoder_opens_and_is_metered_per_character(stack, new_account, tmp_path):
    import wave

    from tools.provider_sim.media import SPEECH_MS_PER_WORD, SPEECH_RATE

    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    sentence = "The quick brown fox jumps over the lazy dog."  # 44 characters, 9 words
    target = tmp_path / "speech.wav"
    with c.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input=sentence, response_format="wav") as r:
        assert r.headers["content-type"].startswith("audio/wav")
        r.stream_to_file(target)
    with wave.open(str(target), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SPEECH_RATE)
        assert w.getnframes() == SPEECH_RATE * SPEECH_MS_PER_WORD * 9 // 1000
        assert any(w.readframes(100))  # a tone, not silence
    pcm = c.audio.speech.create(model="tts-1", voice="alloy", input="hello", response_format="pcm")
    assert len(pcm.content) == 2 * SPEECH_RATE * SPEECH_MS_PER_WORD // 1000
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["cost_micros"]) == (2, (44 + 5) * 15)  # $15 per million characters
    rows = requests_of(stack, account_id, "speech", 2)
    assert sorted(u["quantity"] for row in rows for u in row["units"]) == [5, 44]


def test_bad_speech_bodies_are_400s(stack, new_account):
    _, key = new_account()
    for body, code in [
        ({"model": "tts-1", "input": "x"}, "invalid_voice"),
        ({"model": "tts-1", "voice": "alloy", "input": "x" * 4097}, "input_too_long"),
        ({"model": "tts-1", "voice": "alloy", "input": "x", "speed": 9}, "invalid_speed"),
        ({"model": "tts-1", "voice": "alloy", "input": "x", "response_format": "ogg"}, "invalid_response_format"),
    ]:
        r = httpx.post(f"{stack.edge_url}/audio/speech", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text


def test_imagen_through_the_gemini_api_answers_in_openais_shape(stack, new_account):
    """Imagen's own wire format (``:predict``, aspect ratios, ``predictions``) behind the OpenAI SDK."""
    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    wide = c.images.generate(model="imagen", prompt="a harbour", n=2, size="1792x1024")  # nearest Imagen ratio: 16:9
    assert len(wide.data) == 2
    width, height, pixel = decode_png(base64.b64decode(wide.data[1].b64_json))
    assert (width, height) == (1408, 768) and tuple(pixel) == colour("a harbour", 1)
    url = c.images.generate(model="imagen", prompt="a harbour", response_format="url").data[0].url
    assert url.startswith("data:image/png;base64,") and decode_png(base64.b64decode(url.split(",", 1)[1]))[:2] == (1024, 1024)
    with pytest.raises(openai.BadRequestError) as err:
        c.images.generate(model="imagen", prompt="x", n=5)  # Imagen draws at most 4
    assert err.value.body["code"] == "invalid_n"
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["cost_micros"]) == (2, 3 * 30_000)


def test_image_generation_on_the_gemini_door(stack, new_account):
    """Imagen's REST ``:predict`` (https://ai.google.dev/gemini-api/docs/imagen; google-genai's
    ``generate_images`` sends it only in Vertex mode), served by an OpenAI-protocol images
    upstream (translated both ways), metered per image."""
    account_id, key = new_account()
    url = f"{stack.edge_url.removesuffix('/v1')}/gemini/v1beta/models/image-1:predict"
    body = {"instances": [{"prompt": "a lighthouse"}], "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}}
    r = httpx.post(url, json=body, headers={"x-goog-api-key": key}, timeout=30)
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert [p["mimeType"] for p in predictions] == ["image/png", "image/png"]
    for i, prediction in enumerate(predictions):
        width, height, pixel = decode_png(base64.b64decode(prediction["bytesBase64Encoded"]))
        assert (width, height) == (1792, 1024) and tuple(pixel) == colour("a lighthouse", i)
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["cost_micros"]) == (1, 2 * 100_000)  # 1792x1024 has no price of its own: the "*" one
    bad = {"instances": [{"prompt": "x"}], "parameters": {"aspectRatio": "2:1"}}
    refused = httpx.post(url, json=bad, headers={"x-goog-api-key": key}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_speech_as_mp3_by_default_is_an_mp3_a_decoder_opens(stack, new_account, tmp_path):
    import miniaudio

    from tools.provider_sim.media import SPEECH_MS_PER_WORD, SPEECH_RATE

    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    target = tmp_path / "speech.mp3"
    with c.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="Four words spoken here.") as r:
        assert r.headers["content-type"].startswith("audio/mpeg")  # OpenAI's default response_format
        r.stream_to_file(target)
    info = miniaudio.mp3_get_file_info(str(target))
    assert (info.nchannels, info.sample_rate) == (1, SPEECH_RATE)
    decoded = miniaudio.decode_file(str(target), output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=SPEECH_RATE)
    seconds = 4 * SPEECH_MS_PER_WORD / 1000
    assert seconds <= decoded.duration < seconds + 0.2  # the encoder pads a frame or so
    assert max(decoded.samples) > 4_000  # the tone, not silence
    stored = wait_for_usage(stack, account_id, 1)
    assert stored["cost_micros"] == len("Four words spoken here.") * 15  # $15 per million characters
