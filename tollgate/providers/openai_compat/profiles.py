"""How each OpenAI-compatible provider differs from OpenAI: data, not code.

Each quirk cites the vendor document it comes from; where a vendor's documentation is
silent, the profile keeps OpenAI's behaviour. ``Profile.shape`` applies them all to a body
on its way upstream (the adapter's one place for it)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class Profile(msgspec.Struct, frozen=True):
    drop_params: frozenset[str] = frozenset()  # top-level fields the vendor answers 400 to
    drop_message_fields: frozenset[str] = frozenset()  # fields of messages[] it answers 400 to
    rename_params: dict[str, str] = {}  # a field it names differently: sent under its name (unless that is set too)
    clamps: dict[str, tuple[float, float]] = {}  # numeric fields it only takes within [low, high]
    n_max: int = 0  # the most choices (n) it returns per request (0: no documented limit)
    json_schema: bool = True  # False: response_format json_schema is sent as json_object, the mode it has
    # The tool_choice values it takes ("function": a named function); empty = all of OpenAI's.
    # Any other value is not sent: the vendor's default ("auto" with tools) applies.
    tool_choices: frozenset[str] = frozenset()
    # Earlier assistant turns' reasoning_content sent back: "keep" as the client sent it;
    # "tool_turns" only on turns that called tools (the others' are dropped).
    history_reasoning: Literal["keep", "tool_turns"] = "keep"
    stream_usage: bool = True  # honours stream_options.include_usage
    extra_headers: dict[str, str] = {}
    default_base_url: str = ""  # a channel of the kind without base_url gets this one ("" = base_url required)
    chat_path: str = "/chat/completions"
    embeddings_path: str = "/embeddings"
    rerank_path: str = "/rerank"
    images_path: str = ""  # OpenAI's image generation, where the vendor serves it ("" = none: its channels never draw)
    moderations_path: str = ""  # OpenAI's moderation, where the vendor serves it ("" = none)
    speech_path: str = ""  # OpenAI's text to speech, where the vendor serves it ("" = none)
    # OpenAI's multipart uploads where the vendor serves them: ability (base.UPLOADS) -> path
    upload_paths: dict[str, str] = {}
    completions_path: str = ""  # legacy text completions served as they are ("" = none: translated to chat)
    responses_path: str = ""  # the Responses API, when the provider serves it natively ("" = translated to chat)
    # Where its answers carry reasoning text: DeepSeek's "reasoning_content" (canonical), or
    # "reasoning" (OpenRouter), read into reasoning_content when translating.
    reasoning_field: Literal["reasoning_content", "reasoning"] = "reasoning_content"

    def shape(self, body: dict[str, Any]) -> dict[str, Any]:
        """A copy of an OpenAI body (chat or legacy completions) the vendor accepts."""
        out = {k: v for k, v in body.items() if k not in self.drop_params}
        for name, vendor_name in self.rename_params.items():
            if name in out:
                value = out.pop(name)
                out.setdefault(vendor_name, value)
        for name, (low, high) in self.clamps.items():
            value = out.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[name] = min(max(value, low), high)
        if self.n_max and isinstance(out.get("n"), int) and out["n"] > self.n_max:
            out["n"] = self.n_max
        if not self.json_schema and _format_type(out.get("response_format")) == "json_schema":
            out["response_format"] = {"type": "json_object"}
        if self.tool_choices and "tool_choice" in out and _choice(out["tool_choice"]) not in self.tool_choices:
            del out["tool_choice"]
        if isinstance(out.get("messages"), list) and (self.drop_message_fields or self.history_reasoning != "keep"):
            out["messages"] = [self._message(m) for m in out["messages"]]
        return out

    def _message(self, message: Any) -> Any:
        if not isinstance(message, dict):
            return message
        drop = set(self.drop_message_fields)
        if self.history_reasoning == "tool_turns" and not message.get("tool_calls"):
            drop.add("reasoning_content")
        return {k: v for k, v in message.items() if k not in drop}


def _format_type(response_format: Any) -> Any:
    return response_format.get("type") if isinstance(response_format, dict) else None


def _choice(tool_choice: Any) -> Any:
    """A tool_choice as one of its kinds: "none", "auto", "required", or "function" (a named one)."""
    return tool_choice.get("type") if isinstance(tool_choice, dict) else tool_choice


_MAX_TOKENS = {"max_completion_tokens": "max_tokens"}  # vendors whose docs have only max_tokens

PROFILES: dict[str, Profile] = {
    # https://platform.openai.com/docs/api-reference/chat/create (the reference: its channels name their base_url)
    # https://platform.openai.com/docs/api-reference/images/create, .../moderations/create
    "openai": Profile(
        completions_path="/completions",
        responses_path="/responses",
        images_path="/images/generations",
        moderations_path="/moderations",
        speech_path="/audio/speech",
        upload_paths={"transcriptions": "/audio/transcriptions", "translations": "/audio/translations", "image_edits": "/images/edits"},
    ),
    # https://api-docs.deepseek.com/api/create-chat-completion: max_tokens only.
    # https://api-docs.deepseek.com/guides/json_mode: response_format json_object only.
    # https://api-docs.deepseek.com/guides/thinking_mode: a turn's reasoning_content must be sent
    # back when it called tools (400 otherwise), is ignored otherwise; the older reasoning_model
    # guide answers 400 to reasoning_content in the input: only tool-call turns keep it.
    "deepseek": Profile(
        default_base_url="https://api.deepseek.com",
        rename_params=_MAX_TOKENS,
        json_schema=False,
        history_reasoning="tool_turns",
    ),
    # https://console.groq.com/docs/openai: logprobs, logit_bias, top_logprobs and
    # messages[].name answer 400; n must be 1. https://console.groq.com/docs/reasoning:
    # reasoning text in message.reasoning.
    "groq": Profile(
        default_base_url="https://api.groq.com/openai/v1",
        drop_params=frozenset({"logit_bias", "logprobs", "top_logprobs"}),
        drop_message_fields=frozenset({"name"}),
        n_max=1,
        reasoning_field="reasoning",
    ),
    # https://docs.mistral.ai/api/#tag/chat: no logit_bias or user; the seed is random_seed;
    # max_tokens only.
    "mistral": Profile(
        default_base_url="https://api.mistral.ai/v1",
        drop_params=frozenset({"logit_bias", "user"}),
        rename_params={**_MAX_TOKENS, "seed": "random_seed"},
    ),
    # https://docs.x.ai/docs/api-reference#chat-completions: OpenAI's fields.
    # https://docs.x.ai/docs/guides/image-generations: OpenAI's images endpoint.
    "xai": Profile(default_base_url="https://api.x.ai/v1", images_path="/images/generations"),
    # https://docs.together.ai/docs/openai-api-compatibility (images too: /images/generations)
    "together": Profile(default_base_url="https://api.together.xyz/v1", completions_path="/completions", images_path="/images/generations"),
    # https://docs.fireworks.ai/tools-sdks/openai-compatibility
    "fireworks": Profile(
        default_base_url="https://api.fireworks.ai/inference/v1", drop_params=frozenset({"logit_bias"}), completions_path="/completions"
    ),
    # https://openrouter.ai/docs/use-cases/reasoning-tokens: reasoning text in "reasoning".
    "openrouter": Profile(default_base_url="https://openrouter.ai/api/v1", completions_path="/completions", reasoning_field="reasoning"),
    # https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html (self-hosted: no default URL)
    "vllm": Profile(completions_path="/completions"),
    # https://docs.ollama.com/api/openai-compatibility: its supported fields list max_tokens only.
    "ollama": Profile(default_base_url="http://localhost:11434/v1", rename_params=_MAX_TOKENS, completions_path="/completions"),
    # https://platform.moonshot.ai/docs/guide/migrating-from-openai-to-kimi: temperature in [0, 1];
    # tool_choice "none" or "auto" only ("required" not supported); no deprecated functions;
    # stream_options.include_usage honoured. https://platform.kimi.ai/docs/api/models-overview:
    # n at most 5. Reasoning in reasoning_content.
    "moonshot": Profile(
        default_base_url="https://api.moonshot.ai/v1",
        drop_params=frozenset({"functions", "function_call"}),
        clamps={"temperature": (0.0, 1.0)},
        n_max=5,
        tool_choices=frozenset({"none", "auto"}),
    ),
    # https://help.aliyun.com/en/model-studio/deep-thinking (OpenAI-compatible mode):
    # enable_thinking passes through, reasoning in reasoning_content, stream_options honoured.
    "qwen": Profile(default_base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
    # https://docs.bigmodel.cn/api-reference/模型-api/对话补全: temperature in [0, 1],
    # tool_choice "auto" only, response_format text or json_object, max_tokens only;
    # reasoning in reasoning_content.
    "zhipu": Profile(
        default_base_url="https://open.bigmodel.cn/api/paas/v4",
        rename_params=_MAX_TOKENS,
        clamps={"temperature": (0.0, 1.0)},
        tool_choices=frozenset({"auto"}),
        json_schema=False,
    ),
    # https://docs.siliconflow.cn/docs/api/chat-completions-post: temperature <= 2, top_p <= 1,
    # max_tokens only; enable_thinking/thinking_budget pass through; reasoning in reasoning_content.
    "siliconflow": Profile(default_base_url="https://api.siliconflow.cn/v1", rename_params=_MAX_TOKENS),
    "simulator": Profile(
        images_path="/images/generations",
        moderations_path="/moderations",
        speech_path="/audio/speech",
        upload_paths={"transcriptions": "/audio/transcriptions", "translations": "/audio/translations", "image_edits": "/images/edits"},
    ),
}
