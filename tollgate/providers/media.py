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
    answer = _IMAGES.decode(result) if isinstance(result, bytes) else msgspec.convert(result, ImagesAnswer)
    if not answer.data:
        return []
    return [UnitUsage(unit=units.IMAGE, variant=image_variant(body, answer), quantity=len(answer.data))]


def one_request(_body: dict[str, Any]) -> list[UnitUsage]:
    return [UnitUsage(unit=units.REQUEST, quantity=1)]


def _images_result(adapter: Adapter, payload: bytes, body: dict) -> tuple[dict | bytes, Usage]:
    return adapter.images_result(payload)


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
