"""Gemini (Google AI) REST: ``POST /gemini/v1beta/models/{model}:{action}`` (also ``/gemini/v1/...``)
for generateContent, streamGenerateContent, countTokens, embedContent and batchEmbedContents."""

from __future__ import annotations

import base64
import re
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.params import FromPath
from litestar.response import Stream

from tollgate import error_bodies
from tools.provider_sim import media
from tools.provider_sim.common import (
    MALFORMED_DATA,
    Completion,
    Sim,
    apply_fault,
    complete,
    decode_object,
    embedding,
    emit,
    error_headers,
    string_values,
    structured,
    text_pieces,
    words,
)

ACTIONS = ("generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents", "predict")
IMAGEN_SIZES = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)}
THOUGHT_SIGNATURE = "c2ltLXNpZ25hdHVyZQ=="  # base64 of "sim-signature"
SSE_END = b"\r\n\r\n"  # what Google sends; SDKs accept \n\n too


def gemini_error(status: int, message: str) -> Response:
    return Response(error_bodies.gemini_body(status, message), status_code=status, headers=error_headers(status))


def _get(obj: Any, camel: str) -> Any:
    """A field by its proto-JSON camelCase name, or by its snake_case name (both are accepted upstream)."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel))


def _parts(content: Any) -> list[dict]:
    parts = _get(content, "parts")
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _all_parts(body: dict[str, Any]) -> list[dict]:
    contents = _get(body, "contents")
    return [p for c in (contents if isinstance(contents, list) else ()) for p in _parts(c)]


def prompt_tokens(body: dict[str, Any]) -> int:
    """Words in systemInstruction parts, in every text part of ``contents`` and in every string
    value (recursively) of functionResponse.response."""
    system = _get(body, "systemInstruction")
    total = words(system) if isinstance(system, str) else sum(words(p.get("text")) for p in _parts(system))
    for part in _all_parts(body):
        total += words(part.get("text"))
        total += string_values(_get(_get(part, "functionResponse"), "response"))
    return total


def first_tool(tools: Any) -> tuple[str, Any] | None:
    for tool in tools if isinstance(tools, list) else ():
        for declaration in _get(tool, "functionDeclarations") or ():
            if isinstance(declaration, dict):
                schema = _get(declaration, "parameters") or _get(declaration, "parametersJsonSchema")
                return str(declaration.get("name", "")), schema
    return None


def thinking(body: dict[str, Any]) -> tuple[str | None, bool]:
    """(the reasoning setting, whether thoughts are shown) from generationConfig.thinkingConfig:
    a thinkingBudget other than 0 (its number, or "dynamic" for -1), a thinkingLevel (its
    name), or includeThoughts alone ("dynamic"). Without thinkingConfig the simulator does
    not think (real models may)."""
    config = _get(_get(body, "generationConfig"), "thinkingConfig")
    if not isinstance(config, dict):
        return None, False
    budget, level, include = _get(config, "thinkingBudget"), _get(config, "thinkingLevel"), _get(config, "includeThoughts") is True
    if budget == 0:
        return None, False
    if isinstance(level, str):
        return level.lower(), include
    if isinstance(budget, int) and budget > 0:
        return str(budget), include
    return ("dynamic", include) if budget == -1 or include else (None, False)


def _completion(model: str, body: dict[str, Any]) -> Completion:
    has_result = any(_get(p, "functionResponse") is not None for p in _all_parts(body))
    max_tokens = _get(_get(body, "generationConfig"), "maxOutputTokens")
    setting, _ = thinking(body)
    completion = complete(model, prompt_tokens(body), max_tokens, first_tool(_get(body, "tools")), has_result, reasoning=setting)
    config = _get(body, "generationConfig")
    return structured(completion, _get(config, "responseJsonSchema") or _get(config, "responseSchema"))


def _content_text(content: Any) -> str:
    return " ".join(p["text"] for p in _parts(content) if isinstance(p.get("text"), str))


def _response(model: str, ident: str, parts: list[dict], usage: dict[str, Any], finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish:
        candidate["finishReason"] = "STOP"
    candidate["index"] = 0
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": ident}


def _usage(completion: Completion) -> dict[str, Any]:
    """Gemini counts thoughts apart: candidatesTokenCount is the answer alone."""
    usage = {
        "promptTokenCount": completion.prompt_tokens,
        "candidatesTokenCount": completion.completion_tokens - completion.reasoning_tokens,
        "totalTokenCount": completion.total_tokens,
    }
    if completion.reasoning:
        usage["thoughtsTokenCount"] = completion.reasoning_tokens
    return usage


def _thought_parts(completion: Completion, shown: bool) -> list[dict]:
    return [{"text": completion.reasoning_text, "thought": True}] if completion.reasoning and shown else []


def _answer_parts(completion: Completion) -> list[dict]:
    call = completion.tool_call
    if call is not None:
        part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.args}}
        if completion.reasoning:
            part["thoughtSignature"] = THOUGHT_SIGNATURE  # a thinking model signs its function calls
        return [part]
    return [{"text": completion.text}]


def routes(sim: Sim) -> list:
    @post(["/gemini/v1beta/models/{model_action:str}", "/gemini/v1/models/{model_action:str}"], status_code=200)
    async def models(request: Request, model_action: FromPath[str]) -> Response:
        model, _, action = model_action.rpartition(":")
        if not model or action not in ACTIONS:
            return gemini_error(404, f"unknown method {model_action!r}")
        if not (request.headers.get("x-goog-api-key") or request.query_params.get("key")):
            return gemini_error(401, "API key is required: send x-goog-api-key or ?key=")
        body = decode_object(await request.body())
        if body is None:
            return gemini_error(400, "request body is not a JSON object")
        status = await sim.admit(model)
        if status is not None:
            return gemini_error(status, f"simulated HTTP {status}")
        if action == "countTokens":
            inner = _get(body, "generateContentRequest")
            return Response({"totalTokens": prompt_tokens(inner if isinstance(inner, dict) else body)})
        if action == "embedContent":
            return Response({"embedding": {"values": embedding(_content_text(_get(body, "content")))}})
        if action == "predict":
            return imagen_answer(body)
        if action == "batchEmbedContents":
            requests = _get(body, "requests")
            texts = [_content_text(_get(r, "content")) for r in (requests if isinstance(requests, list) else ())]
            return Response({"embeddings": [{"values": embedding(t)} for t in texts]})
        return generate(sim, model, body, stream=action == "streamGenerateContent", sse=request.query_params.get("alt") == "sse")

    return [models]


def imagen_answer(body: dict[str, Any]) -> Response:
    """Imagen's ``:predict``: ``sampleCount`` PNGs at the ``aspectRatio``'s size (real bytes)."""
    instances, parameters = body.get("instances"), body.get("parameters") or {}
    prompt = instances[0].get("prompt") if isinstance(instances, list) and instances and isinstance(instances[0], dict) else None
    count, ratio = parameters.get("sampleCount", 4), parameters.get("aspectRatio", "1:1")
    if not isinstance(prompt, str) or not prompt:
        return gemini_error(400, "instances[0].prompt is required")
    if not isinstance(count, int) or not 1 <= count <= 4 or ratio not in IMAGEN_SIZES:
        return gemini_error(400, "sampleCount must be 1 to 4 and aspectRatio one of " + ", ".join(IMAGEN_SIZES))
    images = [base64.b64encode(media.png(*IMAGEN_SIZES[ratio], media.colour(prompt, i))).decode() for i in range(count)]
    return Response({"predictions": [{"bytesBase64Encoded": b, "mimeType": "image/png"} for b in images]})


def generate(sim: Sim, model: str, body: dict[str, Any], *, stream: bool, sse: bool) -> Response | Stream:
    """The answer to an admitted generateContent (``stream``: streamGenerateContent) request;
    also what the Vertex mode answers for Google's models."""
    completion = _completion(model, body)
    shown = thinking(body)[1]
    ident = f"sim{sim.next_id()}"
    if not stream:
        parts = [*_thought_parts(completion, shown), *_answer_parts(completion)]
        return Response(_response(model, ident, parts, _usage(completion), finish=True))
    frames = _stream(model, ident, completion, sse, shown)
    return Stream(emit(frames, sim.pace(model)), media_type="text/event-stream" if sse else "application/json")


