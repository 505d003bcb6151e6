"""What every upstream adapter provides.

The edge's lingua franca is OpenAI's chat-completions shape ("canonical", typed in
``tollgate.canonical``): a client protocol translates its request into a ``ChatRequest``,
an upstream adapter translates that into its own wire format (``chat_request``) and its
answers back into a ``ChatResponse`` or, streamed, ``ChatChunk``s. When the client and the
upstream speak the same protocol the client's body passes through natively
(``native_request``: only ``model`` is replaced) and the adapter only reads the usage counts.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import msgspec

from tollgate.canonical import MAX_TOKENS, ChatChunk, ChatRequest, ChatResponse, Usage
from tollgate.events import UnitUsage
from tollgate.sse import Event, Parser

__all__ = [
    "ABILITIES",
    "CHAT",
    "COUNT_TOKENS",
    "EMBEDDINGS",
    "EMBEDDINGS_OPERATION",
    "IMAGES",
    "IMAGE_EDITS",
    "MAX_TOKENS",
    "MODERATIONS",
    "RERANK",
    "RERANK_OPERATION",
    "RESPONSES",
    "RESPONSES_PROTOCOL",
    "SPEECH",
    "STREAM",
    "TRANSCRIPTIONS",
    "TRANSLATIONS",
    "UPLOADS",
    "Adapter",
    "ChannelMisconfigured",
    "NoChat",
    "NotSupported",
    "Operation",
    "StreamDecoder",
    "StreamParser",
    "Streamed",
    "Unsupported",
    "UpstreamRequest",
    "Usage",
    "as_asked",
    "tool_arguments",
    "with_documents",
]


class Streamed(NamedTuple):
    """A request body sent as it is produced (an upload relayed from the client): never held
    whole, each piece written once the socket drains. ``length`` None: sent chunked."""

    pieces: AsyncIterable[bytes]
    length: int | None


class UpstreamRequest(msgspec.Struct, frozen=True):
    url: str
    headers: dict[str, str]
    body: bytes | Streamed


class StreamDecoder(Protocol):
    """Reads one upstream stream. ``usage`` holds the provider's own counts seen so far."""

    usage: Usage | None

    def feed(self, event: Event) -> list[ChatChunk]:
        """Canonical chunks for one upstream event."""
        ...

    def close(self) -> list[ChatChunk]:
        """Chunks owed at the end of the stream (e.g. the usage-only chunk)."""
        ...

    def observe(self, event: Event) -> bool:
        """Pass-through mode: only read usage. True when the event carries nothing but usage."""
        ...


class StreamParser(Protocol):
    """An upstream stream's framing: bytes in, whole events out (SSE for most upstreams)."""

    def feed(self, piece: bytes) -> list[Event]: ...

    def close(self) -> list[Event]: ...


# What an adapter can do. ``chat`` and ``stream`` every chat adapter has (a retrieval-only kind,
# ``NoChat``: cohere, jina, voyage, has neither); the others are optional
# and an adapter names those it has in ``abilities`` (``responses``: OpenAI's Responses API
# served natively, so a Responses request passes through; see ``Adapter.native_for``).
CHAT, STREAM, EMBEDDINGS, RERANK, COUNT_TOKENS, RESPONSES = "chat", "stream", "embeddings", "rerank", "count_tokens", "responses"
# OpenAI's /v1/images/generations, /v1/moderations and /v1/audio/speech (tollgate/providers/media.py)
IMAGES, MODERATIONS, SPEECH = "images", "moderations", "speech"
# OpenAI's multipart uploads: /v1/audio/transcriptions, /v1/audio/translations, /v1/images/edits (services/edge/uploads.py)
TRANSCRIPTIONS, TRANSLATIONS, IMAGE_EDITS = "transcriptions", "translations", "image_edits"
UPLOADS = frozenset({TRANSCRIPTIONS, TRANSLATIONS, IMAGE_EDITS})
ABILITIES = frozenset({CHAT, STREAM, EMBEDDINGS, RERANK, COUNT_TOKENS, RESPONSES, IMAGES, MODERATIONS, SPEECH, *UPLOADS})
RESPONSES_PROTOCOL = "openai-responses"  # the client protocol of OpenAI's Responses API (``/v1/responses``)


class ChannelMisconfigured(Exception):
    """Building a request found the channel's own configuration unusable (a secret of the
    wrong form, no credentials, no region): that channel is skipped, as one whose secret is
    not configured is. The message names what is wrong, never the secret."""


class NotSupported(Exception):
    """The adapter's upstream has no such ability (check ``ability in adapter.abilities`` first)."""

    def __init__(self, kind: str, ability: str):
        super().__init__(f"provider {kind!r} does not serve {ability}")
        self.kind = kind
        self.ability = ability


