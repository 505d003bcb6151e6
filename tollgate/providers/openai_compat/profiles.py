"""How each OpenAI-compatible provider differs from OpenAI: data, not code."""

from __future__ import annotations

import msgspec


class Profile(msgspec.Struct, frozen=True):
    drop_params: frozenset[str] = frozenset()
    stream_usage: bool = True  # honours stream_options.include_usage
    extra_headers: dict[str, str] = {}
    chat_path: str = "/chat/completions"
    embeddings_path: str = "/embeddings"
    rerank_path: str = "/rerank"
    responses_path: str = ""  # the Responses API, when the provider serves it natively ("" = translated to chat)


PROFILES: dict[str, Profile] = {
    "openai": Profile(responses_path="/responses"),
    "deepseek": Profile(),
    "groq": Profile(drop_params=frozenset({"logit_bias", "logprobs", "top_logprobs"})),
    "mistral": Profile(drop_params=frozenset({"logit_bias", "user"})),
    "xai": Profile(),
    "together": Profile(),
    "fireworks": Profile(drop_params=frozenset({"logit_bias"})),
    "openrouter": Profile(),
    "vllm": Profile(),
    "ollama": Profile(),
    "simulator": Profile(),
}
