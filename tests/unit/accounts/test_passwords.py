"""Password hashing (argon2id via argon2-cffi) and the password policy."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from services.accounts.passwords import Passwords
from tollgate.errors import BadRequest

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def test_hash_is_argon2id_salted_and_verifies() -> None:
    p = Passwords(FAST)
    a, b = p.hash("correct horse battery"), p.hash("correct horse battery")
    assert a.startswith("$argon2id$") and a != b  # a salt of its own
    assert "correct horse" not in a
    assert p.verify(a, "correct horse battery") and not p.verify(a, "correct horse batterY")
    assert not p.verify("", "anything at all") and not p.verify("not a hash", "anything at all")


def test_default_parameters_and_rehash() -> None:
    strong = Passwords()
    encoded = Passwords(FAST).hash("correct horse battery")
    assert strong.needs_rehash(encoded) and not strong.needs_rehash(strong.hash("correct horse battery"))
    assert strong.verify(encoded, "correct horse battery")  # an old hash still verifies


@pytest.mark.parametrize(
    ("password", "code"), [("short", "weak_password"), ("aaaaaaaaaaaaa", "weak_password"), ("x" * 300, "invalid_password")]
)
def test_policy(password: str, code: str) -> None:
    with pytest.raises(BadRequest) as refused:
        Passwords(FAST).hash(password)
    assert refused.value.code == code
