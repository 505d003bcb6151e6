"""OpenAI's multipart endpoints: ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``
(priced per second of audio, ``audio_ms``) and ``POST /v1/images/edits`` (per image, as
generations). The upload streams through to the upstream (``services/edge/uploads.py``):
its fields before the file are checked here, the file itself is never read beyond its header.

A transcription's hold is the upload's duration: from its WAV header when it has one, else
bounded by its size at ``FLOOR_BYTES_PER_S`` (the lowest bitrate speech is sent at). It is
billed the WAV's duration, else the duration the answer reports (verbose_json's ``duration``,
json's ``usage.seconds``, srt/vtt's last cue), else the hold's bound."""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Any, Final

import msgspec
from litestar import Request, Response, post

from services.edge import proxy, uploads
from services.edge.context import Edge, timer_of
from services.edge.frontends.openai import OpenAIFrontend
from services.edge.frontends.openai.media import QUALITIES, SIZE
from services.edge.limits import check_model_name
from tollgate import units
from tollgate.errors import BadRequest, TollgateError, UpstreamError
from tollgate.events import UnitUsage
from tollgate.providers.base import IMAGE_EDITS, TRANSCRIPTIONS, TRANSLATIONS, Adapter, UpstreamRequest
from tollgate.providers.media import images_used, images_worst
from tollgate.rpc import router_pb2 as pb

TRANSCRIPT_FORMATS: Final = {"json", "text", "srt", "vtt", "verbose_json"}
FLOOR_BYTES_PER_S: Final = 2_000  # 16 kbit/s: an upload of unknown format is held as this long
MAX_IMAGES: Final = 10
_CUE_END: Final = re.compile(rb"--> *(\d+):(\d{2}):(\d{2})[,.](\d{3})")

_DOOR = OpenAIFrontend()


def _model(fields: dict[str, str]) -> None:
    if not fields.get("model"):
        raise BadRequest("you must provide a model parameter", code="missing_model")
    check_model_name(fields["model"])


def check_transcription(fields: dict[str, str]) -> dict[str, Any]:
    _model(fields)
    fmt = fields.get("response_format", "json")
    if fmt not in TRANSCRIPT_FORMATS:
        raise BadRequest(f"'response_format' must be one of {', '.join(sorted(TRANSCRIPT_FORMATS))}.", code="invalid_response_format")
    if "temperature" in fields:
        try:
            ok = 0.0 <= float(fields["temperature"]) <= 1.0
        except ValueError:
            ok = False
        if not ok:
            raise BadRequest("'temperature' must be a number from 0 to 1.", code="invalid_temperature")
    return {"model": fields["model"], "response_format": fmt}


def check_edit(fields: dict[str, str]) -> dict[str, Any]:
    _model(fields)
    if not fields.get("prompt", "").strip():
        raise BadRequest("'prompt' must be a non-empty string.", code="invalid_prompt")
    body: dict[str, Any] = {"model": fields["model"]}
    if "n" in fields:
        if not fields["n"].isdigit() or not 1 <= int(fields["n"]) <= MAX_IMAGES:
            raise BadRequest(f"'n' must be an integer from 1 to {MAX_IMAGES}.", code="invalid_n")
        body["n"] = int(fields["n"])
    if "size" in fields:
        if not SIZE.match(fields["size"]):
            raise BadRequest("'size' must be 'auto' or WIDTHxHEIGHT, e.g. '1024x1024'.", code="invalid_size")
        body["size"] = fields["size"]
    if "quality" in fields:
        if fields["quality"] not in QUALITIES:
            raise BadRequest(f"'quality' must be one of {', '.join(sorted(QUALITIES))}.", code="invalid_quality")
        body["quality"] = fields["quality"]
    return body


