"""Deterministic behaviour shared by every protocol the simulator speaks.

The protocol modules (``openai``, ``anthropic``, ``gemini``, ``embeddings``) only
translate requests into the neutral inputs below and :class:`Completion` back into
their own wire shapes, so the numbers are identical whichever protocol is used.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import math
import struct
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "tollgate",
    "meters",
    "every",
    "token",
    "exactly",
    "once",
]
DEFAULT_COMPLETION_WORDS = 12
TOOL_CALL_TOKENS = 7
EMBEDDING_DIMENSIONS = 8
TIMEOUT_SLEEP_S = 3600
MIDSTREAM_ERROR_AFTER = 3  # ``sim-midstream-error``: this many text pieces, then the connection drops
MALFORMED_AFTER = 2  # ``sim-malformed-stream``: this many text pieces, then ``data: {not json``
MALFORMED_DATA = b"{not json"
STALL_AFTER = 3  # ``sim-stall``: this many text pieces, then nothing more while the connection stays open
FAULT_MODELS = ("sim-midstream-error", "sim-malformed-stream", "sim-stall")


def words(text: Any) -> int:
    """Whitespace-separated words in ``text`` (0 for anything that is not a string)."""
    return len(text.split()) if isinstance(text, str) else 0


def answer_words(n: int) -> list[str]:
    return [WORDS[i % len(WORDS)] for i in range(n)]


def text_pieces(answer: list[str]) -> list[str]:
    """How a text answer is streamed: one piece per word, later words with a leading space."""
    return [w if i == 0 else " " + w for i, w in enumerate(answer)]


def split_pieces(s: str) -> list[str]:
    """Split a (JSON) string into at least two pieces (three for 3+ characters)."""
    size = max(1, math.ceil(len(s) / 3))
    return [s[i : i + size] for i in range(0, len(s), size)] or [""]


def string_values(value: Any) -> int:
    """Words in every string value nested in ``value`` (dict keys are not counted)."""
    if isinstance(value, str):
        return words(value)
    if isinstance(value, dict):
        return sum(string_values(v) for v in value.values())
    if isinstance(value, list):
        return sum(string_values(v) for v in value)
    return 0


def schema_args(schema: Any) -> dict[str, Any]:
    """Tool-call arguments built from a JSON schema's ``properties``."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    args: dict[str, Any] = {}
    for name, prop in (properties if isinstance(properties, dict) else {}).items():  # a malformed schema: no arguments
        kind = prop.get("type") if isinstance(prop, dict) else None
        kind = kind.lower() if isinstance(kind, str) else None  # Gemini schemas say "STRING"
        args[name] = {"string": "sim", "integer": 1, "number": 1.5, "boolean": True}.get(kind)
    return args


def embedding(text: str) -> list[float]:
    """8 floats in [-1, 1) from SHA-256 of the text; multiples of 2**-15, so exact in float32 too."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(v - 32768) / 32768 for v in struct.unpack(">8H", digest[: 2 * EMBEDDING_DIMENSIONS])]


def embedding_base64(vector: list[float]) -> str:
    """Little-endian float32s, base64-encoded (OpenAI ``encoding_format: base64``)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


@dataclass
class ToolCall:
    name: str
    args: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return msgspec.json.encode(self.args).decode()


@dataclass
class Completion:
    prompt_tokens: int
    completion_tokens: int  # reasoning included, as every provider counts it
    words: list[str] = field(default_factory=list)  # the text answer (empty for a tool call)
    tool_call: ToolCall | None = None
    reasoning: list[str] = field(default_factory=list)  # the reasoning text's words (reasoning mode)
    cache_write_tokens: int = 0  # of prompt_tokens, written to the prompt cache (Anthropic's cache_control)

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def reasoning_text(self) -> str:
        return " ".join(self.reasoning)

    @property
    def reasoning_tokens(self) -> int:
        return len(self.reasoning)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def reasoning_words(setting: str) -> list[str]:
    """Reasoning mode's text: five words naming the reasoning setting the request carried
    (an effort, a budget, "dynamic"), so a test can see which setting reached the upstream."""
    return ["reasoning", "with", "setting", setting, "first"]


def complete(
    model: str,
    prompt_tokens: int,
    max_tokens: Any,
    first_tool: tuple[str, Any] | None,
    has_tool_result: bool,
    reasoning: str | None = None,
) -> Completion:
    """The answer: one call to the first declared tool if no tool result is in the
    conversation yet, else ``max_tokens`` words (default 12). Fault models always answer text.
    Reasoning mode (``reasoning``: the request's reasoning setting) puts ``reasoning_words``
    first, counted in the completion tokens, and the answer text is then at most 12 words,
    within what ``max_tokens`` leaves (it bounds reasoning and answer together)."""
    thought = reasoning_words(reasoning) if reasoning is not None else []
    if first_tool is not None and not has_tool_result and model not in FAULT_MODELS:
        name, schema = first_tool
        return Completion(prompt_tokens, TOOL_CALL_TOKENS + len(thought), tool_call=ToolCall(name, schema_args(schema)), reasoning=thought)
    try:
        n = int(max_tokens or DEFAULT_COMPLETION_WORDS)
    except (TypeError, ValueError):
        n = DEFAULT_COMPLETION_WORDS
    if thought:
        n = min(n - len(thought), DEFAULT_COMPLETION_WORDS)
    answer = answer_words(max(n, 0))
    return Completion(prompt_tokens, len(answer) + len(thought), words=answer, reasoning=thought)


