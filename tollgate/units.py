"""Units beyond tokens: what an image, a second of audio, a million characters or a request
costs, in integer micro-USD, and a request's worst case in them.

A usage event carries each quantity as a ``UnitUsage`` (unit, variant, integer quantity;
audio in milliseconds). A price (the catalog's, as the router's ``Price`` message) names
what each unit costs: ``per_image_micros`` by variant, ``per_audio_second_micros``,
``per_mchar_micros`` (per million characters) and ``per_request_micros``. Every unit's cost
is a whole number of micro-USD per ``DENOMINATOR`` units of its quantity, so a request's
unit cost is summed exactly and rounded up once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final, Protocol

from tollgate.events import UnitUsage

IMAGE: Final = "image"  # variant "<size>/<quality>", e.g. "1024x1024/hd"
AUDIO_MS: Final = "audio_ms"  # milliseconds of audio (priced per second)
CHARACTER: Final = "character"  # characters of input (priced per million)
REQUEST: Final = "request"  # one request (priced per request)

DENOMINATOR: Final = 1_000_000
ANY_VARIANT: Final = "*"


class UnitPrice(Protocol):
    """What a unit cost reads from a price: the router's ``Price`` message or the catalog's."""

    per_request_micros: int
    per_audio_second_micros: int
    per_mchar_micros: int

    @property
    def per_image_micros(self) -> Mapping[str, int]: ...


def image_price(price: UnitPrice, variant: str) -> int:
    """One image's price: the variant's own (``1024x1024/hd``), else its size's (``1024x1024``),
    else the model's every-size price (``*``); 0 when the catalog names none."""
    table = price.per_image_micros
    size = variant.split("/", 1)[0]
    for key in (variant, size, ANY_VARIANT):
        if key in table:
            return table[key]
    return 0


# micro-USD per DENOMINATOR units of each unit's quantity
_SCALED: Final[dict[str, Callable[[UnitPrice, str], int]]] = {
    IMAGE: lambda price, variant: image_price(price, variant) * DENOMINATOR,
    AUDIO_MS: lambda price, _variant: price.per_audio_second_micros * (DENOMINATOR // 1000),
    CHARACTER: lambda price, _variant: price.per_mchar_micros,
    REQUEST: lambda price, _variant: price.per_request_micros * DENOMINATOR,
}
UNITS: Final = frozenset(_SCALED)


def cost_micros(units: Iterable[UnitUsage], price: UnitPrice) -> int:
    """What ``units`` cost at ``price``, rounded up to the next micro-USD (0 for no units)."""
    numerator = 0
    for used in units:
        scaled = _SCALED.get(used.unit)
        if scaled is None:
            raise ValueError(f"unknown unit {used.unit!r}")
        numerator += used.quantity * scaled(price, used.variant)
    return -(-numerator // DENOMINATOR)


def image_variant(size: str, quality: str) -> str:
    return f"{size}/{quality}"


def totals(units: Iterable[UnitUsage]) -> dict[str, int]:
    """Quantity per unit (variants summed)."""
    out: dict[str, int] = {}
    for used in units:
        out[used.unit] = out.get(used.unit, 0) + used.quantity
    return out
