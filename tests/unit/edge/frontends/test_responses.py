"""The Responses API door with canned payloads: the request read into canonical (and what it
refuses), canonical answers rendered as Response objects, canonical stream chunks encoded as
the typed events. Shapes are checked against the ``openai`` SDK's own types, and encoded
streams are read back through the SDK's stream accumulator (strict about event order)."""

from __future__ import annotations

import json

import msgspec
import pydantic
import pytest
from openai import Omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from services.edge.frontends.responses import FRONTEND
from tollgate.canonical import ChatChunk, ChatResponse, from_openai, to_openai
from tollgate.errors import BadRequest, UpstreamError
from tollgate.providers import REGISTRY
from tollgate.sse import Parser

EVENTS: pydantic.TypeAdapter = pydantic.TypeAdapter(ResponseStreamEvent)
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOL = {"type": "function", "name": "get_weather", "description": "Weather", "parameters": WEATHER, "strict": True}


def canonical(body: dict) -> dict:
    """The door's canonical request for ``body`` (parsed first, as the edge does) as OpenAI JSON."""
    raw = json.dumps({"model": "m", **body}).encode()
    return to_openai(FRONTEND.to_canonical(FRONTEND.parse(raw)))


def refused(body: dict) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        FRONTEND.parse(json.dumps({"model": "m", **body}).encode())
    return caught.value


# --- the request ---------------------------------------------------------------------------------


def test_a_string_input_is_one_user_message_after_the_instructions():
    out = canonical({"input": "Hello", "instructions": "Be terse", "max_output_tokens": 20, "temperature": 0.5, "top_p": 1})
    assert out["messages"] == [{"role": "system", "content": "Be terse"}, {"role": "user", "content": "Hello"}]
    assert (out["max_tokens"], out["temperature"], out["top_p"]) == (20, 0.5, 1.0)
    assert "stream" not in out and "tools" not in out


def test_message_items_of_every_role_and_part():
    out = canonical(
        {
            "input": [
                {"role": "developer", "content": "Rules"},
                {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "More rules"}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this?"},
                        {"type": "input_image", "image_url": "data:image/png;base64,iVBO", "detail": "low"},
                    ],
                },
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "A cat", "annotations": []}]},
                {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
            ]
        }
    )
    assert out["messages"] == [
        {"role": "developer", "content": "Rules"},
        {"role": "system", "content": "More rules"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO", "detail": "low"}},
            ],
        },
        {"role": "assistant", "content": "A cat"},
        {"role": "user", "content": "a\nb"},
    ]


def test_function_calls_and_their_outputs_become_tool_calls_and_tool_messages():
    out = canonical(
        {
            "input": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thinking"}]},
                {"role": "assistant", "content": "Let me look."},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}', "id": "fc_1"},
                {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
                {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
                {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "Rain"}]},
            ],
            "tools": [TOOL],
            "tool_choice": "required",
            "parallel_tool_calls": False,
        }
    )
    assert out["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "Rain"},
    ]
    assert out["tools"] == [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER}}]
    assert (out["tool_choice"], out["parallel_tool_calls"]) == ("required", False)


def test_a_named_tool_choice():
    out = canonical({"input": "hi", "tools": [TOOL], "tool_choice": {"type": "function", "name": "get_weather"}})
    assert out["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ({"format": {"type": "text"}}, None),
        ({"format": {"type": "json_object"}}, {"type": "json_object"}),
        (
            {"format": {"type": "json_schema", "name": "weather", "schema": WEATHER, "strict": True}, "verbosity": "low"},
            {"type": "json_schema", "json_schema": {"name": "weather", "schema": WEATHER, "strict": True}},
        ),
    ],
)
def test_text_format_becomes_the_response_format(text, expected):
    assert canonical({"input": "hi", "text": text}).get("response_format") == expected


