"""AWS Bedrock runtime: ``POST /bedrock/model/{modelId}/converse`` and ``.../converse-stream``.

It checks what AWS checks: a SigV4 signature (service ``bedrock``, any region) over the
method, path, signed headers and body, by an access key it knows, made within 15 minutes;
it re-signs the request with botocore and the key's secret and compares. An unknown key is
403 UnrecognizedClientException, a wrong signature 403 InvalidSignatureException. Errors carry
``x-amzn-ErrorType`` and ``{"message"}``; streams are binary event-stream frames
(``eventstream``). Faults: ``sim-midstream-error`` sends a modelStreamErrorException frame
after three text deltas, ``sim-malformed-stream`` a frame whose CRC is wrong.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime
from typing import Any

import msgspec
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from litestar import Request, Response, post
from litestar.params import FromPath
from litestar.response import Stream

from tollgate.providers.bedrock.wire import EXCEPTION_BY_STATUS
from tools.provider_sim import eventstream
from tools.provider_sim.common import (
    Completion,
    Sim,
    apply_fault,
    complete,
    decode_object,
    emit,
    error_headers,
    split_pieces,
    text_pieces,
    words,
)

PREFIX = "/bedrock"
# The access keys this simulator knows (a test's channel holds "<id>:<secret>").
ACCESS_KEY_ID = "AKIASIMULATOR0000001"
SECRET_ACCESS_KEY = "sim/Secret+Key/0123456789abcdefghijklmnop"
KEYS = {ACCESS_KEY_ID: SECRET_ACCESS_KEY}
SERVICE = "bedrock"
MAX_SKEW_S = 15 * 60
TOOL_USE_ID = "tooluse_sim_1"
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=(?P<cred>[^,]+), ?SignedHeaders=(?P<signed>[^,]+), ?Signature=(?P<sig>[0-9a-f]{64})$")
_ENCODE = msgspec.json.encode


def bedrock_error(status: int, message: str, exception: str = "") -> Response:
    name = exception or EXCEPTION_BY_STATUS.get(status, "InternalServerException")
    headers = {"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/", **(error_headers(status) or {})}
    return Response({"message": message}, status_code=status, headers=headers)


def signature_problem(request: Request, body: bytes) -> Response | None:
    """None when the request is signed as AWS wants it, else AWS's 403 (or 400)."""
    match = _AUTH.match(request.headers.get("authorization", ""))
    if match is None:
        return bedrock_error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
    key_id, date, region, service, terminal = [*match["cred"].split("/"), "", "", "", ""][:5]
    secret = KEYS.get(key_id)
    if secret is None:
        return bedrock_error(403, "The security token included in the request is invalid.", "UnrecognizedClientException")
    stamp = request.headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return bedrock_error(403, "X-Amz-Date is missing or malformed", "InvalidSignatureException")
    if abs((datetime.now(UTC) - signed_at).total_seconds()) > MAX_SKEW_S or date != stamp[:8]:
        return bedrock_error(403, "Signature expired or not yet current", "InvalidSignatureException")
    if service != SERVICE or terminal != "aws4_request":
        return bedrock_error(403, "Credential should be scoped to the correct service: 'bedrock'.", "InvalidSignatureException")
    names = match["signed"].split(";")
    if "host" not in names:
        return bedrock_error(403, "'Host' must be a signed header", "InvalidSignatureException")
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    url = f"http://{request.headers.get('host', '')}{raw_path.decode()}"
    resigned = AWSRequest(method=request.method, url=url, data=body, headers={n: request.headers.get(n, "") for n in names})
    resigned.context["timestamp"] = stamp
    token = request.headers.get("x-amz-security-token")
    auth = SigV4Auth(Credentials(key_id, secret, token), SERVICE, region)
    expected = auth.signature(auth.string_to_sign(resigned, auth.canonical_request(resigned)), resigned)
    if not hmac.compare_digest(expected, match["sig"]):
        return bedrock_error(
            403,
            "The request signature we calculated does not match the signature you provided.",
            "InvalidSignatureException",
        )
    return None


def _text(blocks: Any) -> int:
    return sum(words(b.get("text")) for b in blocks if isinstance(b, dict)) if isinstance(blocks, list) else 0


