"""Operations billed in units beyond tokens: image generation (per image, by size and
quality) and moderation (per request), as typed ``Operation``s the edge's unary path serves.

The answers are OpenAI-shaped (the adapters return them so); what they used is read from
them here, never their content: an images answer is counted by its ``data`` entries, whose
bytes are skipped unread."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from tollgate import units
from tollgate.events import UnitUsage
from tollgate.providers.base import IMAGES, MODERATIONS, Adapter, Operation, Usage

DEFAULT_SIZE: Final = "1024x1024"  # OpenAI's default for every image model
DEFAULT_QUALITY: Final = "standard"


class ImagesAnswer(msgspec.Struct):
    """What an images answer is metered by: its images (unread), and the size and quality
    gpt-image models report they drew."""

    data: list[msgspec.Raw] = []
    size: str | None = None
    quality: str | None = None


_IMAGES = msgspec.json.Decoder(ImagesAnswer)


def image_variant(body: dict[str, Any], answer: ImagesAnswer | None = None) -> str:
    size = (answer.size if answer else None) or body.get("size") or DEFAULT_SIZE
    quality = (answer.quality if answer else None) or body.get("quality") or DEFAULT_QUALITY
    return units.image_variant(str(size), str(quality))


def images_worst(body: dict[str, Any]) -> list[UnitUsage]:
    """Every image the request asks for (``n``, 1 when absent), at its own size and quality."""
    n = body.get("n")
    return [UnitUsage(unit=units.IMAGE, variant=image_variant(body), quantity=n if isinstance(n, int) and n > 0 else 1)]


def images_used(result: dict | bytes, body: dict[str, Any]) -> list[UnitUsage]:
    if isinstance(result, bytes):
        answer = _IMAGES.decode(result)
    else:  # an adapter's own (its images are not re-encoded to be counted)
        answer = ImagesAnswer(data=list(result["data"]), size=result.get("size"), quality=result.get("quality"))
    if not answer.data:
        return []
    return [UnitUsage(unit=units.IMAGE, variant=image_variant(body, answer), quantity=len(answer.data))]


def one_request(_body: dict[str, Any]) -> list[UnitUsage]:
    return [UnitUsage(unit=units.REQUEST, quantity=1)]


def as_requested(result: dict | bytes, body: dict[str, Any]) -> dict | bytes:
    """An images answer an adapter built (a dict: a provider with its own wire format) in the
    form the client asked for: ``response_format="url"`` gets ``data:`` URLs, since such
    providers host no files; ``mime_type`` (the adapter's note) is dropped. An answer in
    bytes is the upstream's own, in the form it was asked for."""
    if isinstance(result, bytes):
        return result
    url = body.get("response_format") == "url"
    data = []
    for item in result["data"]:
        mime = item.get("mime_type") or "image/png"
        rest = {k: v for k, v in item.items() if k != "mime_type"}
        if url and "b64_json" in rest:
            rest["url"] = f"data:{mime};base64,{rest.pop('b64_json')}"
        data.append(rest)
    return {**result, "data": data}


def _images_result(adapter: Adapter, payload: bytes, body: dict) -> tuple[dict | bytes, Usage]:
    result, usage = adapter.images_result(payload)
    return as_requested(result, body), usage


def _moderations_result(adapter: Adapter, payload: bytes, body: dict) -> tuple[dict | bytes, Usage]:
    return adapter.moderations_result(payload)


IMAGES_OPERATION: Final = Operation(
    IMAGES,
    lambda a, url, secret, model, body: a.images_request(url, secret, model, body),
    _images_result,
    worst=images_worst,
    units=images_used,
)

MODERATIONS_OPERATION: Final = Operation(
    MODERATIONS,
    lambda a, url, secret, model, body: a.moderations_request(url, secret, model, body),
    _moderations_result,
    worst=one_request,
    units=lambda _result, body: one_request(body),
)