def test_reasoning_effort_user_and_stream():
    raw = json.dumps(
        {"model": "m", "input": "hi", "reasoning": {"effort": "high", "summary": "auto"}, "user": "u-1", "stream": True, "store": True}
    )
    parsed = FRONTEND.parse(raw.encode())
    assert parsed.stream and parsed.model == "m"
    out = to_openai(FRONTEND.to_canonical(parsed))
    assert (out["reasoning_effort"], out["user"], out["stream"], out["stream_options"]) == ("high", "u-1", True, {"include_usage": True})


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"tools": [{"type": "web_search"}]}, "unsupported_tool", "function tools only"),
        ({"tools": [{"type": "custom", "name": "apply_patch"}]}, "unsupported_tool", "function tools only"),
        ({"previous_response_id": "resp_1"}, "unsupported_parameter", "stores no conversations"),
        ({"conversation": "conv_1"}, "unsupported_parameter", "stores no conversations"),
        ({"background": True}, "unsupported_parameter", "stores no conversations"),
        ({"prompt": {"id": "pmpt_1"}}, "unsupported_parameter", "stores no conversations"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "unsupported_input", "stores no conversations"),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "unsupported_input", "messages and function calls"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}, "unsupported_input", "file_id"),
        ({"input": [{"role": "tool", "content": "x"}]}, "invalid_role", "role"),
        ({"input": [{"type": "function_call", "name": "f"}]}, "invalid_input", "call_id"),
        ({"input": []}, "invalid_input", "non-empty"),
        ({"input": None, "instructions": "only this"}, "invalid_input", "non-empty"),
        ({"input": 7}, "invalid_request", "input"),
        ({"tool_choice": "sometimes"}, "invalid_tool_choice", "tool_choice"),
        ({"tools": [TOOL], "tool_choice": {"type": "web_search"}}, "invalid_tool_choice", "function"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "invalid_text_format", "schema"),
        ({"text": {"format": {"type": "yaml"}}}, "invalid_text_format", "json_schema"),
        ({"reasoning": {"effort": "extreme"}}, "invalid_reasoning", "effort"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "invalid_metadata", "16"),
        ({"metadata": {"k": 1}}, "invalid_request", "metadata"),
        ({"max_output_tokens": "200"}, "invalid_max_output_tokens", "integer"),
        ({"max_output_tokens": 20.0}, "invalid_max_output_tokens", "integer"),
        ({"max_output_tokens": 0}, "invalid_max_output_tokens", "integer"),
        ({"stream": "yes"}, "invalid_stream", "boolean"),
    ],
)
def test_refused_with_a_clear_400(body, code, words):
    err = refused({"input": "hi", **body})
    assert err.status == 400
    assert err.code == code
    assert words in err.message
    assert FRONTEND.error_body(err)["error"]["code"] == code  # OpenAI's shape


def test_a_missing_model_is_refused():
    with pytest.raises(BadRequest, match="model"):
        FRONTEND.parse(b'{"input": "hi"}')


def test_background_false_and_store_are_accepted():
    assert canonical({"input": "hi", "background": False, "store": True, "metadata": {"a": "b"}})["messages"] == [
        {"role": "user", "content": "hi"}
    ]


# Where each upstream protocol carries a JSON schema the answer must match.
SCHEMA_AT = {
    "openai": lambda body: body["response_format"]["json_schema"]["schema"],
    "anthropic": lambda body: body["output_config"]["format"]["schema"],
    "gemini": lambda body: body["generationConfig"]["responseSchema"],
}


@pytest.mark.parametrize("kind", SCHEMA_AT)
def test_structured_output_reaches_every_upstream_protocol(kind):
    raw = json.dumps({"model": "m", "input": "hi", "text": {"format": {"type": "json_schema", "name": "weather", "schema": WEATHER}}})
    request = FRONTEND.to_canonical(FRONTEND.parse(raw.encode()))
    sent = json.loads(REGISTRY[kind].chat_request("http://upstream", "key", "up-model", request, stream=False).body)
    assert SCHEMA_AT[kind](sent) == WEATHER


