"""One driver per client protocol: each speaks to the edge through its official SDK and
reports what the client saw in one normalized shape."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import anthropic
import openai
from google import genai
from google.genai import types as gtypes

SYSTEM = "You are terse"  # 3 words
QUESTION = "What is the weather in Paris"  # 6 words
TOOL_RESULT = "Sunny and warm"  # 3 words
MAX_TOKENS = 5
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
}
EXPECTED_ARGS = {"city": "sim", "days": 1}  # the simulator's rule for a schema like this


@dataclass
class Seen:
    text: str = ""
    tool_name: str | None = None
    tool_args: dict | None = None
    finish: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    request_ids: list[str] = field(default_factory=list)


class OpenAIDriver:
    name = "openai"
    finish_text, finish_tool = "stop", "tool_calls"

    def __init__(self, stack, key: str):
        self.client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
        self.tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA}}]

    def first_turn(self) -> list:
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]

    def ask(self, messages: list, *, stream: bool, tools: bool) -> Seen:
        kw = {"model": self.model, "messages": messages, "max_tokens": MAX_TOKENS}
        if tools:
            kw["tools"] = self.tools
        seen = Seen()
        if not stream:
            raw = self.client.chat.completions.with_raw_response.create(**kw)
            seen.request_ids.append(raw.headers["x-request-id"])
            c = raw.parse()
            choice = c.choices[0]
            seen.text, seen.finish = choice.message.content or "", choice.finish_reason
            if choice.message.tool_calls:
                call = choice.message.tool_calls[0]
                seen.tool_name, seen.tool_args, self.last_call = call.function.name, json.loads(call.function.arguments), call
            seen.prompt_tokens, seen.completion_tokens = c.usage.prompt_tokens, c.usage.completion_tokens
            return seen
        raw = self.client.chat.completions.with_raw_response.create(stream=True, stream_options={"include_usage": True}, **kw)
        seen.request_ids.append(raw.headers["x-request-id"])
        name, args, call_id = None, "", None
        for chunk in raw.parse():
            if chunk.usage:
                seen.prompt_tokens, seen.completion_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            for choice in chunk.choices:
                seen.text += choice.delta.content or ""
                for tc in choice.delta.tool_calls or []:
                    name = tc.function.name or name
                    call_id = tc.id or call_id
                    args += tc.function.arguments or ""
                if choice.finish_reason:
                    seen.finish = choice.finish_reason
        if name:
            seen.tool_name, seen.tool_args = name, json.loads(args)
            self.last_call = openai.types.chat.ChatCompletionMessageToolCall(
                id=call_id, type="function", function={"name": name, "arguments": args}
            )
        return seen

    def second_turn(self, first: list) -> list:
        call = self.last_call
        return [
            *first,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
        ]


class AnthropicDriver:
    name = "anthropic"
    finish_text, finish_tool = "end_turn", "tool_use"

    def __init__(self, stack, key: str):
        self.client = anthropic.Anthropic(base_url=stack.edge_url.removesuffix("/v1"), api_key=key, max_retries=0, timeout=30)
        self.tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]

    def first_turn(self) -> list:
        return [{"role": "user", "content": QUESTION}]

    def ask(self, messages: list, *, stream: bool, tools: bool) -> Seen:
        kw = {"model": self.model, "messages": messages, "max_tokens": MAX_TOKENS, "system": SYSTEM}
        if tools:
            kw["tools"] = self.tools
        seen = Seen()
        if stream:
            with self.client.messages.stream(**kw) as s:
                seen.request_ids.append(s.response.headers["x-request-id"])
                message = s.get_final_message()
        else:
            raw = self.client.messages.with_raw_response.create(**kw)
            seen.request_ids.append(raw.headers["x-request-id"])
            message = raw.parse()
        for block in message.content:
            if block.type == "text":
                seen.text += block.text
            elif block.type == "tool_use":
                seen.tool_name, seen.tool_args, self.last_call = block.name, dict(block.input), block
        seen.finish = message.stop_reason
        seen.prompt_tokens = message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0)
        seen.completion_tokens = message.usage.output_tokens
        return seen

    def second_turn(self, first: list) -> list:
        call = self.last_call
        return [
            *first,
            {"role": "assistant", "content": [{"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": TOOL_RESULT}]},
        ]


class GeminiDriver:
    name = "gemini"
    finish_text = finish_tool = "STOP"

    def __init__(self, stack, key: str):
        base = stack.edge_url.removesuffix("/v1") + "/gemini"
        self.client = genai.Client(
            api_key=key, http_options=gtypes.HttpOptions(base_url=base, timeout=30_000, retry_options=gtypes.HttpRetryOptions(attempts=1))
        )
        self.tools = [
            gtypes.Tool(
                function_declarations=[
                    gtypes.FunctionDeclaration(name="get_weather", description="Weather", parameters_json_schema=WEATHER_SCHEMA)
                ]
            )
        ]

    def first_turn(self) -> list:
        return [gtypes.Content(role="user", parts=[gtypes.Part(text=QUESTION)])]

    def ask(self, contents: list, *, stream: bool, tools: bool) -> Seen:
        config = gtypes.GenerateContentConfig(
            system_instruction=SYSTEM,
            max_output_tokens=MAX_TOKENS,
            tools=self.tools if tools else None,
            automatic_function_calling=gtypes.AutomaticFunctionCallingConfig(disable=True),
            http_options=gtypes.HttpOptions(),
        )
        seen = Seen()
        responses = (
            list(self.client.models.generate_content_stream(model=self.model, contents=contents, config=config))
            if stream
            else [self.client.models.generate_content(model=self.model, contents=contents, config=config)]
        )
        for r in responses:
            if r.sdk_http_response and r.sdk_http_response.headers:
                rid = r.sdk_http_response.headers.get("x-request-id")
                if rid and rid not in seen.request_ids:
                    seen.request_ids.append(rid)
            for cand in r.candidates or []:
                for part in cand.content.parts if cand.content and cand.content.parts else []:
                    if part.text:
                        seen.text += part.text
                    if part.function_call:
                        seen.tool_name, seen.tool_args = part.function_call.name, dict(part.function_call.args)
                        self.last_call = part.function_call
                if cand.finish_reason:
                    seen.finish = cand.finish_reason.value if hasattr(cand.finish_reason, "value") else str(cand.finish_reason)
            if r.usage_metadata and r.usage_metadata.prompt_token_count is not None:
                seen.prompt_tokens = r.usage_metadata.prompt_token_count
                seen.completion_tokens = r.usage_metadata.candidates_token_count or 0
        return seen

    def second_turn(self, first: list) -> list:
        call = self.last_call
        return [
            *first,
            gtypes.Content(role="model", parts=[gtypes.Part(function_call=call)]),
            gtypes.Content(
                role="user",
                parts=[gtypes.Part(function_response=gtypes.FunctionResponse(name=call.name, response={"result": TOOL_RESULT}))],
            ),
        ]


DRIVERS = {d.name: d for d in (OpenAIDriver, AnthropicDriver, GeminiDriver)}
