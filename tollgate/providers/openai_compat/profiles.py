"""How each OpenAI-compatible provider differs from OpenAI: data, not code."""

from __future__ import annotations

from typing import Literal

import msgspec


class Profile(msgspec.Struct, frozen=True):
    drop_params: frozenset[str] = frozenset()
    stream_usage: bool = True  # honours stream_options.include_usage
    extra_headers: dict[str, str] = {}
    chat_path: str = "/chat/completions"
    embeddings_path: str = "/embeddings"
    rerank_path: str = "/rerank"
    completions_path: str = ""  # legacy text completions served as they are ("" = none: translated to chat)
    responses_path: str = ""  # the Responses API, when the provider serves it natively ("" = translated to chat)
    # Where its answers carry reasoning text: DeepSeek's "reasoning_content" (canonical), or
    # "reasoning" (OpenRouter), read into reasoning_content when translating.
    reasoning_field: Literal["reasoning_content", "reasoning"] = "reasoning_content"


PROFILES: dict[str, Profile] = {
    "openai": Profile(completions_path="/completions", responses_path="/responses"),
    "deepseek": Profile(),
    "groq": Profile(drop_params=frozenset({"logit_bias", "logprobs", "top_logprobs"})),
    "mistral": Profile(drop_params=frozenset({"logit_bias", "user"})),
    "xai": Profile(),
    "together": Profile(completions_path="/completions"),
    "fireworks": Profile(drop_params=frozenset({"logit_bias"}), completions_path="/completions"),
    "openrouter": Profile(completions_path="/completions", reasoning_field="reasoning"),
    "vllm": Profile(completions_path="/completions"),
    "ollama": Profile(completions_path="/completions"),
    "simulator": Profile(),
}
