"""Images and moderation as operations: what the upstream is asked, what the answer used."""

from __future__ import annotations

import msgspec
import pytest

from tollgate.events import UnitUsage
from tollgate.providers import REGISTRY
from tollgate.providers.base import NotSupported
from tollgate.providers.media import IMAGES_OPERATION, MODERATIONS_OPERATION, images_used, images_worst

ANSWER = msgspec.json.encode({"created": 1, "data": [{"b64_json": "AAAA"}, {"b64_json": "BBBB"}]})


def test_the_worst_case_is_n_images_at_the_asked_size_and_quality() -> None:
    assert images_worst({"n": 3, "size": "512x512", "quality": "hd"}) == [UnitUsage(unit="image", variant="512x512/hd", quantity=3)]
    assert images_worst({}) == [UnitUsage(unit="image", variant="1024x1024/standard", quantity=1)]


def test_an_answer_is_metered_by_the_images_it_holds() -> None:
    assert images_used(ANSWER, {"n": 4, "size": "256x256"}) == [UnitUsage(unit="image", variant="256x256/standard", quantity=2)]
    reported = msgspec.json.encode({"data": [{"b64_json": "A"}], "size": "1536x1024", "quality": "high"})  # gpt-image says what it drew
    assert images_used(reported, {"size": "auto"}) == [UnitUsage(unit="image", variant="1536x1024/high", quantity=1)]
    assert images_used({"data": []}, {}) == []
    with pytest.raises(msgspec.DecodeError):
        images_used(b"not json", {})


def test_openai_images_request_and_usage() -> None:
    openai = REGISTRY["openai"]
    req = IMAGES_OPERATION.request(openai, "https://api.test/v1", "sk", "gpt-image-1", {"model": "img", "prompt": "p", "n": 2})
    assert req.url == "https://api.test/v1/images/generations" and req.headers["authorization"] == "Bearer sk"
    assert msgspec.json.decode(req.body) == {"model": "gpt-image-1", "prompt": "p", "n": 2}
    payload = msgspec.json.encode({"data": [{"b64_json": "A"}], "usage": {"input_tokens": 10, "output_tokens": 4160}})
    result, usage = IMAGES_OPERATION.result(openai, payload, {})
    assert result == payload and (usage.prompt_tokens, usage.completion_tokens) == (10, 4160)
    with pytest.raises(ValueError):
        IMAGES_OPERATION.result(openai, b"{}", {})


def test_azure_images_go_to_the_deployment() -> None:
    azure = REGISTRY["azure"].configured({"api_version": "2024-10-21"})
    req = IMAGES_OPERATION.request(azure, "https://r.openai.azure.com", "key", "dalle3", {"model": "img", "prompt": "p"})
    assert req.url == "https://r.openai.azure.com/openai/deployments/dalle3/images/generations?api-version=2024-10-21"
    assert req.headers["api-key"] == "key" and "model" not in msgspec.json.decode(req.body)
    with pytest.raises(NotSupported):
        MODERATIONS_OPERATION.request(azure, "https://r", "k", "m", {"input": "x"})


def test_moderation_is_one_request() -> None:
    openai = REGISTRY["openai"]
    req = MODERATIONS_OPERATION.request(openai, "https://api.test/v1", "sk", "omni-moderation-latest", {"model": "m", "input": "x"})
    assert req.url == "https://api.test/v1/moderations"
    assert MODERATIONS_OPERATION.worst is not None and MODERATIONS_OPERATION.worst({}) == [UnitUsage(unit="request", quantity=1)]
    with pytest.raises(ValueError):
        MODERATIONS_OPERATION.result(openai, b'{"id": "x"}', {})


def test_imagen_is_asked_in_its_own_wire_format() -> None:
    from tollgate.providers.gemini import imagen

    gemini = REGISTRY["gemini"]
    req = IMAGES_OPERATION.request(gemini, "https://g.test", "gk", "imagen-3.0-generate-002", {"prompt": "p", "n": 2, "size": "1792x1024"})
    assert req.url == "https://g.test/v1beta/models/imagen-3.0-generate-002:predict" and req.headers["x-goog-api-key"] == "gk"
    assert msgspec.json.decode(req.body) == {"instances": [{"prompt": "p"}], "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}}
    assert [imagen.aspect_ratio(s) for s in ("1024x1024", "1024x1792", "1536x1024", "auto", None)] == ["1:1", "9:16", "4:3", None, None]
    from tollgate.errors import BadRequest

    with pytest.raises(BadRequest):
        imagen.predict_body({"prompt": "p", "n": 5})
    with pytest.raises(NotSupported):
        IMAGES_OPERATION.request(REGISTRY["vertex"], "https://v.test", "t", "imagen", {"prompt": "p"})


def test_imagens_answer_in_openais_shape_b64_or_data_urls() -> None:
    gemini = REGISTRY["gemini"]
    payload = msgspec.json.encode(
        {"predictions": [{"bytesBase64Encoded": "QUJD", "mimeType": "image/jpeg"}, {"bytesBase64Encoded": "REVG"}]}
    )
    result, usage = IMAGES_OPERATION.result(gemini, payload, {})
    assert isinstance(result, dict) and result["data"] == [{"b64_json": "QUJD"}, {"b64_json": "REVG"}] and usage.prompt_tokens == 0
    urls, _ = IMAGES_OPERATION.result(gemini, payload, {"response_format": "url"})
    assert isinstance(urls, dict) and urls["data"] == [{"url": "data:image/jpeg;base64,QUJD"}, {"url": "data:image/png;base64,REVG"}]
    assert images_used(result, {"size": "1024x1024"}) == [UnitUsage(unit="image", variant="1024x1024/standard", quantity=2)]
    with pytest.raises(ValueError):
        IMAGES_OPERATION.result(gemini, b"[]", {})
