"""Password hashing: argon2id (argon2-cffi) with its default parameters (RFC 9106's
low-memory profile), rehashed on sign-in when the parameters change. Passwords are never
stored or logged; only the encoded hash is."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tollgate.errors import BadRequest

MIN_LENGTH = 10
MAX_LENGTH = 256


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None):
        self._hasher = hasher or PasswordHasher()
        # a real hash to verify against when there is no user: sign-in takes as long either way
        self._dummy = self._hasher.hash("no user has this password")

    def check_policy(self, password: str) -> None:
        if len(password) < MIN_LENGTH:
            raise BadRequest(f"The password must be at least {MIN_LENGTH} characters long.", code="weak_password")
        if len(password) > MAX_LENGTH:
            raise BadRequest(f"The password must be at most {MAX_LENGTH} characters long.", code="invalid_password")
        if len(set(password)) < 4:
            raise BadRequest("The password is too simple (use more different characters).", code="weak_password")

    def hash(self, password: str) -> str:
        self.check_policy(password)
        return self._hasher.hash(password)

    def verify(self, encoded: str, password: str) -> bool:
        """True when ``password`` matches ``encoded`` ("" = no password: always False, in constant-ish time)."""
        try:
            return self._hasher.verify(encoded or self._dummy, password) and bool(encoded)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        return bool(encoded) and self._hasher.check_needs_rehash(encoded)
