"""Google's Imagen models through the Gemini API (``:predict``): an OpenAI images body in
Imagen's wire format, and Imagen's answer as OpenAI's.

https://ai.google.dev/gemini-api/docs/imagen: ``{"instances": [{"prompt"}], "parameters":
{"sampleCount", "aspectRatio"}}``; the answer's ``predictions`` carry ``bytesBase64Encoded``
and ``mimeType``. Imagen draws 1 to 4 images a request, at one of five aspect ratios: an
OpenAI ``size`` is sent as the ratio nearest to its own."""

from __future__ import annotations

import time
from typing import Any, Final

import msgspec

from tollgate.errors import BadRequest

MAX_SAMPLES: Final = 4
ASPECT_RATIOS: Final = {"1:1": 1.0, "3:4": 3 / 4, "4:3": 4 / 3, "9:16": 9 / 16, "16:9": 16 / 9}


class Prediction(msgspec.Struct):
    bytesBase64Encoded: str = ""
    mimeType: str = "image/png"


class PredictResponse(msgspec.Struct):
    predictions: list[Prediction] = []


_PREDICT = msgspec.json.Decoder(PredictResponse)


def aspect_ratio(size: Any) -> str | None:
    """The Imagen ratio nearest an OpenAI ``WIDTHxHEIGHT`` size (None: ``auto`` or absent)."""
    if not isinstance(size, str) or "x" not in size:
        return None
    width, _, height = size.partition("x")
    ratio = int(width) / int(height)
    return min(ASPECT_RATIOS, key=lambda name: abs(ASPECT_RATIOS[name] - ratio))


def predict_body(body: dict[str, Any]) -> dict[str, Any]:
    n = body.get("n") or 1
    if n > MAX_SAMPLES:
        raise BadRequest(f"Imagen draws at most {MAX_SAMPLES} images per request: 'n' must be 1 to {MAX_SAMPLES}.", code="invalid_n")
    parameters: dict[str, Any] = {"sampleCount": n}
    if (ratio := aspect_ratio(body.get("size"))) is not None:
        parameters["aspectRatio"] = ratio
    return {"instances": [{"prompt": body["prompt"]}], "parameters": parameters}


def to_openai(payload: bytes) -> dict[str, Any]:
    """Imagen's images as OpenAI's answer, ``b64_json`` (``providers.media`` turns them into
    ``data:`` URLs when the client asked for URLs: Imagen hosts no files)."""
    try:
        predictions = _PREDICT.decode(payload).predictions
    except msgspec.DecodeError:
        raise ValueError("upstream Imagen answer is not readable") from None
    data = [{"b64_json": p.bytesBase64Encoded, "mime_type": p.mimeType} for p in predictions if p.bytesBase64Encoded]
    return {"created": int(time.time()), "data": data}