# --- whole answers ----------------------------------------------------------------------------------


def rendered(completion: dict) -> dict:
    body = FRONTEND.from_canonical(from_openai(completion, ChatResponse), "asked-model")
    Response.model_validate(body)  # the SDK's own type, validated (not merely constructed)
    return body


def completion(message: dict, finish: str = "stop", usage: dict | None = None) -> dict:
    return {
        "id": "chatcmpl-1",
        "created": 1_700_000_000,
        "model": "upstream-name",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": usage
        or {
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }


def test_a_text_answer_is_a_response_with_a_message_and_usage():
    body = rendered(completion({"content": "Hello there"}))
    assert body["id"].startswith("resp_") and body["object"] == "response"
    assert (body["model"], body["status"], body["store"], body["created_at"]) == ("asked-model", "completed", False, 1_700_000_000)
    [item] = body["output"]
    assert item["type"] == "message" and item["role"] == "assistant" and item["status"] == "completed"
    assert item["id"].startswith("msg_")
    assert item["content"] == [{"type": "output_text", "text": "Hello there", "annotations": [], "logprobs": []}]
    assert body["usage"] == {
        "input_tokens": 11,
        "output_tokens": 7,
        "total_tokens": 18,
        "input_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 2},
    }
    assert Response.model_validate(body).output_text == "Hello there"


def test_reasoning_text_and_tool_calls_are_items_in_order():
    body = rendered(
        completion(
            {
                "content": "Checking.",
                "reasoning_content": "The user wants weather.",
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                    {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
                ],
            },
            finish="tool_calls",
        )
    )
    kinds = [item["type"] for item in body["output"]]
    assert kinds == ["reasoning", "message", "function_call", "function_call"]
    assert body["output"][0]["summary"] == [{"type": "summary_text", "text": "The user wants weather."}]
    calls = body["output"][2:]
    assert [(c["call_id"], c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_weather", {"city": "Rome"}),
    ]
    assert all(c["id"].startswith("fc_") and c["status"] == "completed" for c in calls)
    assert body["status"] == "completed"


def test_an_answer_cut_by_its_token_limit_is_incomplete():
    body = rendered(completion({"content": "Hel"}, finish="length"))
    assert (body["status"], body["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})


def test_an_answer_without_usage_reports_zeros():
    answer = from_openai(completion({"content": "x"}), ChatResponse)
    body = FRONTEND.from_canonical(msgspec.structs.replace(answer, usage=None), "m")
    assert body["usage"]["total_tokens"] == 0


# --- streams ---------------------------------------------------------------------------------------


def chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> ChatChunk:
    choices = [] if delta is None and finish is None else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return from_openai({"id": "c", "created": 1, "model": "upstream", "choices": choices, **({"usage": usage} if usage else {})}, ChatChunk)


USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "completion_tokens_details": {"reasoning_tokens": 1}}


def encoded(chunks: list[ChatChunk], *, error: Exception | None = None, tools: list | None = None):
    """The events the encoder writes for ``chunks`` (then finish, or the error), each checked
    against the SDK's event types, and the SDK accumulator's view of them."""
    encoder = FRONTEND.stream_encoder(FRONTEND.parse(b'{"model": "asked", "input": "hi", "stream": true}'))
    raw = b"".join(encoder.encode(c) for c in chunks) + (encoder.error(error) if error else encoder.finish())
    events = Parser().feed(raw) + Parser().close()
    datas = [json.loads(e.data) for e in events]
    assert [e.name for e in events] == [d["type"] for d in datas]  # the SSE event name is the type
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    state = ResponseStreamState(input_tools=tools if tools is not None else Omit(), text_format=Omit())
    for data in datas:
        state.handle_event(EVENTS.validate_python(data))
    return datas, state


def test_a_text_stream_in_order():
    datas, state = encoded(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hello"}),
            chunk({"content": " world"}),
            chunk(finish="stop"),
            chunk(usage=USAGE),
        ]
    )
    assert [d["type"] for d in datas] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert datas[0]["response"]["status"] == "in_progress" and datas[0]["response"]["model"] == "asked"
    assert datas[6]["text"] == "Hello world"
    final = datas[-1]["response"]
    assert final["id"] == datas[0]["response"]["id"]
    assert final["status"] == "completed"
    assert final["usage"]["input_tokens"] == 9 and final["usage"]["output_tokens_details"]["reasoning_tokens"] == 1
    assert state._completed_response is not None and state._completed_response.output_text == "Hello world"


def test_a_tool_call_stream_builds_the_arguments_from_pieces():
    datas, state = encoded(
        [
            chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
            chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]}),
            chunk(finish="tool_calls", usage=USAGE),
        ],
        tools=[TOOL],
    )
    kinds = [d["type"] for d in datas]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert datas[2]["item"]["call_id"] == "call_1" and datas[2]["item"]["arguments"] == ""
    done = [d for d in datas if d["type"] == "response.output_item.done"]
    assert [(d["item"]["call_id"], d["item"]["arguments"]) for d in done] == [("call_1", '{"city":"Paris"}'), ("call_2", '{"city":"Rome"}')]
    final = state._completed_response
    assert final is not None
    assert [o.parsed_arguments for o in final.output] == [{"city": "Paris"}, {"city": "Rome"}]  # strict tools: parsed by the SDK


