"""services/edge/frontends/openai/completions.py: the legacy completions request checked,
translated to chat, and the chat answers (whole and streamed) back as ``text_completion``."""

from __future__ import annotations

import msgspec
import pytest

from services.edge.frontends.openai.completions import (
    DEFAULT_MAX_TOKENS,
    SUFFIX_INSTRUCTION,
    Encoder,
    from_chat,
    read,
    serves_natively,
    to_chat,
)
from tollgate.canonical import ChatChunk, ChatResponse, Choice, ChunkChoice, Delta, Message, Usage
from tollgate.errors import BadRequest, TollgateError
from tollgate.providers import adapter_for


def _events(raw: bytes) -> list:
    return [msgspec.json.decode(line[6:]) for line in raw.split(b"\n\n") if line.startswith(b"data: {")]


@pytest.mark.parametrize(
    "body, code",
    [
        ({"prompt": "x"}, "missing_model"),
        ({"model": "m"}, "invalid_prompt"),
        ({"model": "m", "prompt": []}, "invalid_prompt"),
        ({"model": "m", "prompt": [1, 2]}, "invalid_prompt"),
        ({"model": "m", "prompt": [[1], [2]]}, "invalid_prompt"),
        ({"model": "m", "prompt": ["a", 3]}, "invalid_prompt"),
        ({"model": "m", "prompt": ""}, "invalid_prompt"),
        ({"model": "m", "prompt": "a", "logprobs": 0}, "unsupported_logprobs"),
        ({"model": "m", "prompt": "a", "best_of": 2}, "unsupported_best_of"),
        ({"model": "m", "prompt": "a", "max_tokens": 0}, "invalid_max_tokens"),
        ({"model": "m", "prompt": "a", "n": 1000}, "invalid_n"),
        ({"model": "m", "prompt": "a", "temperature": "hot"}, "invalid_request"),
        ({"model": "m" * 300, "prompt": "a"}, "invalid_model"),
    ],
)
def test_read_refuses_with_a_clear_code(body: dict, code: str) -> None:
    with pytest.raises(BadRequest) as err:
        read(body)
    assert err.value.code == code and err.value.message


def test_read_takes_a_string_a_list_and_an_empty_prompt_with_a_suffix() -> None:
    assert read({"model": "m", "prompt": "a"}).prompts == ["a"]
    assert read({"model": "m", "prompt": ["a", "b"], "unknown_field": 1}).prompts == ["a", "b"]
    assert read({"model": "m", "prompt": "", "suffix": "end"}).suffix == "end"


def test_to_chat_carries_the_settings_and_puts_the_suffix_in_a_system_message() -> None:
    request = read({"model": "m", "prompt": "def f(", "suffix": "return x", "stop": ["\n"], "temperature": 0.5, "n": 2, "seed": 7})
    chat = to_chat(request, stream=True)
    assert [(m.role, m.content) for m in chat.messages] == [("system", SUFFIX_INSTRUCTION + "return x"), ("user", "def f(")]
    assert (chat.max_tokens, chat.stop, chat.temperature, chat.n, chat.seed, chat.stream) == (DEFAULT_MAX_TOKENS, ["\n"], 0.5, 2, 7, True)
    assert chat.stream_options.include_usage is True
    plain = to_chat(read({"model": "m", "prompt": "hi", "max_tokens": 3}), stream=False)
    assert [(m.role, m.content) for m in plain.messages] == [("user", "hi")]
    assert plain.max_tokens == 3 and plain.stream is msgspec.UNSET and plain.temperature is msgspec.UNSET


def test_from_chat_is_a_text_completion_with_the_asked_model_and_echo() -> None:
    response = ChatResponse(
        id="chatcmpl-9",
        created=5,
        model="upstream-name",
        choices=[Choice(index=0, message=Message(role="assistant", content=" world"), finish_reason="length")],
        usage=Usage(2, 1),
    )
    body = from_chat(response, read({"model": "m", "prompt": "hello", "echo": True}), "asked")
    usage = body.pop("usage")
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (2, 1, 3)
    assert body == {
        "id": "cmpl-9",
        "object": "text_completion",
        "created": 5,
        "model": "asked",
        "choices": [{"text": "hello world", "index": 0, "logprobs": None, "finish_reason": "length"}],
    }
    bare = from_chat(ChatResponse(choices=[Choice()]), read({"model": "m", "prompt": "x"}), "asked")
    assert bare["choices"][0]["text"] == "" and bare["choices"][0]["finish_reason"] == "stop" and "usage" not in bare


def test_the_stream_encoder_echoes_once_per_choice_and_sends_usage_when_asked() -> None:
    encoder = Encoder(read({"model": "m", "prompt": "p:", "echo": True}), "asked", wants_usage=True)
    out = encoder.encode(ChatChunk(id="chatcmpl-1", choices=[ChunkChoice(index=0, delta=Delta(role="assistant", content=""))]))
    out += encoder.encode(ChatChunk(id="chatcmpl-1", choices=[ChunkChoice(index=0, delta=Delta(content=" a"))]))
    out += encoder.encode(ChatChunk(id="chatcmpl-1", choices=[ChunkChoice(index=0, delta=Delta(), finish_reason="stop")]))
    out += encoder.encode(ChatChunk(id="chatcmpl-1", usage=Usage(1, 1)))
    events = _events(out)
    assert [e["choices"][0]["text"] for e in events[:-1]] == ["p:", " a", ""]
    assert events[2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] == 2
    assert {e["model"] for e in events} == {"asked"} and {e["object"] for e in events} == {"text_completion"}
    assert encoder.finish() == b"data: [DONE]\n\n"
    quiet = Encoder(read({"model": "m", "prompt": "p"}), "asked", wants_usage=False)
    assert quiet.encode(ChatChunk(usage=Usage(1, 1))) == b""
    assert b'"error"' in quiet.error(TollgateError("broken")) and quiet.error(TollgateError("x")).endswith(b"[DONE]\n\n")


def test_which_channels_serve_completions_natively() -> None:
    assert serves_natively(adapter_for("openai")) and serves_natively(adapter_for("vllm"))
    assert not serves_natively(adapter_for("simulator")) and not serves_natively(adapter_for("groq"))
    assert not serves_natively(adapter_for("anthropic")) and not serves_natively(None)
