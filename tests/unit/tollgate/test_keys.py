"""API keys (tollgate.keys): format, validation, peppered hashing and the display prefix."""

from __future__ import annotations

import string

import pytest

from tollgate import keys

BASE62 = set(string.ascii_letters + string.digits)


def test_new_key_format() -> None:
    generated = {keys.new_key() for _ in range(50)}
    assert len(generated) == 50, "keys must be random"
    for key in generated:
        assert key.startswith("sk-")
        assert len(key) == 3 + 48
        assert set(key[3:]) <= BASE62
        assert keys.looks_like_key(key)


@pytest.mark.parametrize(
    "candidate, ok",
    [
        ("sk-" + "a" * 48, True),
        ("sk-" + "Z9" * 20, True),  # 40 characters is the minimum accepted
        ("sk-" + "a" * 39, False),
        ("sk-" + "a" * 47 + "-", False),
        ("sk-" + "a" * 47 + "_", False),
        ("sk-" + "a" * 47 + "é", False),
        ("sk-" + "a" * 47 + " ", False),
        ("pk-" + "a" * 48, False),
        ("SK-" + "a" * 48, False),
        ("a" * 51, False),
        ("sk-", False),
        ("", False),
    ],
)
def test_looks_like_key(candidate: str, ok: bool) -> None:
    assert keys.looks_like_key(candidate) is ok


def test_hash_is_deterministic_and_pepper_dependent() -> None:
    key = keys.new_key()
    h = keys.hash_key(key, "pepper")
    assert h == keys.hash_key(key, "pepper")
    assert len(h) == 64 and set(h) <= set("0123456789abcdef")
    assert h != keys.hash_key(key, "other pepper")
    assert h != keys.hash_key(key)
    assert keys.hash_key(key) == keys.hash_key(key, "")
    assert keys.hash_key(keys.new_key(), "pepper") != h
    assert key not in h


def test_hash_known_value() -> None:
    # HMAC-SHA256(key=b"", msg=b"sk-test"), pinned so a change of algorithm is noticed:
    # it would invalidate every stored key.
    import hashlib
    import hmac

    assert keys.hash_key("sk-test") == hmac.new(b"", b"sk-test", hashlib.sha256).hexdigest()
    assert keys.hash_key("sk-test", "p") == hmac.new(b"p", b"sk-test", hashlib.sha256).hexdigest()


def test_display_prefix() -> None:
    key = "sk-AbCdEfGhIjKlMnOp" + "x" * 32
    assert keys.display_prefix(key) == "sk-AbCdEfG"
    assert len(keys.display_prefix(keys.new_key())) == 10
