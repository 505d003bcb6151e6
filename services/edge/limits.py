"""What the edge accepts from a client before any of it is used: the body's encoding and
nesting, the model name's length, and every numeric field that bounds a request's cost.

Every numeric field an upstream may read as a limit on what it generates — OpenAI's
``max_tokens``, ``max_completion_tokens``, ``max_output_tokens`` (Responses-style) and
``n``; Anthropic's ``max_tokens``; Gemini's ``generationConfig.maxOutputTokens`` and
``candidateCount`` (either spelling) — is a JSON integer in range, or absent / ``null``.
Anything else (a string such as ``"200000"``, a float such as ``20000.0``, a boolean, a
number out of range) is refused with 400: the edge never guesses what the upstream will
make of it. Pre-authorization then holds the largest completion limit the request sets,
once per choice (``n`` / ``candidateCount``), so what it holds bounds what the upstream may
generate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from tollgate.errors import BadRequest

MAX_DEPTH = 64  # containers inside containers; tool schemas nest a few levels, never this many
MAX_MODEL_CHARS = 256  # the longest model id in any public catalog is well under 100
MAX_OUTPUT_TOKENS = 1_000_000  # beyond every model's output window
MAX_CHOICES = 128  # OpenAI's own limit for ``n``

_JSON = msgspec.json.Decoder()

# body field -> its upper bound. Top-level fields (OpenAI, Anthropic) ...
_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
# ... and Gemini's generationConfig fields, in both proto-JSON spellings.
_GEMINI_CONFIGS = ("generationConfig", "generation_config")
_GEMINI_TOKENS = ("maxOutputTokens", "max_output_tokens")
_GEMINI_CHOICES = ("candidateCount", "candidate_count")


@dataclass(frozen=True, slots=True)
class CostBounds:
    max_output: int = 0  # the largest completion limit the request sets (0 = none)
    choices: int = 1  # completions per request (n / candidateCount)


def bounded_int(value: Any, name: str, high: int, low: int = 1) -> int | None:
    """``value`` as an int in [low, high]; None when absent (``null``); else BadRequest."""
    if value is None:
        return None
    if type(value) is not int or not low <= value <= high:  # bool is an int subclass: refused too
        raise BadRequest(f"'{name}' must be an integer between {low} and {high}.", code=f"invalid_{name.rsplit('.', 1)[-1]}")
    return value


def cost_bounds(body: dict[str, Any]) -> CostBounds:
    """The request's completion limit and number of choices, every such field validated
    (in any of the three protocols: a field one door does not define is checked all the
    same, since an upstream of that protocol would read it)."""
    limits = [bounded_int(body.get(name), name, MAX_OUTPUT_TOKENS) for name in _TOKEN_FIELDS]
    choices = [bounded_int(body.get("n"), "n", MAX_CHOICES)]
    for config_name in _GEMINI_CONFIGS:
        config = body.get(config_name)
        if config is None:
            continue
        if not isinstance(config, dict):
            raise BadRequest(f"'{config_name}' must be an object.", code="invalid_generation_config")
        limits += [bounded_int(config.get(n), f"{config_name}.{n}", MAX_OUTPUT_TOKENS) for n in _GEMINI_TOKENS]
        choices += [bounded_int(config.get(n), f"{config_name}.{n}", MAX_CHOICES) for n in _GEMINI_CHOICES]
    return CostBounds(max_output=max((v for v in limits if v), default=0), choices=max((v for v in choices if v), default=1))


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """BadRequest when arrays and objects nest deeper than ``limit`` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    raise BadRequest(f"The request body nests arrays and objects deeper than {limit} levels.", code="too_deeply_nested")
                stack.append((child, depth + 1))


def decode_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object: valid UTF-8, well-formed, nested at most MAX_DEPTH deep."""
    try:
        body = _JSON.decode(raw)
    except msgspec.DecodeError:
        raise BadRequest("The request body is not valid JSON.", code="invalid_json") from None
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8.", code="invalid_encoding") from None
    except RecursionError:
        raise BadRequest(f"The request body nests arrays and objects deeper than {MAX_DEPTH} levels.", code="too_deeply_nested") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    # Every opening bracket is at most one level: a body with few of them needs no walk.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        check_depth(body)
    return body


def check_model_name(model: str) -> str:
    if len(model) > MAX_MODEL_CHARS:
        raise BadRequest(f"The model name is longer than {MAX_MODEL_CHARS} characters.", code="invalid_model")
    return model


def stream_options(body: dict[str, Any]) -> bool:
    """OpenAI's ``stream_options``: an object (or absent); whether it asks for usage."""
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise BadRequest("'stream_options' must be an object.", code="invalid_stream_options")
    return bool(options.get("include_usage"))
