"""The simulator's multipart endpoints: ``/v1/audio/transcriptions`` and ``/translations``
(real timed transcripts of a WAV: one segment a second of audio, its words derived from
that second's samples, so the same audio always reads the same) and ``/v1/images/edits``
(a PNG of the asked size, coloured by the prompt, as generations)."""

from __future__ import annotations

import io
import math
import wave
import zlib
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath

from tools.provider_sim.azure import API_VERSIONS
from tools.provider_sim.common import WORDS, Sim
from tools.provider_sim.media import images_answer
from tools.provider_sim.openai import bearer_ok, openai_error

FORMATS = {"json", "text", "srt", "vtt", "verbose_json"}


def segments(audio: bytes) -> tuple[float, list[dict[str, Any]]]:
    """The WAV's duration and one segment a second (the last one shorter), three words each."""
    with wave.open(io.BytesIO(audio), "rb") as w:
        rate, width, channels, frames = w.getframerate(), w.getsampwidth(), w.getnchannels(), w.getnframes()
        samples = w.readframes(frames)
    duration = frames / rate
    per_second = rate * width * channels
    out = []
    for i in range(max(math.ceil(duration), 1)):
        chunk = samples[i * per_second : (i + 1) * per_second]
        seed = zlib.crc32(chunk)
        words = " ".join(WORDS[(seed >> (8 * k)) % len(WORDS)] for k in range(3))
        out.append(
            {
                "id": i,
                "seek": 0,
                "start": float(i),
                "end": min(float(i + 1), duration),
                "text": " " + words,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.2,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.01,
            }
        )
    return duration, out


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def render(fmt: str, task: str, duration: float, segs: list[dict[str, Any]]) -> Response:
    text = "".join(s["text"] for s in segs).strip()
    if fmt == "text":
        return Response(text + "\n", media_type="text/plain")
    if fmt == "srt":
        cues = [f"{i + 1}\n{_stamp(s['start'], ',')} --> {_stamp(s['end'], ',')}\n{s['text'].strip()}\n" for i, s in enumerate(segs)]
        return Response("\n".join(cues) + "\n", media_type="text/plain")
    if fmt == "vtt":
        cues = [f"{_stamp(s['start'], '.')} --> {_stamp(s['end'], '.')}\n{s['text'].strip()}\n" for s in segs]
        return Response("WEBVTT\n\n" + "\n".join(cues) + "\n", media_type="text/plain")
    if fmt == "verbose_json":
        return Response({"task": task, "language": "english", "duration": duration, "text": text, "segments": segs})
    return Response({"text": text, "usage": {"type": "duration", "seconds": math.ceil(duration)}})


async def _form(sim: Sim, request: Request, deployment: str | None = None) -> tuple[dict[str, Any], list[UploadFile]] | Response:
    """Auth (a bearer token; on an Azure deployment its api-key and api-version), the form, and the model's failure mode."""
    if deployment is not None:
        if not request.headers.get("api-key") or request.query_params.get("api-version") not in API_VERSIONS:
            return openai_error(401, "Access denied due to invalid subscription key, or an unknown api-version.", "invalid_request_error")
    elif not bearer_ok(request):
        return openai_error(401, "missing bearer token", "invalid_request_error")
    form = await request.form()
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    status = await sim.admit(deployment or str(fields.get("model", "")))
    if status is not None:
        return openai_error(status, f"simulated HTTP {status}")
    if not files:
        return openai_error(400, "a file is required")
    return fields, files


def routes(sim: Sim) -> list:
    async def transcript(request: Request, task: str, deployment: str | None = None) -> Response:
        got = await _form(sim, request, deployment)
        if isinstance(got, Response):
            return got
        fields, files = got
        fmt = fields.get("response_format", "json")
        if fmt not in FORMATS:
            return openai_error(400, f"response_format {fmt!r} is not supported")
        try:
            duration, segs = segments(await files[0].read())
        except (wave.Error, EOFError):
            return openai_error(400, "the simulator transcribes WAV files only")
        return render(fmt, task, duration, segs)

    @post("/v1/audio/transcriptions", status_code=200)
    async def transcriptions(request: Request) -> Response:
        return await transcript(request, "transcribe")

    @post("/v1/audio/translations", status_code=200)
    async def translations(request: Request) -> Response:
        return await transcript(request, "translate")

    @post("/v1/images/edits", status_code=200)
    async def edits(request: Request) -> Response:
        got = await _form(sim, request)
        if isinstance(got, Response):
            return got
        fields, files = got
        if not (await files[0].read()).startswith(b"\x89PNG"):
            return openai_error(400, "the image must be a PNG")
        body: dict[str, Any] = {k: fields[k] for k in ("prompt", "size", "quality", "response_format") if k in fields}
        body["n"] = int(fields.get("n", "1"))
        return images_answer(body)

    @post("/azure/openai/deployments/{deployment:str}/audio/transcriptions", status_code=200)
    async def azure_transcriptions(request: Request, deployment: FromPath[str]) -> Response:
        return await transcript(request, "transcribe", deployment)

    return [transcriptions, translations, edits, azure_transcriptions]