class Adapter(Protocol):
    kind: str  # the channel's provider kind, e.g. "deepseek"
    protocol: str  # the wire protocol it speaks: "openai" | "anthropic" | "gemini"
    abilities: frozenset[str]  # what it serves, from ``ABILITIES``; the optional methods below raise NotSupported otherwise

    def chat_request(self, base_url: str, secret: str, upstream_model: str, request: ChatRequest, *, stream: bool) -> UpstreamRequest:
        """A canonical request in this upstream's wire format."""
        ...

    def native_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        """A client's body already in this upstream's protocol, passed on (``model`` replaced)."""
        ...

    def chat_response(self, payload: bytes) -> tuple[ChatResponse, Usage]:
        """A whole native answer as a canonical ``ChatResponse``, plus usage."""
        ...

    def native_usage(self, payload: bytes) -> Usage | None: ...

    def stream_decoder(self, model: str) -> StreamDecoder: ...

    def error_message(self, payload: bytes) -> str: ...

    def stream_parser(self) -> StreamParser:
        """What splits this upstream's streamed bytes into events (``sse.Parser`` but for
        binary framings such as AWS's event stream)."""
        ...

    def upstream_status(self, status: int, headers: Mapping[str, str]) -> int:
        """The status an upstream's error answer counts as (an upstream that names its error
        in a header may mean another class than its status says); ``status`` for most."""
        ...

    def native_for(self, protocol: str) -> Adapter | None:
        """The adapter that passes a client's body of ``protocol`` through to this channel
        (``native_request``, ``native_usage``, ``stream_decoder``): itself when it speaks that
        protocol, a view of it when it also serves it natively, else None (translated)."""
        ...

    def for_model(self, upstream_model: str) -> Adapter:
        """The adapter serving ``upstream_model`` on a channel of this kind: itself, or (a kind
        whose models speak different protocols, as Vertex AI's publishers) the model's own."""
        ...

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        """An OpenAI ``/v1/embeddings`` body as this upstream's request."""
        ...

    def embeddings_result(self, payload: bytes) -> tuple[dict | bytes, Usage]:
        """The upstream's answer as an OpenAI embeddings list (a dict, or its JSON bytes), plus usage."""
        ...

    def rerank_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest: ...

    def rerank_result(self, payload: bytes) -> tuple[dict | bytes, Usage]: ...

    def count_tokens_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        """A native token count of an Anthropic-shaped body (the answer is passed on as it is)."""
        ...

    def images_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        """An OpenAI ``/v1/images/generations`` body as this upstream's request."""
        ...

    def images_result(self, payload: bytes) -> tuple[dict | bytes, Usage]:
        """The upstream's answer as OpenAI's images answer (a dict, or its JSON bytes), plus token usage if any."""
        ...

    def moderations_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest: ...

    def moderations_result(self, payload: bytes) -> tuple[dict | bytes, Usage]: ...

    def upload_target(self, ability: str, base_url: str, secret: str, upstream_model: str) -> tuple[str, dict[str, str]]:
        """Where an OpenAI multipart upload (``ability`` in ``UPLOADS``) goes, and the headers
        it goes with (no content-type: the form's own is sent); the form is relayed as it arrives."""
        ...

    def speech_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        """An OpenAI ``/v1/audio/speech`` body as this upstream's request (its answer: audio bytes, streamed on as they come)."""
        ...

    def configured(self, settings: Mapping[str, str]) -> Adapter:
        """This kind's adapter for a channel with these settings (the catalog's kind-specific
        fields, e.g. azure's ``api_version``); raises ValueError saying what is wrong with them."""
        ...


class Unsupported:
    """The optional abilities, each raising NotSupported: an adapter inherits this and
    overrides what it serves (and lists it in ``abilities``)."""

    kind: str
    protocol: str
    abilities: frozenset[str] = frozenset({CHAT, STREAM})

    def native_for(self, protocol: str) -> Adapter | None:
        return self if protocol == self.protocol else None  # type: ignore[return-value]  # a subclass is the whole Adapter

    def for_model(self, upstream_model: str) -> Adapter:
        return self  # type: ignore[return-value]  # a subclass is the whole Adapter

    def stream_parser(self) -> StreamParser:
        return Parser()

    def upstream_status(self, status: int, headers: Mapping[str, str]) -> int:
        return status

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        raise NotSupported(self.kind, EMBEDDINGS)

    def embeddings_result(self, payload: bytes) -> tuple[dict | bytes, Usage]:
        raise NotSupported(self.kind, EMBEDDINGS)

    def rerank_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        raise NotSupported(self.kind, RERANK)

    def rerank_result(self, payload: bytes) -> tuple[dict | bytes, Usage]:
        raise NotSupported(self.kind, RERANK)

    def count_tokens_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        raise NotSupported(self.kind, COUNT_TOKENS)

    def images_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        raise NotSupported(self.kind, IMAGES)

    def images_result(self, payload: bytes) -> tuple[dict | bytes, Usage]:
        raise NotSupported(self.kind, IMAGES)

    def moderations_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        raise NotSupported(self.kind, MODERATIONS)

    def moderations_result(self, payload: bytes) -> tuple[dict | bytes, Usage]:
        raise NotSupported(self.kind, MODERATIONS)

    def speech_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        raise NotSupported(self.kind, SPEECH)

    def upload_target(self, ability: str, base_url: str, secret: str, upstream_model: str) -> tuple[str, dict[str, str]]:
        raise NotSupported(self.kind, ability)

    def configured(self, settings: Mapping[str, str]) -> Adapter:
        if settings:
            raise ValueError(f"provider {self.kind!r} takes no {', '.join(sorted(settings))}")
        return self  # type: ignore[return-value]  # every subclass is a complete Adapter


