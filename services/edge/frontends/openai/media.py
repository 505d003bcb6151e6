"""OpenAI's image generation (``/v1/images/generations``) and moderation (``/v1/moderations``)
bodies, checked before anything is routed or held: a field of the wrong type or out of
range is a 400 in OpenAI's shape, never passed on for the upstream to guess at."""

from __future__ import annotations

import re
from typing import Any, Final

from litestar import Request, Response, post

from services.edge import limits, proxy
from services.edge.frontends.openai import OpenAIFrontend
from services.edge.limits import bounded_int, decode_object
from tollgate.errors import BadRequest
from tollgate.providers.media import IMAGES_OPERATION, MODERATIONS_OPERATION

MAX_IMAGES: Final = 10  # OpenAI's limit for ``n``
MAX_PROMPT_CHARS: Final = 32_000  # gpt-image-1's (DALL-E 3 takes 4,000, DALL-E 2 1,000: the upstream says so)
SIZE: Final = re.compile(r"^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$")
QUALITIES: Final = frozenset({"standard", "hd", "low", "medium", "high", "auto"})
RESPONSE_FORMATS: Final = frozenset({"url", "b64_json"})
DEFAULT_MODERATION_MODEL: Final = "omni-moderation-latest"  # OpenAI's default when the body names none
MAX_MODERATION_INPUTS: Final = 32

_DOOR = OpenAIFrontend()


def _model(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("you must provide a model parameter", code="missing_model")
    limits.check_model_name(body["model"])


def _one_of(body: dict[str, Any], name: str, allowed: frozenset[str]) -> None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or value not in allowed):
        raise BadRequest(f"'{name}' must be one of {', '.join(sorted(allowed))}.", code=f"invalid_{name}")


def parse_images(raw: bytes) -> dict[str, Any]:
    return check_images(decode_object(raw))


def check_images(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI images body as the edge accepts it (any door's, translated to OpenAI's shape)."""
    _model(body)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest("'prompt' must be a non-empty string.", code="invalid_prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadRequest(f"'prompt' is longer than {MAX_PROMPT_CHARS} characters.", code="prompt_too_long")
    bounded_int(body.get("n"), "n", MAX_IMAGES)
    size = body.get("size")
    if size is not None and (not isinstance(size, str) or not SIZE.match(size)):
        raise BadRequest("'size' must be 'auto' or WIDTHxHEIGHT, e.g. '1024x1024'.", code="invalid_size")
    _one_of(body, "quality", QUALITIES)
    _one_of(body, "response_format", RESPONSE_FORMATS)
    if body.get("stream") not in (None, False):
        raise BadRequest("Streamed image generation is not supported; leave 'stream' unset.", code="unsupported_stream")
    return body


def _moderation_input(value: Any) -> bool:
    """A string, an array of strings, or an array of text / image_url parts (OpenAI's omni models)."""
    if isinstance(value, str):
        return bool(value)
    if not isinstance(value, list) or not value or len(value) > MAX_MODERATION_INPUTS:
        return False
    if all(isinstance(v, str) for v in value):
        return True
    return all(
        isinstance(v, dict)
        and (
            (v.get("type") == "text" and isinstance(v.get("text"), str))
            or (v.get("type") == "image_url" and isinstance(v.get("image_url"), dict) and isinstance(v["image_url"].get("url"), str))
        )
        for v in value
    )


def parse_moderations(raw: bytes) -> dict[str, Any]:
    body = decode_object(raw)
    if body.get("model") is None:
        body["model"] = DEFAULT_MODERATION_MODEL
    _model(body)
    if not _moderation_input(body.get("input")):
        raise BadRequest(
            f"'input' must be a non-empty string, or an array of at most {MAX_MODERATION_INPUTS} strings or text / image_url parts.",
            code="invalid_input",
        )
    return body


@post("/v1/images/generations", status_code=200)
async def images_generations(request: Request) -> Response:
    return await proxy.unary(request, _DOOR, endpoint="images", operation=IMAGES_OPERATION, parse=parse_images)


@post("/v1/moderations", status_code=200)
async def moderations(request: Request) -> Response:
    return await proxy.unary(request, _DOOR, endpoint="moderations", operation=MODERATIONS_OPERATION, parse=parse_moderations)


ROUTES: Final = [images_generations, moderations]
