"""OpenAI's text to speech, ``POST /v1/audio/speech``: the audio streams back to the client
as the upstream sends it (never buffered whole, never logged or stored), through the same
auth, routing, failover and leases as every endpoint. Priced per million characters of
``input`` — known before the request is sent, so the hold is exactly what it will cost."""

from __future__ import annotations

import time
from typing import Any, Final

from litestar import Request, Response, post
from litestar.response import Stream

from services.edge import http_client, proxy
from services.edge.context import Edge, timer_of
from services.edge.frontends.openai import OpenAIFrontend
from services.edge.limits import check_model_name, decode_object
from services.edge.upstream import Outcome
from tollgate import units
from tollgate.errors import BadRequest
from tollgate.events import UnitUsage
from tollgate.providers.base import SPEECH, Adapter
from tollgate.rpc import router_pb2 as pb

MAX_INPUT_CHARS: Final = 4_096  # OpenAI's limit
MAX_VOICE_CHARS: Final = 100
SPEED: Final = (0.25, 4.0)
FORMATS: Final = {  # response_format -> the media type OpenAI answers with
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

_DOOR = OpenAIFrontend()


def parse_speech(raw: bytes) -> dict[str, Any]:
    body = decode_object(raw)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("you must provide a model parameter", code="missing_model")
    check_model_name(body["model"])
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("'input' must be a non-empty string.", code="invalid_input")
    if len(text) > MAX_INPUT_CHARS:
        raise BadRequest(f"'input' is longer than {MAX_INPUT_CHARS} characters.", code="input_too_long")
    voice = body.get("voice")
    if not isinstance(voice, str) or not voice or len(voice) > MAX_VOICE_CHARS:
        raise BadRequest("'voice' must name a voice, e.g. 'alloy'.", code="invalid_voice")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, str) or fmt not in FORMATS):
        raise BadRequest(f"'response_format' must be one of {', '.join(FORMATS)}.", code="invalid_response_format")
    speed = body.get("speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, int | float) or not SPEED[0] <= speed <= SPEED[1]):
        raise BadRequest(f"'speed' must be a number from {SPEED[0]} to {SPEED[1]}.", code="invalid_speed")
    return body


def characters(body: dict[str, Any]) -> list[UnitUsage]:
    return [UnitUsage(unit=units.CHARACTER, quantity=len(body["input"]))]


@post("/v1/audio/speech", status_code=200)
async def speech(request: Request) -> Response | Stream:
    edge: Edge = request.app.state.edge
    timer_of(request.scope).endpoint = "speech"
    principal = await proxy.authorize(edge, _DOOR.api_key(request), request)
    raw = await request.body()
    body = parse_speech(raw)
    used = characters(body)
    plan, meter = await proxy.prepare(
        edge, request, principal, body, body["model"], endpoint="speech", stream=True, size=len(raw), completes=False, units=used
    )

    def build(candidate: pb.Candidate, adapter: Adapter, secret: str):
        if SPEECH not in adapter.abilities:
            return None  # the upstream loop skips it: "does not serve this endpoint"
        return adapter.speech_request(candidate.base_url, secret, candidate.upstream_model, body)

    outcome = await proxy.attempt(edge, plan, build, meter)
    media_type = outcome.response.headers.get("content-type") or FORMATS[body.get("response_format") or "mp3"]
    return Stream(_relay(outcome, meter, used), media_type=media_type, headers=proxy.served_headers(outcome))


async def _relay(outcome: Outcome, meter: proxy.Meter, used: list[UnitUsage]):
    """The audio as it arrives. Billed when it has all gone out, or when the client leaves
    (the upstream spoke it all the same); an upstream that breaks off is billed nothing and
    counts against its channel (the client sees the audio end early)."""
    status, error_code, published = 200, "", False
    pieces = outcome.response.aiter_bytes().__aiter__()
    try:
        while True:
            waited = time.perf_counter()
            try:
                piece = await pieces.__anext__()
            except StopAsyncIteration:
                break
            finally:
                meter.timer.upstream_s += time.perf_counter() - waited
            if not meter.ttft_ms:
                meter.ttft_ms = meter.timer.elapsed_ms()
            yield piece
        published = True
        meter.publish(status=200, usage=None, attempts=outcome.attempts, channel=outcome.candidate, units=used)
    except http_client.HTTPError as exc:
        err = proxy.broken(exc, "The upstream audio stream ended abnormally.")
        status, error_code = err.status, err.code or ""
        proxy.outcome_failed(meter, outcome, "timeout" if status == 504 else "error")
    except BaseException:
        status, error_code = 499, "client_closed"
        raise
    finally:
        await outcome.response.aclose()
        if not published:
            billed = used if status == 499 else None
            meter.publish(
                status=status, usage=None, attempts=outcome.attempts, channel=outcome.candidate, error_code=error_code, units=billed
            )


ROUTES: Final = [speech]