def test_reasoning_then_text_stream():
    datas, state = encoded(
        [chunk({"reasoning_content": "Think"}), chunk({"reasoning_content": "ing."}), chunk({"content": "Done"}), chunk(finish="stop")]
    )
    kinds = [d["type"] for d in datas]
    assert kinds[2:9] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert datas[6]["text"] == "Thinking."
    final = datas[-1]["response"]
    assert [o["type"] for o in final["output"]] == ["reasoning", "message"]
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "Thinking."}]
    assert final["usage"]["total_tokens"] == 0  # the upstream reported none
    assert state._completed_response is not None and state._completed_response.output_text == "Done"


def test_a_stream_cut_by_its_token_limit_ends_incomplete():
    datas, _ = encoded([chunk({"content": "Hel"}), chunk(finish="length")])
    assert datas[-1]["type"] == "response.incomplete"
    assert datas[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_broken_stream_ends_with_an_error_and_response_failed():
    datas, _ = encoded([chunk({"content": "Hel"}), chunk({"content": "lo"})], error=UpstreamError("The upstream stream ended abnormally."))
    assert [d["type"] for d in datas][-2:] == ["error", "response.failed"]
    assert datas[-2]["message"] == "The upstream stream ended abnormally." and datas[-2]["code"] == "upstream_error"
    failed = datas[-1]["response"]
    assert failed["status"] == "failed" and failed["error"] == {"code": "server_error", "message": "The upstream stream ended abnormally."}
    assert failed["output"][0]["status"] == "incomplete"
    assert failed["output"][0]["content"][0]["text"] == "Hello"


def test_an_error_before_any_chunk_still_opens_the_response():
    datas, _ = encoded([], error=UpstreamError("gone"))
    assert [d["type"] for d in datas] == ["response.created", "response.in_progress", "error", "response.failed"]


def test_a_tool_call_named_after_its_first_piece_and_calls_keyed_by_id():
    datas, state = encoded(
        [
            chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"arguments": '{"city":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "get_weather", "arguments": '"Oslo"}'}}]}),
            chunk({"tool_calls": [{"id": "call_9", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]}),  # Gemini-style
            chunk(finish="tool_calls"),
        ]
    )
    done = [d["item"] for d in datas if d["type"] == "response.output_item.done"]
    assert [(i["call_id"], i["name"], json.loads(i["arguments"])) for i in done] == [
        ("call_1", "get_weather", {"city": "Oslo"}),
        ("call_9", "get_weather", {"city": "Rome"}),
    ]
    assert state._completed_response is not None and len(state._completed_response.output) == 2
