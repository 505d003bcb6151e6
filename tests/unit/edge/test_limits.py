"""What the edge accepts before using any of it (``services/edge/limits.py``) and the hold
it takes (``preauth``): cost-bounding fields validated, never guessed; n multiplies."""

from __future__ import annotations

import json

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.edge import limits, preauth
from services.edge.frontends.anthropic import FRONTEND as ANTHROPIC
from services.edge.frontends.gemini import FRONTEND as GEMINI
from services.edge.frontends.openai import OpenAIFrontend
from services.edge.routes import Route
from tollgate import errors
from tollgate.errors import BadRequest, InsufficientQuota, ServiceUnavailable
from tollgate.rpc import router_pb2 as pb

OPENAI = OpenAIFrontend()
MESSAGES = [{"role": "user", "content": "hi"}]
BAD_NUMBERS = ["200000", 20000.0, 1.5, True, False, 0, -1, 2**64, 10**7, [5], {"n": 5}, ""]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens", "max_output_tokens", "n"])
@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
def test_openai_cost_fields_must_be_integers_in_range(field, value):
    body = {"model": "m", "messages": MESSAGES, field: value}
    with pytest.raises(BadRequest) as err:
        OPENAI.parse(json.dumps(body).encode())
    assert err.value.status == 400 and err.value.code == f"invalid_{field}"


@pytest.mark.parametrize("value", [*BAD_NUMBERS, None], ids=repr)
def test_anthropic_max_tokens_is_required_and_in_range(value):
    body = {"model": "m", "messages": MESSAGES, "max_tokens": value}
    with pytest.raises(BadRequest, match="max_tokens"):
        ANTHROPIC.parse(json.dumps(body).encode())


@pytest.mark.parametrize("config", ["generationConfig", "generation_config"])
@pytest.mark.parametrize("field", ["maxOutputTokens", "max_output_tokens", "candidateCount", "candidate_count"])
@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
def test_gemini_cost_fields_must_be_integers_in_range(config, field, value):
    body = {"contents": [{"parts": [{"text": "hi"}]}], config: {field: value}}
    with pytest.raises(BadRequest, match=field):
        GEMINI.parse(json.dumps(body).encode(), model="m")


def test_valid_fields_pass_and_bound_the_request():
    assert limits.cost_bounds({}) == limits.CostBounds(0, 1)
    assert limits.cost_bounds({"max_tokens": None, "n": None}) == limits.CostBounds(0, 1)  # null = not set
    assert limits.cost_bounds({"max_tokens": 10, "max_completion_tokens": 300, "n": 4}) == limits.CostBounds(
        300, 4
    )  # the largest limit counts
    assert limits.cost_bounds({"generationConfig": {"maxOutputTokens": 50, "candidateCount": 3}}) == limits.CostBounds(50, 3)
    assert limits.cost_bounds({"generation_config": {"max_output_tokens": 7}}) == limits.CostBounds(7, 1)
    top = limits.cost_bounds({"max_tokens": limits.MAX_OUTPUT_TOKENS, "n": limits.MAX_CHOICES})
    assert top == limits.CostBounds(limits.MAX_OUTPUT_TOKENS, limits.MAX_CHOICES)
    OPENAI.parse(json.dumps({"model": "m", "messages": MESSAGES, "max_tokens": 5, "n": 2}).encode())
    ANTHROPIC.parse(json.dumps({"model": "m", "messages": MESSAGES, "max_tokens": 5}).encode())
    GEMINI.parse(json.dumps({"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 5}}).encode(), model="m")
    with pytest.raises(BadRequest, match="generationConfig"):
        limits.cost_bounds({"generationConfig": "fast"})


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["max_tokens", "max_completion_tokens", "max_output_tokens", "n"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    )
)
def test_cost_bounds_accept_only_in_range_integers(body):
    def valid(name, value):
        high = limits.MAX_CHOICES if name == "n" else limits.MAX_OUTPUT_TOKENS
        return value is None or (type(value) is int and 1 <= value <= high)

    if all(valid(k, v) for k, v in body.items()):
        bounds = limits.cost_bounds(body)
        assert bounds.choices == (body.get("n") or 1)
        assert bounds.max_output == max([v for k, v in body.items() if k != "n" and v] or [0])
    else:
        with pytest.raises(BadRequest):
            limits.cost_bounds(body)


def _route(max_output_tokens: int = 0) -> Route:
    price = pb.Price(input_per_mtok_micros=1_000_000, output_per_mtok_micros=10_000_000, version="t")
    return Route(model="m", price=price, candidates=(), max_output_tokens=max_output_tokens)


def test_the_hold_multiplies_the_completion_by_the_choices():
    one = preauth.worst_case_micros([_route()], 100, 1000, 4096)
    five = preauth.worst_case_micros([_route()], 100, 1000, 4096, choices=5)
    prompt = preauth.worst_case_micros([_route()], 100, 1000, 4096, completes=False)
    assert five - prompt == 5 * (one - prompt) and one > prompt
    defaulted = preauth.worst_case_micros([_route()], 0, 0, 4096, choices=3)  # no limit set: the default, per choice
    assert defaulted == 3 * preauth.worst_case_micros([_route()], 0, 0, 4096)
    # the largest possible request still fits the lease request's int64
    assert preauth.worst_case_micros([_route()], 32 << 20, limits.MAX_OUTPUT_TOKENS, 4096, choices=limits.MAX_CHOICES) < 2**63


def test_the_hold_covers_the_dearest_channel_price_and_cache_writes():
    """A channel's own price may be dearer than the model's, and every prompt token may be a
    cache write: the hold takes the dearest of them all."""
    plain = preauth.worst_case_micros([_route()], 1000, 100, 4096)
    dear = pb.Candidate(channel_id="dear", price=pb.Price(input_per_mtok_micros=2_000_000, output_per_mtok_micros=20_000_000))
    writes = pb.Candidate(channel_id="w", price=pb.Price(input_per_mtok_micros=1_000_000, cache_write_per_mtok_micros=5_000_000))
    route = Route(model="m", price=_route().price, candidates=(pb.Candidate(channel_id="plain"), dear))
    assert preauth.worst_case_micros([route], 1000, 100, 4096) == 2 * plain
    route = Route(model="m", price=_route().price, candidates=(writes,))
    assert preauth.worst_case_micros([route], 1000, 100, 4096, completes=False) == 5 * 1000


def test_decode_object_refuses_bad_encoding_and_deep_nesting():
    for raw, code in [
        (b'{"a": "\xff\xfe"}', "invalid_encoding"),
        (b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "too_deeply_nested"),
        (b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}", "too_deeply_nested"),
        (b'{"a": ' + b'{"b": ' * 70 + b"1" + b"}" * 70 + b"}", "too_deeply_nested"),
        (b"{", "invalid_json"),
        (b'{"a": 1e999}', "invalid_json"),
    ]:
        with pytest.raises(BadRequest) as err:
            limits.decode_object(raw)
        assert err.value.code == code, raw[:40]
    nested = {"a": 1}
    for _ in range(limits.MAX_DEPTH - 1):
        nested = {"a": nested}
    assert limits.decode_object(json.dumps(nested).encode()) == nested  # exactly at the limit: accepted
    many = {"messages": [{"role": "user", "content": [{"type": "text", "text": "[{"}]} for _ in range(500)]}
    assert limits.decode_object(json.dumps(many).encode()) == many  # many brackets, shallow: accepted


def test_model_names_and_stream_options():
    assert limits.check_model_name("m" * limits.MAX_MODEL_CHARS)
    with pytest.raises(BadRequest, match="longer than"):
        limits.check_model_name("m" * (limits.MAX_MODEL_CHARS + 1))
    with pytest.raises(BadRequest, match="longer than"):
        OPENAI.parse(json.dumps({"model": "m" * 100_000, "messages": MESSAGES}).encode())
    with pytest.raises(BadRequest, match="stream_options"):
        OPENAI.parse(json.dumps({"model": "m", "messages": MESSAGES, "stream_options": "x"}).encode())
    assert OPENAI.parse(json.dumps({"model": "m", "messages": MESSAGES, "stream_options": {"include_usage": True}}).encode()).wants_usage
    assert not OPENAI.parse(json.dumps({"model": "m", "messages": MESSAGES, "stream_options": None}).encode()).wants_usage


class _RpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple = ()):
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details=details)


