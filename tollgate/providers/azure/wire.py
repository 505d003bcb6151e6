"""Azure OpenAI's own wire shapes: the channel settings and the error bodies (requests and
answers are OpenAI's, read by the OpenAI-compatible adapter)."""

from __future__ import annotations

from typing import Literal

import msgspec


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A channel's azure fields in the catalog."""

    api_version: str = ""  # set: deployment URLs with ?api-version=; empty: the v1 API (base_url ends in /openai/v1)
    auth: Literal["api-key", "entra"] = "api-key"  # entra: the channel's secret is a Microsoft Entra ID access token


class InnerError(msgspec.Struct, frozen=True):
    code: str = ""  # ResponsibleAIPolicyViolation for a content-filter refusal


class Error(msgspec.Struct, frozen=True):
    message: str = ""
    code: str | int | None = None  # "content_filter", "429", "DeploymentNotFound", ...
    innererror: InnerError | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    """``{"error": {...}}``, or the gateway's ``{"statusCode": 401, "message": "..."}``."""

    error: Error | None = None
    message: str = ""
