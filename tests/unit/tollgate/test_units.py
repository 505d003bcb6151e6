"""Units beyond tokens (tollgate.units): exact integer prices, the image variant fallback,
and the usage event that carries them to consumers old and new."""

from __future__ import annotations

import msgspec
import pytest

from tollgate import events, units
from tollgate.events import UnitUsage
from tollgate.rpc import router_pb2 as pb

PRICE = pb.Price(
    per_request_micros=150,
    per_image_micros={"1024x1024/hd": 80_000, "1024x1024": 40_000, "*": 100_000},
    per_audio_second_micros=7,
    per_mchar_micros=15_000_000,
)


@pytest.mark.parametrize(
    ("variant", "price"),
    [("1024x1024/hd", 80_000), ("1024x1024/standard", 40_000), ("1024x1024", 40_000), ("512x512/hd", 100_000)],
)
def test_an_image_is_priced_by_variant_then_size_then_any(variant: str, price: int) -> None:
    assert units.image_price(PRICE, variant) == price
    assert units.image_price(pb.Price(), variant) == 0  # a catalog without image prices bills none


def test_every_unit_costs_exactly_and_rounds_up_once() -> None:
    used = [
        UnitUsage(unit=units.IMAGE, variant="1024x1024/hd", quantity=2),
        UnitUsage(unit=units.REQUEST, quantity=1),
        UnitUsage(unit=units.AUDIO_MS, quantity=1_500),  # 1.5 s at 7 = 10.5
        UnitUsage(unit=units.CHARACTER, quantity=1_000),  # $15 per million characters: 15,000
    ]
    assert units.cost_micros(used, PRICE) == 160_000 + 150 + 15_000 + 11  # the half micro-USD of audio rounds up, once
    cheap = pb.Price(per_mchar_micros=300_000, per_audio_second_micros=1)  # 0.3 per character, 0.001 per ms
    assert units.cost_micros([UnitUsage(unit=units.CHARACTER, quantity=1)], cheap) == 1
    assert units.cost_micros([UnitUsage(unit=units.CHARACTER, quantity=10)], cheap) == 3
    assert units.cost_micros([UnitUsage(unit=units.CHARACTER, quantity=5), UnitUsage(unit=units.AUDIO_MS, quantity=500)], cheap) == 2
    assert units.cost_micros([], PRICE) == 0


def test_an_unknown_unit_is_an_error_not_free() -> None:
    with pytest.raises(ValueError, match="unknown unit"):
        units.cost_micros([UnitUsage(unit="pixels", quantity=1)], PRICE)


def test_totals_sum_the_variants() -> None:
    used = [
        UnitUsage(unit="image", variant="a", quantity=2),
        UnitUsage(unit="image", variant="b", quantity=1),
        UnitUsage(unit="request", quantity=1),
    ]
    assert units.totals(used) == {"image": 3, "request": 1}


def test_the_usage_event_carries_units_and_old_consumers_still_read_it() -> None:
    event = events.UsageEvent(
        request_id="r",
        occurred_at_ms=1,
        account_id="a",
        key_id="k",
        units=[UnitUsage(unit="image", variant="256x256/standard", quantity=2)],
    )
    assert events.decode(events.USAGE_SUBJECT, events.encode(event)) == event

    class OldUsageEvent(msgspec.Struct, frozen=True, kw_only=True):  # a consumer from before the field
        request_id: str
        occurred_at_ms: int
        account_id: str
        key_id: str
        cost_micros: int = 0

    assert msgspec.msgpack.decode(events.encode(event), type=OldUsageEvent).request_id == "r"
    plain = events.decode(
        events.USAGE_SUBJECT, msgspec.msgpack.encode(OldUsageEvent(request_id="r", occurred_at_ms=1, account_id="a", key_id="k"))
    )
    assert plain.units == []  # an old producer's event: no units


def test_a_negative_quantity_is_refused_on_the_bus() -> None:
    data = msgspec.msgpack.encode(
        {"request_id": "r", "occurred_at_ms": 1, "account_id": "a", "key_id": "k", "units": [{"unit": "image", "quantity": -1}]}
    )
    with pytest.raises(msgspec.ValidationError):
        events.decode(events.USAGE_SUBJECT, data)
