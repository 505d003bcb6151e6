"""The images and moderation bodies the OpenAI door accepts, and the 400s it answers."""

from __future__ import annotations

import msgspec
import pytest

from services.edge.frontends.openai.media import parse_images, parse_moderations
from tollgate.errors import BadRequest


def _raw(body: object) -> bytes:
    return msgspec.json.encode(body)


def test_a_valid_images_body_is_kept_as_sent() -> None:
    body = {"model": "m", "prompt": "p", "n": 2, "size": "256x256", "quality": "hd", "response_format": "b64_json", "style": "vivid"}
    assert parse_images(_raw(body)) == body


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"prompt": "p"}, "missing_model"),
        ({"model": "m"}, "invalid_prompt"),
        ({"model": "m", "prompt": "  "}, "invalid_prompt"),
        ({"model": "m", "prompt": "p" * 32_001}, "prompt_too_long"),
        ({"model": "m", "prompt": "p", "n": 0}, "invalid_n"),
        ({"model": "m", "prompt": "p", "n": 11}, "invalid_n"),
        ({"model": "m", "prompt": "p", "n": True}, "invalid_n"),
        ({"model": "m", "prompt": "p", "size": "1024"}, "invalid_size"),
        ({"model": "m", "prompt": "p", "size": 1024}, "invalid_size"),
        ({"model": "m", "prompt": "p", "quality": "best"}, "invalid_quality"),
        ({"model": "m", "prompt": "p", "quality": ["hd"]}, "invalid_quality"),  # unhashable: still a 400
        ({"model": "m", "prompt": "p", "response_format": {}}, "invalid_response_format"),
        ({"model": "m", "prompt": "p", "response_format": "png"}, "invalid_response_format"),
        ({"model": "m", "prompt": "p", "stream": True}, "unsupported_stream"),
    ],
)
def test_bad_images_bodies(body: dict, code: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_images(_raw(body))
    assert err.value.code == code


def test_moderation_takes_openais_inputs_and_default_model() -> None:
    assert parse_moderations(_raw({"input": "x"}))["model"] == "omni-moderation-latest"
    assert parse_moderations(_raw({"model": "m", "input": ["a", "b"]}))["input"] == ["a", "b"]
    parts = [{"type": "text", "text": "t"}, {"type": "image_url", "image_url": {"url": "https://i.test/a.png"}}]
    assert parse_moderations(_raw({"model": "m", "input": parts}))["input"] == parts


@pytest.mark.parametrize("value", ["", [], [1], [{"type": "text"}], [{"type": "audio", "text": "t"}], ["x"] * 33, {"text": "t"}])
def test_bad_moderation_inputs(value: object) -> None:
    with pytest.raises(BadRequest) as err:
        parse_moderations(_raw({"model": "m", "input": value}))
    assert err.value.code == "invalid_input"


def test_speech_bodies() -> None:
    from services.edge.frontends.openai.speech import characters, parse_speech

    body = {"model": "tts-1", "voice": "alloy", "input": "héllo", "speed": 1.5, "response_format": "wav"}
    assert parse_speech(_raw(body)) == body
    assert [(u.unit, u.quantity) for u in characters(body)] == [("character", 5)]  # characters, not bytes
    for bad, code in [
        ({"voice": "alloy", "input": "x"}, "missing_model"),
        ({"model": "m", "voice": "alloy", "input": ""}, "invalid_input"),
        ({"model": "m", "voice": "alloy", "input": "x" * 4097}, "input_too_long"),
        ({"model": "m", "input": "x"}, "invalid_voice"),
        ({"model": "m", "voice": "alloy", "input": "x", "response_format": "ogg"}, "invalid_response_format"),
        ({"model": "m", "voice": "alloy", "input": "x", "response_format": []}, "invalid_response_format"),
        ({"model": "m", "voice": "alloy", "input": "x", "speed": 0.1}, "invalid_speed"),
        ({"model": "m", "voice": "alloy", "input": "x", "speed": True}, "invalid_speed"),
    ]:
        with pytest.raises(BadRequest) as err:
            parse_speech(_raw(bad))
        assert err.value.code == code


def test_imagens_predict_body_on_the_gemini_door() -> None:
    from services.edge.frontends.gemini.imagen import openai_images_to_predict, predict_to_openai

    body = {"instances": [{"prompt": "p"}], "parameters": {"sampleCount": 2, "aspectRatio": "9:16"}}
    assert predict_to_openai(body, "m") == {"model": "m", "prompt": "p", "n": 2, "size": "1024x1792", "response_format": "b64_json"}
    assert predict_to_openai({"instances": [{"prompt": "p"}]}, "m")["n"] == 4  # Google's default
    for bad, code in [
        ({"instances": []}, "invalid_instances"),
        ({"instances": [{"prompt": "p"}], "parameters": []}, "invalid_parameters"),
        ({"instances": [{"prompt": "p"}], "parameters": {"sampleCount": 5}}, "invalid_sampleCount"),
        ({"instances": [{"prompt": "p"}], "parameters": {"aspectRatio": ["1:1"]}}, "invalid_aspect_ratio"),
        ({"instances": [{}]}, "invalid_prompt"),
    ]:
        with pytest.raises(BadRequest) as err:
            predict_to_openai(bad, "m")
        assert err.value.code == code
    assert openai_images_to_predict({"data": [{"b64_json": "QQ=="}, {"url": "x"}]}) == {
        "predictions": [{"bytesBase64Encoded": "QQ==", "mimeType": "image/png"}]
    }
