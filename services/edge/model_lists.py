"""The model catalog in each door's own shape, so every SDK's ``models.list()`` / ``models.get()``
works against the edge:

- OpenAI: ``GET /v1/models`` and ``GET /v1/models/{id}`` (``{"object": "list", "data": [...]}``);
- Anthropic: the same paths when the request carries ``anthropic-version`` or ``x-api-key``
  (what the Anthropic SDK sends): ``{"data": [...], "has_more", "first_id", "last_id"}``, paged
  by ``limit`` / ``after_id`` / ``before_id``;
- Gemini: ``GET /gemini/v1beta/models`` and ``GET /gemini/v1beta/models/{model}`` (also under
  ``/gemini/v1``): ``{"models": [...], "nextPageToken"}``, paged by ``pageSize`` / ``pageToken``.

Every alias is listed as a model of its own (with its canonical model's facts), so a client
can see and pick any name the edge routes. An unknown id is a 404 in the door's shape.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath

from services.edge.context import Edge, timer_of
from services.edge.errors import MethodNotAllowed, as_tollgate
from services.edge.frontends import anthropic, gemini
from services.edge.frontends.base import Frontend
from services.edge.frontends.openai import OpenAIFrontend
from tollgate.errors import BadRequest, ModelNotFound
from tollgate.rpc import router_pb2 as pb

Entry = tuple[str, pb.Model]  # a listed name (id or alias) and the catalog model it names
Render = Callable[[str, pb.Model], dict[str, Any]]

# capability -> the Gemini methods a model with it supports (a model that declares none chats)
GEMINI_METHODS: dict[str, tuple[str, ...]] = {
    "chat": ("generateContent", "streamGenerateContent", "countTokens"),
    "embeddings": ("embedContent", "batchEmbedContents"),
    "rerank": (),
    "images": ("predict",),
    "moderation": (),
    "speech": (),
}
ANTHROPIC_PAGE = (20, 1000)  # default and largest ``limit``
GEMINI_PAGE = (50, 1000)  # default and largest ``pageSize``


def openai_model(name: str, model: pb.Model) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": model.created, "owned_by": model.owned_by}


def anthropic_model(name: str, model: pb.Model) -> dict[str, Any]:
    created = datetime.datetime.fromtimestamp(model.created, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "model", "id": name, "display_name": name, "created_at": created}


def gemini_model(name: str, model: pb.Model) -> dict[str, Any]:
    capabilities = list(model.capabilities) or ["chat"]
    methods = [m for c in capabilities for m in GEMINI_METHODS.get(c, GEMINI_METHODS["chat"])]
    out: dict[str, Any] = {
        "name": f"models/{name}",
        "baseModelId": model.id,
        "version": str(model.created or ""),
        "displayName": name,
        "supportedGenerationMethods": list(dict.fromkeys(methods)),
    }
    if model.context_length:
        out["inputTokenLimit"] = model.context_length
    if model.max_output_tokens:
        out["outputTokenLimit"] = model.max_output_tokens
    return out


def entries(models: list[pb.Model]) -> list[Entry]:
    """Every name the catalog routes, ids and aliases, each once, in catalog order."""
    seen: dict[str, pb.Model] = {}
    for model in models:
        for name in (model.id, *model.aliases):
            seen.setdefault(name, model)
    return list(seen.items())


def find(listed: list[Entry], name: str) -> Entry:
    name = name.removeprefix("models/")
    for entry in listed:
        if entry[0] == name:
            return entry
    raise ModelNotFound(f"The model {name} does not exist")


def _int_param(request: Request, name: str, bounds: tuple[int, int], default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not bounds[0] <= int(raw) <= bounds[1]:
        raise BadRequest(f"{name}: must be an integer from {bounds[0]} to {bounds[1]}", code=f"invalid_{name}")
    return int(raw)


def anthropic_page(listed: list[Entry], request: Request) -> dict[str, Any]:
    """One page, as Anthropic's API pages: ``after_id`` / ``before_id`` (ids on the list) and ``limit``."""
    limit = _int_param(request, "limit", (1, ANTHROPIC_PAGE[1]), ANTHROPIC_PAGE[0])
    names = [name for name, _ in listed]
    start, end = 0, len(listed)
    after, before = request.query_params.get("after_id"), request.query_params.get("before_id")
    for cursor, shift in ((after, 1), (before, 0)):
        if cursor is not None and cursor not in names:
            raise BadRequest(f"{'after_id' if shift else 'before_id'}: unknown model id {cursor[:200]!r}", code="invalid_cursor")
    if after is not None:
        start = names.index(after) + 1
    if before is not None:
        end = names.index(before)
    window = listed[start:end]
    page = window[-limit:] if before is not None and after is None else window[:limit]
    data = [anthropic_model(name, model) for name, model in page]
    return {
        "data": data,
        "has_more": len(page) < len(window),
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def gemini_page(listed: list[Entry], request: Request) -> dict[str, Any]:
    """One page: ``pageSize`` models from the offset the ``pageToken`` (a previous answer's
    ``nextPageToken``) holds."""
    size = _int_param(request, "pageSize", (1, GEMINI_PAGE[1]), GEMINI_PAGE[0])
    token = request.query_params.get("pageToken") or "0"
    if not token.isdigit() or int(token) > len(listed):
        raise BadRequest("pageToken: not a token this API gave", code="invalid_page_token")
    start = int(token)
    out: dict[str, Any] = {"models": [gemini_model(name, model) for name, model in listed[start : start + size]]}
    if start + size < len(listed):
        out["nextPageToken"] = str(start + size)
    return out


def _is_anthropic(request: Request) -> bool:
    return "anthropic-version" in request.headers or "x-api-key" in request.headers


async def _answer(request: Request, door: Frontend, body: Callable[[list[Entry]], dict[str, Any]]) -> Response:
    """Authorize with the door's key, list the catalog, render; any error in the door's shape."""
    edge: Edge = request.app.state.edge
    timer_of(request.scope).endpoint = "models"
    try:
        principal = await edge.auth.principal(door.api_key(request), request.client.host if request.client else "")
        content = body(entries(await edge.routes.models(principal.group)))  # only the pricing group's models
    except Exception as exc:  # rendered here: the door is chosen by the request's headers, not its path
        err = as_tollgate(exc)
        return Response(door.error_body(err), status_code=err.status, headers=err.headers, media_type="application/json")
    return Response(msgspec.json.encode(content), status_code=200, media_type="application/json")


OPENAI = OpenAIFrontend()


@get("/v1/models")
async def list_models(request: Request) -> Response:
    if _is_anthropic(request):
        return await _answer(request, anthropic.FRONTEND, lambda listed: anthropic_page(listed, request))
    return await _answer(request, OPENAI, lambda listed: {"object": "list", "data": [openai_model(name, model) for name, model in listed]})


@get("/v1/models/{model_id:path}")
async def retrieve_model(request: Request, model_id: FromPath[str]) -> Response:
    name = model_id.lstrip("/")
    if _is_anthropic(request):
        return await _answer(request, anthropic.FRONTEND, lambda listed: anthropic_model(*find(listed, name)))
    return await _answer(request, OPENAI, lambda listed: openai_model(*find(listed, name)))


@get(["/gemini/v1beta/models", "/gemini/v1/models"])
async def gemini_list(request: Request) -> Response:
    return await _answer(request, gemini.FRONTEND, lambda listed: gemini_page(listed, request))


@get(["/gemini/v1beta/models/{target:path}", "/gemini/v1/models/{target:path}"])
async def gemini_get(request: Request, target: FromPath[str]) -> Response:
    name = target.lstrip("/")
    if ":" in name:  # an action (``:generateContent``) is a POST
        err = MethodNotAllowed(f"Method GET is not allowed for {name[:200]!r}; use POST.", code="method_not_allowed")
        return Response(gemini.FRONTEND.error_body(err), status_code=err.status, media_type="application/json")
    return await _answer(request, gemini.FRONTEND, lambda listed: gemini_model(*find(listed, name)))


ROUTES = [list_models, retrieve_model, gemini_list, gemini_get]