class NoChat(Unsupported):
    """An upstream that serves only JSON operations (embeddings, rerank): the chat side raises
    NotSupported, and the edge never sends it a chat request (CHAT is not in its abilities)."""

    abilities: frozenset[str] = frozenset()

    def chat_request(self, base_url: str, secret: str, upstream_model: str, request: ChatRequest, *, stream: bool) -> UpstreamRequest:
        raise NotSupported(self.kind, CHAT)

    def native_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        raise NotSupported(self.kind, CHAT)

    def chat_response(self, payload: bytes) -> tuple[ChatResponse, Usage]:
        raise NotSupported(self.kind, CHAT)

    def native_usage(self, payload: bytes) -> Usage | None:
        raise NotSupported(self.kind, CHAT)

    def stream_decoder(self, model: str) -> StreamDecoder:
        raise NotSupported(self.kind, STREAM)


@dataclass(frozen=True, slots=True)
class Operation:
    """A non-chat JSON operation (embeddings, rerank) as typed calls on an adapter: the edge's
    one unary request path serves any of them without looking methods up by name.

    An operation billed in units beyond tokens (images, requests) also names them: ``worst``
    the request's own worst case (what pre-authorization holds), ``units`` what the answer
    (OpenAI-shaped, as ``result`` returns it) used."""

    ability: str
    request: Callable[[Adapter, str, str, str, dict], UpstreamRequest]
    result: Callable[[Adapter, bytes, dict], tuple[dict | bytes, Usage]]  # (adapter, upstream payload, the client's body)
    worst: Callable[[dict], list[UnitUsage]] | None = None  # (the client's body)
    units: Callable[[dict | bytes, dict], list[UnitUsage]] | None = None  # (the answer, the client's body)

    def serves(self, adapter: Adapter) -> bool:
        return self.ability in adapter.abilities


def _base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def as_asked(result: dict[str, Any] | bytes, body: dict[str, Any]) -> dict[str, Any] | bytes:
    """An embeddings answer in the encoding the client asked for: an adapter that got floats
    (a native provider asked for floats) has them encoded as OpenAI's base64 here; an answer
    already in bytes is the upstream's own, in the encoding it was asked for."""
    if isinstance(result, bytes) or body.get("encoding_format") != "base64":
        return result
    data = [
        {**item, "embedding": _base64(item["embedding"])} if isinstance(item.get("embedding"), list) else item for item in result["data"]
    ]
    return {**result, "data": data}


def _embeddings_result(adapter: Adapter, payload: bytes, body: dict) -> tuple[dict | bytes, Usage]:
    result, usage = adapter.embeddings_result(payload)
    return as_asked(result, body), usage


EMBEDDINGS_OPERATION = Operation(
    EMBEDDINGS, lambda a, url, secret, model, body: a.embeddings_request(url, secret, model, body), _embeddings_result
)


def with_documents(result: dict[str, Any] | bytes, body: dict[str, Any]) -> dict[str, Any] | bytes:
    """A rerank answer with the documents the client asked for (``return_documents``): a
    provider that returns none (Cohere v2) has each result's document filled in from the
    request; an answer in bytes is the upstream's own, passed on as it is."""
    documents = body.get("documents")
    if isinstance(result, bytes) or body.get("return_documents") is not True or not isinstance(documents, list):
        return result
    filled = []
    for item in result["results"]:
        index = item.get("index")
        if "document" not in item and isinstance(index, int) and 0 <= index < len(documents):
            document = documents[index]
            item = {**item, "document": document if isinstance(document, dict) else {"text": document}}
        filled.append(item)
    return {**result, "results": filled}


def _rerank_result(adapter: Adapter, payload: bytes, body: dict) -> tuple[dict | bytes, Usage]:
    result, usage = adapter.rerank_result(payload)
    return with_documents(result, body), usage


RERANK_OPERATION = Operation(RERANK, lambda a, url, secret, model, body: a.rerank_request(url, secret, model, body), _rerank_result)


_JSON = msgspec.json.Decoder()


def tool_arguments(arguments: object) -> dict[str, Any]:
    """A canonical tool call's JSON-string arguments as an object (providers that take
    objects: Anthropic's ``input``, Gemini's ``args``); anything unreadable becomes ``{}``."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str | bytes) or not arguments.strip():
        return {}
    try:
        value = _JSON.decode(arguments)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}