def prompt_tokens(body: dict[str, Any]) -> int:
    """Words in the system text blocks, message text blocks and tool results' text."""
    total = _text(body.get("system"))
    for message in body.get("messages") or []:
        for block in (message.get("content") if isinstance(message, dict) else None) or []:
            if not isinstance(block, dict):
                continue
            total += words(block.get("text"))
            result = block.get("toolResult")
            if isinstance(result, dict):
                total += _text(result.get("content"))
    return total


def _first_tool(body: dict[str, Any]) -> tuple[str, Any] | None:
    config = body.get("toolConfig")
    for tool in (config.get("tools") if isinstance(config, dict) else None) or []:
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if isinstance(spec, dict) and spec.get("name"):
            schema = spec.get("inputSchema")
            return str(spec["name"]), schema.get("json") if isinstance(schema, dict) else None
    return None


def _completion(model: str, body: dict[str, Any]) -> Completion:
    blocks = [b for m in body.get("messages") or [] if isinstance(m, dict) for b in m.get("content") or [] if isinstance(b, dict)]
    has_result = any("toolResult" in b for b in blocks)
    config = body.get("inferenceConfig")
    limit = config.get("maxTokens") if isinstance(config, dict) else None
    return complete(model, prompt_tokens(body), limit, _first_tool(body), has_result)


def _usage(completion: Completion) -> dict[str, int]:
    return {
        "inputTokens": completion.prompt_tokens,
        "outputTokens": completion.completion_tokens,
        "totalTokens": completion.total_tokens,
    }


def _answer(completion: Completion) -> dict[str, Any]:
    call = completion.tool_call
    if call is not None:
        content: list[dict[str, Any]] = [{"toolUse": {"toolUseId": TOOL_USE_ID, "name": call.name, "input": call.args}}]
        stop = "tool_use"
    else:
        content, stop = [{"text": completion.text}], "end_turn"
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": _usage(completion),
        "metrics": {"latencyMs": 1},
    }


def _frame(kind: str, data: dict[str, Any]) -> bytes:
    return eventstream.event(kind, _ENCODE(data))


def _stream(model: str, completion: Completion) -> list:
    frames: list = [_frame("messageStart", {"role": "assistant"})]
    call = completion.tool_call
    if call is not None:
        frames.append(
            _frame("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": TOOL_USE_ID, "name": call.name}}})
        )
        for piece in split_pieces(call.arguments_json):
            frames.append(_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}}))
        stop = "tool_use"
    else:
        pieces = [_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in text_pieces(completion.words)]
        bad = eventstream.event("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"x"}}', corrupt=True)
        body, fired = apply_fault(model, pieces, bad)
        if fired and model == "sim-midstream-error":  # AWS reports a model failure mid-stream as an exception frame
            body[-1] = eventstream.exception("modelStreamErrorException", b'{"message":"simulated model stream error"}')
        frames += body
        if fired:
            return frames
        stop = "end_turn"
    frames.append(_frame("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(_frame("messageStop", {"stopReason": stop}))
    frames.append(_frame("metadata", {"usage": _usage(completion), "metrics": {"latencyMs": 1}}))
    return frames


def routes(sim: Sim) -> list:
    async def serve(request: Request, model: str, *, stream: bool) -> Response | Stream:
        raw = await request.body()
        if (problem := signature_problem(request, raw)) is not None:
            return problem
        body = decode_object(raw)
        if body is None or not isinstance(body.get("messages"), list) or not body["messages"]:
            return bedrock_error(400, "The request body must hold a non-empty `messages` list")
        status = await sim.admit(model)
        if status is not None:
            return bedrock_error(status, f"simulated HTTP {status}")
        completion = _completion(model, body)
        if stream:
            return Stream(emit(_stream(model, completion), sim.pace(model)), media_type="application/vnd.amazon.eventstream")
        return Response(_answer(completion))

    @post(f"{PREFIX}/model/{{model_id:str}}/converse", status_code=200)
    async def converse(request: Request, model_id: FromPath[str]) -> Response | Stream:
        return await serve(request, model_id, stream=False)

    @post(f"{PREFIX}/model/{{model_id:str}}/converse-stream", status_code=200)
    async def converse_stream(request: Request, model_id: FromPath[str]) -> Response | Stream:
        return await serve(request, model_id, stream=True)

    return [converse, converse_stream]