def _stream(model: str, ident: str, completion: Completion, sse: bool, shown: bool = False) -> list:
    """One response per word (the last one with finishReason and full usage), thought words
    first when shown; SSE events with ``?alt=sse``, else the elements of one JSON array, as
    Google does."""
    early = {"promptTokenCount": completion.prompt_tokens}
    thoughts = [_response(model, ident, [{"text": p, "thought": True}], early, finish=False) for p in text_pieces(completion.reasoning)]
    objects = thoughts if shown else []
    if completion.tool_call is not None:
        objects.append(_response(model, ident, _answer_parts(completion), _usage(completion), finish=True))
    else:
        pieces = text_pieces(completion.words) or [""]
        objects += [_response(model, ident, [{"text": p}], early, finish=False) for p in pieces[:-1]]
        objects.append(_response(model, ident, [{"text": pieces[-1]}], _usage(completion), finish=True))
    if sse:
        framed = [b"data: " + msgspec.json.encode(o) + SSE_END for o in objects]
        frames, _ = apply_fault(model, framed, b"data: " + MALFORMED_DATA + SSE_END)
        return frames
    framed = [(b"[" if i == 0 else b",\r\n") + msgspec.json.encode(o) for i, o in enumerate(objects)]
    frames, fired = apply_fault(model, framed, b",\r\n" + MALFORMED_DATA)
    return frames if fired else [*frames, b"]"]
