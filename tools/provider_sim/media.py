"""OpenAI image generation (``POST /v1/images/generations``: real PNG bytes), moderation
(``POST /v1/moderations``) and text to speech (``POST /v1/audio/speech``: a real MP3 or WAV, or raw
PCM, streamed in pieces). Deterministic: the same prompt draws the same image, the same
text speaks for the same time (``SPEECH_MS_PER_WORD`` a word)."""

from __future__ import annotations

import base64
import io
import math
import struct
import time
import wave
import zlib
from typing import Any

from litestar import Request, Response, post
from litestar.response import Stream

from tools.provider_sim.common import Sim
from tools.provider_sim.openai import admitted, openai_error

MAX_SIDE = 4096
SIZES = {"auto": (1024, 1024)}
CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
SPEECH_RATE = 24_000  # OpenAI's PCM: 24 kHz, 16-bit, mono
SPEECH_MS_PER_WORD = 250
SPEECH_PIECE = 8_192  # bytes per streamed piece
VIOLENT_WORDS = frozenset({"kill", "attack", "hurt"})  # what the simulator flags as violence


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG (8-bit RGB, one filter byte a row) filled with ``rgb``."""
    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(row * height, 6)) + _chunk(b"IEND", b"")


def colour(prompt: str, index: int) -> tuple[int, int, int]:
    """The colour the simulator paints a prompt's ``index``-th image (the tests recompute it)."""
    seed = zlib.crc32(f"{index}:{prompt}".encode())
    return (seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF)


def dimensions(size: Any) -> tuple[int, int] | None:
    if size is None:
        return SIZES["auto"]
    if not isinstance(size, str):
        return None
    if size in SIZES:
        return SIZES[size]
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()) or not (0 < int(width) <= MAX_SIDE and 0 < int(height) <= MAX_SIDE):
        return None
    return int(width), int(height)


def images_answer(body: dict[str, Any]) -> Response:
    prompt, n = body.get("prompt"), body.get("n", 1)
    if not isinstance(prompt, str) or not prompt:
        return openai_error(400, "prompt is required")
    if not isinstance(n, int) or not 1 <= n <= 10:
        return openai_error(400, "n must be between 1 and 10")
    size = dimensions(body.get("size"))
    if size is None:
        return openai_error(400, f"Invalid size {body.get('size')!r}")
    data = []
    for i in range(n):
        encoded = base64.b64encode(png(*size, colour(prompt, i))).decode()
        data.append({"url": f"data:image/png;base64,{encoded}"} if body.get("response_format") == "url" else {"b64_json": encoded})
    return Response({"created": int(time.time()), "data": data})


def moderation_result(text: str) -> dict[str, Any]:
    violent = bool(VIOLENT_WORDS & set(text.lower().split()))
    scores = {c: (0.9 if violent and c == "violence" else 0.001) for c in CATEGORIES}
    return {
        "flagged": violent,
        "categories": {c: scores[c] > 0.5 for c in CATEGORIES},
        "category_scores": scores,
        "category_applied_input_types": {c: ["text"] for c in CATEGORIES},
    }


def pcm(text: str) -> bytes:
    """A 440 Hz tone, ``SPEECH_MS_PER_WORD`` a word of ``text``, as 16-bit little-endian samples."""
    frames = SPEECH_RATE * SPEECH_MS_PER_WORD * max(len(text.split()), 1) // 1000
    return b"".join(struct.pack("<h", int(8_000 * math.sin(2 * math.pi * 440 * i / SPEECH_RATE))) for i in range(frames))


def wav(samples: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SPEECH_RATE)
        w.writeframes(samples)
    return out.getvalue()


def mp3(samples: bytes) -> bytes:
    """The samples as an MP3 (LAME, 64 kbit/s mono), as OpenAI's default ``response_format``."""
    import lameenc  # the simulator's own (a dev dependency): loaded when it first speaks mp3

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(SPEECH_RATE)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(samples) + encoder.flush())


SPOKEN = {"mp3": (mp3, "audio/mpeg"), "wav": (wav, "audio/wav"), "pcm": (lambda s: s, "audio/pcm")}


async def _pieces(data: bytes):
    for i in range(0, len(data), SPEECH_PIECE):
        yield data[i : i + SPEECH_PIECE]


def routes(sim: Sim) -> list:
    @post("/v1/audio/speech", status_code=200)
    async def speech(request: Request) -> Response | Stream:
        admission = await admitted(sim, request)
        if isinstance(admission, Response):
            return admission
        body = admission[0]
        text, voice, fmt = body.get("input"), body.get("voice"), body.get("response_format") or "mp3"
        if not isinstance(text, str) or not text or not isinstance(voice, str) or not voice:
            return openai_error(400, "input and voice are required")
        if fmt not in SPOKEN:
            return openai_error(400, f"the simulator speaks {', '.join(SPOKEN)}, not {fmt!r}")
        encode, media_type = SPOKEN[fmt]
        return Stream(_pieces(encode(pcm(text))), media_type=media_type)

    @post("/v1/images/generations", status_code=200)
    async def images(request: Request) -> Response:
        admission = await admitted(sim, request)
        if isinstance(admission, Response):
            return admission
        return images_answer(admission[0])

    @post("/v1/moderations", status_code=200)
    async def moderations(request: Request) -> Response:
        admission = await admitted(sim, request)
        if isinstance(admission, Response):
            return admission
        body, model = admission
        value = body.get("input")
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else None
        if not items:
            return openai_error(400, "input is required")
        texts = [i if isinstance(i, str) else str(i.get("text", "")) if isinstance(i, dict) else "" for i in items]
        return Response({"id": f"modr-sim{sim.next_id()}", "model": model, "results": [moderation_result(t) for t in texts]})

    return [images, moderations, speech]
