"""Catalog prices beyond tokens: per image (by variant), per audio second, per million
characters, per request; a channel's own price overrides them field by field."""

from __future__ import annotations

import pytest

from services.router.catalog import CatalogError, parse
from services.router.service import price_msg

CATALOG = """
[[models]]
id = "img"
capabilities = ["images"]
price = { per_image_micros = { "1024x1024/hd" = 80_000, "*" = 40_000 }, per_request_micros = 5, version = "i1" }

[[models]]
id = "tts"
capabilities = ["speech"]
price = { per_mchar_micros = 15_000_000, per_audio_second_micros = 100 }

[[channels]]
id = "c1"
provider = "openai"
base_url = "https://x.test/v1"
models = { "img" = "gpt-image-1", "tts" = "tts-1" }
prices = { "img" = { per_image_micros = { "*" = 50_000 } } }
"""


def test_unit_prices_load_and_reach_the_edge() -> None:
    catalog = parse(CATALOG.encode(), 1)
    img, tts = catalog.models["img"], catalog.models["tts"]
    assert img.price.per_image_micros == {"1024x1024/hd": 80_000, "*": 40_000} and img.price.per_request_micros == 5
    assert (tts.price.per_mchar_micros, tts.price.per_audio_second_micros) == (15_000_000, 100)
    msg = price_msg(img.price)
    assert dict(msg.per_image_micros) == {"1024x1024/hd": 80_000, "*": 40_000} and msg.per_request_micros == 5
    own = catalog.channels[0].price_of(img)
    assert own.per_image_micros == {"*": 50_000} and own.per_request_micros == 5 and own.version == "c1/i1"


@pytest.mark.parametrize(
    "price",
    ['{ per_image_micros = { "*" = -1 } }', "{ per_request_micros = -5 }", "{ per_mchar_micros = -1 }", "{ per_audio_second_micros = -1 }"],
)
def test_a_negative_unit_price_is_refused(price: str) -> None:
    with pytest.raises(CatalogError, match="negative price"):
        parse(f'[[models]]\nid = "m"\nprice = {price}\n'.encode(), 1)