STRUCTURED_TOKENS = 9  # the completion size of a structured (JSON schema) answer


def structured(completion: Completion, schema: Any) -> Completion:
    """A text answer to a request that asks for JSON matching ``schema``: the JSON of
    ``schema_args(schema)`` (compact, one piece), ``STRUCTURED_TOKENS`` tokens. A tool call,
    or a request without a schema, is left as it is."""
    if completion.tool_call is not None or not isinstance(schema, dict):
        return completion
    answer = msgspec.json.encode(schema_args(schema)).decode()
    return dataclasses.replace(completion, completion_tokens=STRUCTURED_TOKENS + completion.reasoning_tokens, words=[answer])


class _Abort:
    """Stream frame marker: drop the connection here."""


class _Stall:
    """Stream frame marker: send nothing more (for ``TIMEOUT_SLEEP_S``), the connection open."""


ABORT = _Abort()
STALL = _Stall()


def stream_fault(model: str) -> tuple[int, _Abort | _Stall | None] | None:
    """(text pieces to send first, then ABORT, STALL or None = the protocol's malformed frame)
    for the streaming fault models."""
    if model == "sim-midstream-error":
        return MIDSTREAM_ERROR_AFTER, ABORT
    if model == "sim-malformed-stream":
        return MALFORMED_AFTER, None
    if model == "sim-stall":
        return STALL_AFTER, STALL
    return None


def apply_fault(model: str, pieces: list[bytes], malformed: bytes) -> tuple[list[bytes | _Abort | _Stall], bool]:
    """Apply the model's stream fault to already-framed text pieces: piece N+1 is replaced by
    an abort (``sim-midstream-error``), by ``malformed`` (``sim-malformed-stream``) or by a
    stall (``sim-stall``), and the stream ends there. Returns (frames, True if the fault
    fired). Answers of N words or fewer are streamed intact."""
    fault = stream_fault(model)
    if fault is None or len(pieces) <= fault[0]:
        return list(pieces), False
    n, marker = fault
    return [*pieces[:n], marker or malformed], True


async def emit(frames: Iterable[bytes | _Abort | _Stall], pace_s: float = 0.0) -> AsyncIterator[bytes]:
    """The streaming body: yields frames (``pace_s`` apart); raising on ABORT makes the server
    drop the connection; STALL keeps it open and silent."""
    for i, frame in enumerate(frames):
        if pace_s and i:
            await asyncio.sleep(pace_s)
        if isinstance(frame, _Abort):
            raise ConnectionAbortedError("simulated mid-stream failure")
        if isinstance(frame, _Stall):
            await asyncio.sleep(TIMEOUT_SLEEP_S)
            return
        yield frame


def error_status(model: str) -> int | None:
    """``sim-error-NNN`` -> NNN (400..599), else None."""
    if not model.startswith("sim-error-"):
        return None
    tail = model.removeprefix("sim-error-")
    return int(tail) if tail.isdigit() and 400 <= int(tail) <= 599 else None


def flaky_status(model: str, count: int) -> int | None:
    """``sim-flaky-NN``: exactly NN of every 100 requests answer 500, spread evenly."""
    if not model.startswith("sim-flaky-"):
        return None
    tail = model.removeprefix("sim-flaky-")
    if not tail.isdigit():
        return None
    pct = min(int(tail), 100)
    return 500 if (count * pct) // 100 != ((count - 1) * pct) // 100 else None


def error_headers(status: int) -> dict[str, str] | None:
    return {"retry-after": "1"} if status == 429 else None


def decode_object(body: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object, or None if it is not one."""
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    return obj if isinstance(obj, dict) else None


class Sim:
    """Per-app state: request counters and the latency knobs."""

    def __init__(self, latency_s: float, slow_s: float, drip_s: float = 0.2) -> None:
        self.latency_s = latency_s
        self.slow_s = slow_s
        self.drip_s = drip_s
        self.stats: Counter[str] = Counter()
        self.forced: dict[str, int] = {}  # model -> HTTP status it answers until reset (POST /_sim/force)
        self.headers_seen: dict[str, str] = {}  # protocol headers of the last request (e.g. anthropic-beta)

    async def admit(self, model: str) -> int | None:
        """Count the request, apply the model's delay, and return an error status to send (if any)."""
        self.stats[model] += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        status = self.forced.get(model) or error_status(model) or flaky_status(model, self.stats[model])
        if status is not None:
            return status
        if model == "sim-timeout":
            await asyncio.sleep(TIMEOUT_SLEEP_S)
        if model == "sim-slow":
            await asyncio.sleep(self.slow_s)
        return None

    def pace(self, model: str) -> float:
        """Seconds between a stream's frames: ``sim-drip`` streams slowly, every other model at once."""
        return self.drip_s if model == "sim-drip" else 0.0

    def next_id(self) -> int:
        return self.stats.total()
