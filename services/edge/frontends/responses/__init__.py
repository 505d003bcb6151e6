"""The OpenAI Responses API front door: ``POST /v1/responses``, whole and streamed.

Served for every model whatever its upstream speaks: the request is translated to the
canonical chat request (``inbound``), the answer back into a Response object (``render``)
or, streamed, into the Responses API's typed events (``stream``). A channel that serves the
Responses API natively (an OpenAI-compatible profile with a ``responses_path``) gets the
client's body passed through instead, and its answer goes back untouched. The request is
checked the same way for both, so what is refused does not depend on the channel chosen.
Errors are OpenAI's shape.

Tollgate stores nothing: ``store`` is answered as not stored, and what needs a stored
response (``previous_response_id``, ``conversation``, background mode, and the routes that
read, cancel or delete a response) is refused with a 400 that says so.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, post

from services.edge import limits, proxy
from services.edge.context import Edge, timer_of
from services.edge.errors import error_handlers
from services.edge.frontends.base import Parsed
from services.edge.frontends.openai import bearer
from services.edge.frontends.responses import inbound, render
from services.edge.frontends.responses.stream import Encoder
from services.edge.limits import decode_object
from tollgate import error_bodies
from tollgate.canonical import ChatRequest, ChatResponse
from tollgate.errors import BadRequest, TollgateError
from tollgate.providers.base import RESPONSES_PROTOCOL

__all__ = ["FRONTEND", "ROUTES", "ResponsesFrontend"]


class ResponsesFrontend:
    protocol = RESPONSES_PROTOCOL  # passed through to channels that serve it natively (``Adapter.native_for``)
    endpoint = "responses"

    def forward_headers(self, request: Request) -> tuple[tuple[str, str], ...]:
        return ()

    def api_key(self, request: Request) -> str:
        return bearer(request)

    def parse(self, raw: bytes, *, model: str | None = None, stream: bool | None = None) -> Parsed:
        """Everything the request says is checked here, before anything is held or any upstream
        called: the cost bounds (``max_output_tokens``) and the whole translation."""
        body = decode_object(raw)
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise BadRequest("you must provide a model parameter", code="missing_model")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise BadRequest("'stream' must be a boolean", code="invalid_stream")
        limits.check_model_name(body["model"])
        limits.cost_bounds(body)
        parsed = Parsed(model=body["model"], stream=bool(body.get("stream")), body=body)
        self.to_canonical(parsed)
        return parsed

    def to_canonical(self, parsed: Parsed) -> ChatRequest:
        return inbound.to_canonical(inbound.decode(parsed.body), parsed.model, stream=parsed.stream)

    def from_canonical(self, response: ChatResponse, model: str) -> dict[str, Any]:
        return render.response(response, model)

    def stream_encoder(self, parsed: Parsed) -> Encoder:
        return Encoder(parsed.model)

    def passthrough_end(self) -> bytes:
        return b""

    def error_body(self, err: TollgateError) -> dict[str, Any]:
        return error_bodies.openai(err)


FRONTEND = ResponsesFrontend()
_HANDLERS = error_handlers(FRONTEND)


@post("/v1/responses", status_code=200, exception_handlers=_HANDLERS)
async def create_response(request: Request) -> Response:
    return await proxy.chat(request, FRONTEND)


async def _stateless(request: Request, what: str) -> None:
    """The caller is authenticated first (as on every route), then told why there is nothing to find."""
    edge: Edge = request.app.state.edge
    timer_of(request.scope).endpoint = FRONTEND.endpoint
    await proxy.authorize(edge, FRONTEND.api_key(request), request)
    raise BadRequest(f"{what} is not supported: {inbound.NO_STATE}.", code="unsupported_operation")


@get("/v1/responses/{response_id:str}", exception_handlers=_HANDLERS)
async def retrieve_response(request: Request, response_id: str) -> None:
    await _stateless(request, "Retrieve a response")


@get("/v1/responses/{response_id:str}/input_items", exception_handlers=_HANDLERS)
async def list_input_items(request: Request, response_id: str) -> None:
    await _stateless(request, "List a response's input items")


@delete("/v1/responses/{response_id:str}", status_code=200, exception_handlers=_HANDLERS)
async def delete_response(request: Request, response_id: str) -> None:
    await _stateless(request, "Delete a response")


@post("/v1/responses/{response_id:str}/cancel", status_code=200, exception_handlers=_HANDLERS)
async def cancel_response(request: Request, response_id: str) -> None:
    await _stateless(request, "Cancel a response")


ROUTES = [create_response, retrieve_response, list_input_items, delete_response, cancel_response]
