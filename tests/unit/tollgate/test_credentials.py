"""The one credential parser (tollgate.credentials): Bearer tokens for HTTP and gRPC metadata."""

from __future__ import annotations

import pytest

from tollgate.credentials import bearer_token, presented


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer sk-1", "sk-1"),
        ("bearer sk-1", "sk-1"),
        ("BEARER  sk-1 ", "sk-1"),
        ("Bearer", ""),
        ("Bearer ", ""),
        ("Basic c2stMQ==", ""),
        ("Bearersk-1", ""),
        ("Bearer\tsk-1", ""),
        ("", ""),
        ("sk-1", ""),
    ],
)
def test_one_bearer_parser_for_http_and_grpc(value: str, token: str) -> None:
    assert bearer_token(value) == token
    assert presented((("x-other", "Bearer no"), ("authorization", value))) == token
