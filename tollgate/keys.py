"""API key format and hashing. Keys are shown once and stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

KEY_PREFIX = "sk-"
KEY_BODY_LEN = 48
ALPHABET = string.ascii_letters + string.digits  # base62
DISPLAY_LEN = 10  # "sk-" + 7 characters, enough to tell keys apart in a list


def new_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(KEY_BODY_LEN))


def looks_like_key(key: str) -> bool:
    return key.startswith(KEY_PREFIX) and len(key) >= len(KEY_PREFIX) + 40 and all(c in ALPHABET for c in key[len(KEY_PREFIX) :])


def hash_key(key: str, pepper: str = "") -> str:
    """Keys carry ≥238 bits of entropy, so a keyed SHA-256 is the right cost: no salt or
    slow KDF is needed to stop guessing, and the edge can hash on its hot path."""
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_LEN]
