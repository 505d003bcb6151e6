"""Image generation on the Gemini door: Imagen's ``:predict``, as the ``google-genai`` SDK's
``generate_images`` sends it, served by any images upstream through the OpenAI images
operation (translated both ways here) and metered per image like ``/v1/images/generations``.

https://ai.google.dev/gemini-api/docs/imagen: ``{"instances": [{"prompt"}], "parameters":
{"sampleCount" (1-4, default 4), "aspectRatio"}}`` -> ``{"predictions": [{"bytesBase64Encoded",
"mimeType"}]}``."""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, Response

from services.edge import proxy
from services.edge.frontends.openai.media import check_images
from services.edge.limits import bounded_int, decode_object
from tollgate.errors import BadRequest
from tollgate.providers.media import IMAGES_OPERATION

DEFAULT_SAMPLES: Final = 4  # Google's default numberOfImages
MAX_SAMPLES: Final = 4
SIZES: Final = {"1:1": "1024x1024", "16:9": "1792x1024", "9:16": "1024x1792", "4:3": "1536x1024", "3:4": "1024x1536"}


def predict_to_openai(body: dict[str, Any], model: str) -> dict[str, Any]:
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise BadRequest("'instances' must hold exactly one object with a prompt.", code="invalid_instances")
    parameters = body.get("parameters")
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, dict):
        raise BadRequest("'parameters' must be an object.", code="invalid_parameters")
    n = bounded_int(parameters.get("sampleCount"), "parameters.sampleCount", MAX_SAMPLES) or DEFAULT_SAMPLES
    ratio = parameters.get("aspectRatio", "1:1")
    if not isinstance(ratio, str) or ratio not in SIZES:
        raise BadRequest(f"'parameters.aspectRatio' must be one of {', '.join(SIZES)}.", code="invalid_aspect_ratio")
    ask = {"model": model, "prompt": instances[0].get("prompt"), "n": n, "size": SIZES[ratio], "response_format": "b64_json"}
    return check_images(ask)


def openai_images_to_predict(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "predictions": [
            {"bytesBase64Encoded": d["b64_json"], "mimeType": "image/png"} for d in result.get("data") or () if d.get("b64_json")
        ]
    }


async def predict(request: Request, model: str, frontend: Any) -> Response:
    return await proxy.unary(
        request,
        frontend,
        endpoint="images",
        operation=IMAGES_OPERATION,
        parse=lambda raw: predict_to_openai(decode_object(raw), model),
        render=openai_images_to_predict,
    )
