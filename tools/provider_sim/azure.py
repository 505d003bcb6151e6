"""Azure OpenAI under ``/azure``: what Azure checks before it answers in OpenAI's shapes.

- deployment URLs, ``/azure/openai/deployments/{deployment}/chat/completions`` (and
  ``/embeddings``): a supported ``api-version`` query parameter (404 without one, 400 for one
  Azure does not serve); the deployment in the path is the model; ``stream_options`` refused
  by API versions before 2024-09-01, and a ``model`` in the body is ignored as Azure does;
- the v1 API, ``/azure/openai/v1/chat/completions`` (and ``/embeddings``, ``/responses``): no dated
  ``api-version``; the deployment is the body's ``model``;
- auth: an ``api-key`` header, or ``Authorization: Bearer`` (an Entra ID token); 401 otherwise;
- errors in Azure's shape (``{"error": {"code", "message"}}``); ``sim-error-400`` is a
  content-filter refusal, ``sim-error-429`` carries ``retry-after``; answers carry
  ``prompt_filter_results`` (whole: a field; streamed: a first chunk without choices).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.params import FromPath

from tools.provider_sim.common import Sim, decode_object, error_headers
from tools.provider_sim.embeddings import embeddings_answer
from tools.provider_sim.media import images_answer
from tools.provider_sim.openai import chat_answer
from tools.provider_sim.responses import responses_answer

API_VERSIONS = frozenset({"2024-02-01", "2024-06-01", "2024-10-21", "2024-12-01-preview", "2025-01-01-preview", "2025-04-01-preview"})
STREAM_OPTIONS_SINCE = "2024-09-01"
V1_API_VERSIONS = frozenset({"preview", "latest"})

CONTENT_FILTER: dict[str, Any] = {
    "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
    "type": None,
    "param": "prompt",
    "code": "content_filter",
    "status": 400,
    "innererror": {
        "code": "ResponsibleAIPolicyViolation",
        "content_filter_result": {"hate": {"filtered": True, "severity": "high"}, "violence": {"filtered": False, "severity": "safe"}},
    },
}


def azure_error(status: int, message: str, code: str | None = None) -> Response:
    error = CONTENT_FILTER if status == 400 and code == "content_filter" else {"code": code or str(status), "message": message}
    return Response({"error": error}, status_code=status, headers=error_headers(status))


async def _admit(sim: Sim, request: Request, deployment: str | None, operation: str) -> tuple[dict[str, Any], str] | Response:
    if request.headers.get("api-key"):
        sim.headers_seen["azure-auth"] = "api-key"
    elif request.headers.get("authorization", "").startswith("Bearer ") and len(request.headers["authorization"]) > len("Bearer "):
        sim.headers_seen["azure-auth"] = "entra"
    else:
        return azure_error(401, "Access denied due to invalid subscription key or wrong API endpoint.")
    version = request.query_params.get("api-version")
    if deployment is not None and version is None:
        return azure_error(404, "Resource not found")
    if version is not None and version not in (API_VERSIONS if deployment is not None else V1_API_VERSIONS):
        return azure_error(400, "API version not supported", "BadRequest")
    body = decode_object(await request.body())
    if body is None:
        return azure_error(400, "The request body is not valid JSON.")
    if deployment is not None and version is not None and version < STREAM_OPTIONS_SINCE and "stream_options" in body:
        return azure_error(400, "Unrecognized request argument supplied: stream_options")
    model = deployment if deployment is not None else str(body.get("model", ""))
    if not model:
        return azure_error(400, f"{operation}: the v1 API needs the deployment as 'model'")
    status = await sim.admit(model)
    if status is not None:
        return azure_error(status, f"simulated HTTP {status}", "content_filter" if status == 400 else None)
    return body, model


def routes(sim: Sim) -> list:
    @post("/azure/openai/deployments/{deployment:str}/chat/completions", status_code=200)
    async def deployment_chat(request: Request, deployment: FromPath[str]) -> Response:
        admission = await _admit(sim, request, deployment, "chat")
        return admission if isinstance(admission, Response) else chat_answer(sim, *admission, filter_results=True)

    @post("/azure/openai/deployments/{deployment:str}/embeddings", status_code=200)
    async def deployment_embeddings(request: Request, deployment: FromPath[str]) -> Response:
        admission = await _admit(sim, request, deployment, "embeddings")
        return admission if isinstance(admission, Response) else embeddings_answer(*admission)

    @post("/azure/openai/deployments/{deployment:str}/images/generations", status_code=200)
    async def deployment_images(request: Request, deployment: FromPath[str]) -> Response:
        admission = await _admit(sim, request, deployment, "images")
        return admission if isinstance(admission, Response) else images_answer(admission[0])

    @post("/azure/openai/v1/chat/completions", status_code=200)
    async def v1_chat(request: Request) -> Response:
        admission = await _admit(sim, request, None, "chat")
        return admission if isinstance(admission, Response) else chat_answer(sim, *admission, filter_results=True)

    @post("/azure/openai/v1/embeddings", status_code=200)
    async def v1_embeddings(request: Request) -> Response:
        admission = await _admit(sim, request, None, "embeddings")
        return admission if isinstance(admission, Response) else embeddings_answer(*admission)

    @post("/azure/openai/v1/responses", status_code=200)
    async def v1_responses(request: Request) -> Response:
        admission = await _admit(sim, request, None, "responses")
        return admission if isinstance(admission, Response) else responses_answer(sim, *admission)

    return [deployment_chat, deployment_embeddings, deployment_images, v1_chat, v1_embeddings, v1_responses]
