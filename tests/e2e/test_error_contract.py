"""Upstream failures of every kind reach every client protocol as that protocol's own
error, raised as the official SDK's matching exception."""

from __future__ import annotations

import anthropic
import openai
import pytest
from google.genai import errors as gerrors

from tests.conftest import FAILURE_MODES
from tests.e2e.clients import DRIVERS

KINDS = ("openai", "anthropic", "gemini", "azure", "bedrock")  # upstream kinds
CLIENTS = ("openai", "anthropic", "gemini")  # client protocols (official SDKs)

# mode -> (HTTP status the client sees, exception class per client protocol)
WHOLE = {
    "error-400": (400, {"openai": openai.BadRequestError, "anthropic": anthropic.BadRequestError, "gemini": gerrors.ClientError}),
    "error-401": (502, {"openai": openai.InternalServerError, "anthropic": anthropic.InternalServerError, "gemini": gerrors.ServerError}),
    "error-429": (429, {"openai": openai.RateLimitError, "anthropic": anthropic.RateLimitError, "gemini": gerrors.ClientError}),
    "error-500": (502, {"openai": openai.InternalServerError, "anthropic": anthropic.InternalServerError, "gemini": gerrors.ServerError}),
}
MID_STREAM = {"openai": openai.APIError, "anthropic": anthropic.APIError, "gemini": gerrors.APIError}


def status_of(exc: Exception) -> int:
    return getattr(exc, "status_code", None) or getattr(exc, "code", None)


@pytest.mark.parametrize("mode", sorted(WHOLE))
@pytest.mark.parametrize("upstream", KINDS)
@pytest.mark.parametrize("client", CLIENTS)
def test_upstream_error_before_the_answer(stack, new_account, client, upstream, mode):
    _, key = new_account()
    driver = DRIVERS[client](stack, key)
    driver.model = f"{client}-{upstream}-{mode}"
    status, classes = WHOLE[mode]
    with pytest.raises(classes[client]) as err:
        driver.ask(driver.first_turn(), stream=False, tools=False)
    assert status_of(err.value) == status
    if mode == "error-429" and client != "gemini":  # google-genai does not expose response headers on errors
        assert err.value.response.headers.get("retry-after") == "1"


@pytest.mark.parametrize("mode", [m for m in FAILURE_MODES if not m.startswith("error-")])
@pytest.mark.parametrize("upstream", KINDS)
@pytest.mark.parametrize("client", CLIENTS)
def test_upstream_failure_mid_stream(stack, new_account, client, upstream, mode):
    _, key = new_account()
    driver = DRIVERS[client](stack, key)
    driver.model = f"{client}-{upstream}-{mode}"
    with pytest.raises(MID_STREAM[client]):
        driver.ask(driver.first_turn(), stream=True, tools=False)