def test_a_grpc_transport_error_is_never_a_quota_error_and_never_echoes_its_details():
    transport = _RpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "received metadata size exceeds hard limit (value length 100031 vs. 16384)")
    err = errors.from_grpc(transport)
    assert isinstance(err, ServiceUnavailable) and "metadata" not in err.message and "16384" not in err.message
    for code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAVAILABLE):
        err = errors.from_grpc(_RpcError(code, "Stream removed: socket closed at 10.0.0.3:50051"))
        assert isinstance(err, ServiceUnavailable) and "10.0.0.3" not in err.message
    # what a Tollgate servicer raised (tagged by ``abort``) still maps to its own class and message
    tagged = _RpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "balance exhausted", ((errors.ERROR_CODE_METADATA, "insufficient_quota"),))
    err = errors.from_grpc(tagged)
    assert isinstance(err, InsufficientQuota) and err.message == "balance exhausted" and err.code == "insufficient_quota"


def test_transport_error_body_picks_the_door_by_path():
    from services.edge.app import transport_error_body

    err = BadRequest("Invalid HTTP request received.", code="invalid_http")
    assert json.loads(transport_error_body("/v1/messages", err))["type"] == "error"
    assert json.loads(transport_error_body("/gemini/v1beta/models/x:generateContent", err))["error"]["status"] == "INVALID_ARGUMENT"
    assert json.loads(transport_error_body("", err))["error"]["code"] == "invalid_http"


def test_a_servicer_error_quoting_a_huge_input_still_fits_grpc_metadata():
    import asyncio

    async def main():
        async def handler(request, context):
            await errors.abort(context, errors.NotFound(f"unknown account {request.decode()}"))

        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.T", {"M": grpc.unary_unary_rpc_method_handler(handler)}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await channel.unary_unary("/t.T/M")(b"a" * 100_000)
                return errors.from_grpc(err.value)
        finally:
            await server.stop(0)

    err = asyncio.run(main())
    assert (
        isinstance(err, errors.NotFound) and err.message.startswith("unknown account aaa") and len(err.message) <= errors.MAX_DETAILS_CHARS
    )


def test_the_hold_includes_the_requests_own_units_at_the_dearest_price():
    from tollgate.events import UnitUsage

    images = pb.Price(per_image_micros={"1024x1024/hd": 80_000, "*": 40_000})
    dearer = pb.Candidate(channel_id="c", price=pb.Price(per_image_micros={"*": 90_000}))
    route = Route(model="img", price=images, candidates=(dearer,))
    three_hd = [UnitUsage(unit="image", variant="1024x1024/hd", quantity=3)]
    prompt_only = preauth.worst_case_micros([route], 100, 0, 4096, completes=False)
    assert preauth.worst_case_micros([route], 100, 0, 4096, completes=False, units=three_hd) == prompt_only + 3 * 90_000
    cheaper = Route(model="img", price=images, candidates=())
    assert preauth.worst_case_micros([cheaper], 0, 0, 4096, completes=False, units=three_hd) == 3 * 80_000