def wav_ms(head: bytes, file_bytes: int) -> int | None:
    """A WAV's duration in milliseconds (rounded up) from its header, None when ``head`` is
    not a WAV or its data chunk is past what was read. A data chunk whose size was left open
    (0 or 0xFFFFFFFF: a streamed WAV) runs to the file's end."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        kind, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
        if kind == b"fmt " and pos + 16 <= len(head):
            byte_rate = struct.unpack("<I", head[pos + 16 : pos + 20])[0] if pos + 20 <= len(head) else 0
        elif kind == b"data":
            if not byte_rate:
                return None
            if size in (0, 0xFFFFFFFF):
                size = max(file_bytes - pos - 8, 0)
            return -(-size * 1000 // byte_rate)
        pos += 8 + size + (size & 1)
    return None


def held_ms(upload: uploads.Upload) -> tuple[int, bool]:
    """The upload's duration, and whether it is exact (a WAV's header) or a bound by size."""
    exact = wav_ms(upload.head, upload.file_bytes)
    if exact is not None:
        return exact, True
    return -(-upload.file_bytes * 1000 // FLOOR_BYTES_PER_S), False


class _Reported(msgspec.Struct):
    duration: float | None = None
    usage: dict[str, Any] | None = None


def reported_ms(payload: bytes, fmt: str) -> int | None:
    """The duration an answer reports, when it does."""
    if fmt in ("srt", "vtt"):
        ends = _CUE_END.findall(payload)
        if not ends:
            return None
        h, m, s, ms = (int(x) for x in ends[-1])
        return ((h * 60 + m) * 60 + s) * 1000 + ms
    if fmt not in ("json", "verbose_json"):
        return None
    try:
        answer = msgspec.json.decode(payload, type=_Reported)
    except msgspec.DecodeError:
        return None
    if answer.duration is not None:
        return int(-(-answer.duration * 1000 // 1))
    seconds = (answer.usage or {}).get("seconds")
    return int(seconds * 1000) if isinstance(seconds, int | float) and not isinstance(seconds, bool) else None


async def _upload(
    request: Request,
    ability: str,
    endpoint: str,
    check: Callable[[dict[str, str]], dict[str, Any]],
    worst_of: Callable[[uploads.Upload, dict[str, Any]], list[UnitUsage]],
    used_of: Callable[[uploads.Upload, dict[str, Any], bytes, list[UnitUsage]], list[UnitUsage]],
) -> Response:
    edge: Edge = request.app.state.edge
    timer_of(request.scope).endpoint = endpoint
    principal = await proxy.authorize(edge, _DOOR.api_key(request), request)
    length = request.headers.get("content-length", "")
    upload = await uploads.open_upload(
        request.headers.get("content-type", ""), int(length) if length.isdigit() else None, uploads.client_bytes(request)
    )
    body = check(upload.fields)
    worst = worst_of(upload, body)
    plan, meter = await proxy.prepare(
        edge,
        request,
        principal,
        {"model": body["model"]},
        body["model"],
        endpoint=endpoint,
        stream=False,
        size=0,
        completes=False,
        units=worst,
    )
    boundary = upload.boundary.decode("latin-1")

    def build(candidate: pb.Candidate, adapter: Adapter, secret: str):
        if ability not in adapter.abilities:
            return None  # the upstream loop skips it: "does not serve this endpoint"
        url, headers = adapter.upload_target(ability, candidate.base_url, secret, candidate.upstream_model)
        headers = {**headers, "content-type": f"multipart/form-data; boundary={boundary}"}
        return UpstreamRequest(url, headers, upload.body({**upload.fields, "model": candidate.upstream_model}))

    try:
        outcome = await proxy.attempt(edge, plan, build, meter)
    except TollgateError:
        meter.release()  # the upload was refused (too large) before any upstream answered
        raise
    payload = await proxy.read_body(outcome, meter)
    try:
        used = used_of(upload, body, payload, worst)
    except (ValueError, KeyError, TypeError, msgspec.DecodeError):
        raise proxy._fail(meter, outcome, UpstreamError("The upstream answer could not be read.")) from None
    meter.publish(status=200, usage=None, attempts=outcome.attempts, channel=outcome.candidate, units=used)
    media_type = outcome.response.headers.get("content-type") or "application/json"
    return Response(content=payload, status_code=200, media_type=media_type, headers=proxy.served_headers(outcome))


def _audio_worst(upload: uploads.Upload, _body: dict[str, Any]) -> list[UnitUsage]:
    return [UnitUsage(unit=units.AUDIO_MS, quantity=held_ms(upload)[0])]


def _audio_used(upload: uploads.Upload, body: dict[str, Any], payload: bytes, worst: list[UnitUsage]) -> list[UnitUsage]:
    ms, exact = held_ms(upload)
    if not exact:
        reported = reported_ms(payload, body["response_format"])
        ms = min(ms, reported) if reported is not None else ms
    return [UnitUsage(unit=units.AUDIO_MS, quantity=ms)]


def _images_worst(_upload: uploads.Upload, body: dict[str, Any]) -> list[UnitUsage]:
    return images_worst(body)


def _images_used(_upload: uploads.Upload, body: dict[str, Any], payload: bytes, _worst: list[UnitUsage]) -> list[UnitUsage]:
    return images_used(payload, body)


@post("/v1/audio/transcriptions", status_code=200)
async def transcriptions(request: Request) -> Response:
    return await _upload(request, TRANSCRIPTIONS, "transcriptions", check_transcription, _audio_worst, _audio_used)


@post("/v1/audio/translations", status_code=200)
async def translations(request: Request) -> Response:
    return await _upload(request, TRANSLATIONS, "translations", check_transcription, _audio_worst, _audio_used)


@post("/v1/images/edits", status_code=200)
async def image_edits(request: Request) -> Response:
    return await _upload(request, IMAGE_EDITS, "image_edits", check_edit, _images_worst, _images_used)


ROUTES: Final = [transcriptions, translations, image_edits]
