"""tollgate.identity: token formats and hashes, CSRF tokens, email normalization, the role table."""

from __future__ import annotations

from tollgate import identity


def test_tokens_are_random_prefixed_and_hashed() -> None:
    a, b = identity.new_token(identity.SESSION_PREFIX), identity.new_token(identity.SESSION_PREFIX)
    assert a != b and a.startswith("tgs_") and identity.looks_like(a, identity.SESSION_PREFIX)
    assert not identity.looks_like(a, identity.INVITE_PREFIX) and not identity.looks_like("tgs_short", identity.SESSION_PREFIX)
    assert not identity.looks_like("tgs_" + "x" * 30 + "'; DROP", identity.SESSION_PREFIX)
    assert identity.hash_token(a) == identity.hash_token(a) != identity.hash_token(b) and a not in identity.hash_token(a)


def test_csrf_token_is_bound_to_its_session() -> None:
    a, b = identity.new_token(identity.SESSION_PREFIX), identity.new_token(identity.SESSION_PREFIX)
    assert identity.csrf_ok(a, identity.csrf_token(a)) and not identity.csrf_ok(b, identity.csrf_token(a))
    assert not identity.csrf_ok(a, "") and identity.csrf_token(a) not in a


def test_emails() -> None:
    assert identity.normalize_email("  Ada@Example.COM ") == "ada@example.com"
    assert identity.normalize_email("\uff41\uff44\uff41@example.com") == "ada@example.com"  # NFKC: full-width letters
    assert identity.valid_email("a.b+c@example.co.uk")
    assert not any(identity.valid_email(e) for e in ("", "ada", "ada@localhost", "a b@example.com", "a@b@example.com", "@example.com"))
    assert (
        identity.email_hash("Ada@example.com", "p")
        == identity.email_hash("ada@example.com ", "p")
        != identity.email_hash("ada@example.com", "q")
    )


def test_role_table() -> None:
    assert identity.allowed("owner", "org.configure") and not identity.allowed("admin", "org.configure")
    assert identity.allowed("developer", "keys.manage") and not identity.allowed("viewer", "keys.manage")
    assert identity.allowed("billing", "billing.manage") and not identity.allowed("developer", "billing.manage")
    assert not identity.allowed("owner", "no.such.action") and not identity.allowed("root", "org.view")
    assert all(action in identity.PERMISSIONS for action in identity.ACCOUNTS_METHOD_ACTIONS.values())
    assert [identity.role_rank(r) for r in identity.ROLES] == [0, 1, 2, 3, 4] and identity.role_rank("x") == 5
