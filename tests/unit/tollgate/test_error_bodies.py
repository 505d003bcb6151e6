"""One error renderer per protocol (tollgate.error_bodies), with the Anthropic error-type and
Google status tables."""

from __future__ import annotations

from tollgate import error_bodies
from tollgate.errors import BadRequest, ModelUnavailable, RateLimited


def test_error_bodies_per_protocol() -> None:
    err = RateLimited("slow down")
    assert error_bodies.openai(err) == {"error": {"message": "slow down", "type": "rate_limit_error", "code": err.code, "param": None}}
    assert error_bodies.openai(err) == err.to_openai()
    assert error_bodies.openai(err, param=False) == {"error": {"message": "slow down", "type": "rate_limit_error", "code": err.code}}
    assert error_bodies.anthropic(err) == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    assert error_bodies.gemini(err) == {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    assert error_bodies.anthropic(ModelUnavailable("x"))["error"]["type"] == "overloaded_error"
    assert error_bodies.anthropic_error_type(402) == "billing_error" and error_bodies.anthropic_error_type(502) == "api_error"
    assert error_bodies.google_status(418) == "INVALID_ARGUMENT" and error_bodies.google_status(502) == "INTERNAL"
    assert error_bodies.gemini(BadRequest("no"))["error"]["status"] == "INVALID_ARGUMENT"
