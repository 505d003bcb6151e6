"""The OIDC relying party (services/metering/console/oidc.py) against the fake provider:
discovery, the code exchange with PKCE, and the ID token checks (signature by the published
key, issuer, audience, expiry, nonce), with key rotation."""

from __future__ import annotations

import secrets

import pytest

from services.metering.console.oidc import OidcClient, s256
from tests.fake_oidc import FakeOidcProvider
from tollgate.errors import Unauthorized


@pytest.fixture
def provider():
    p = FakeOidcProvider().start()
    yield p
    p.stop()


@pytest.fixture
async def client():
    c = OidcClient()
    yield c
    await c.close()


async def _code(provider: FakeOidcProvider, verifier: str, nonce: str, redirect: str = "http://console/cb") -> str:
    location = provider.authorize(
        {
            "client_id": provider.client_id,
            "response_type": "code",
            "code_challenge_method": "S256",
            "code_challenge": s256(verifier),
            "redirect_uri": redirect,
            "state": "st",
            "nonce": nonce,
        }
    )
    return location.split("code=", 1)[1].split("&", 1)[0]


async def test_code_exchange_and_verified_claims(provider, client) -> None:
    doc = await client.discovery(provider.issuer)
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    code = await _code(provider, verifier, nonce)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://console/cb", "client_id": provider.client_id}
    with pytest.raises(Unauthorized) as refused:  # without the PKCE verifier the provider refuses the code
        await client.exchange(doc["token_endpoint"], form | {"code_verifier": "wrong" * 10})
    assert refused.value.code == "oidc_code_refused"
    code = await _code(provider, verifier, nonce)
    id_token = await client.exchange(doc["token_endpoint"], form | {"code": code, "code_verifier": verifier})
    claims = await client.verify(id_token, doc, provider.client_id, nonce)
    assert (claims["email"], claims["email_verified"], claims["sub"]) == ("sso@example.com", True, "user-1")


@pytest.mark.parametrize("tamper", ["nonce", "audience", "signature", "expired", "issuer"])
async def test_bad_id_tokens_are_refused(provider, client, tamper: str) -> None:
    doc = await client.discovery(provider.issuer)
    provider.tamper = tamper
    with pytest.raises(Unauthorized) as refused:
        await client.verify(provider.id_token("the-nonce"), doc, provider.client_id, "the-nonce")
    assert refused.value.code == "oidc_invalid_token"


async def test_a_rotated_key_is_fetched_again(provider, client) -> None:
    doc = await client.discovery(provider.issuer)
    await client.verify(provider.id_token("n"), doc, provider.client_id, "n")
    provider.rotate()
    assert (await client.verify(provider.id_token("n"), doc, provider.client_id, "n"))["sub"] == "user-1"
    assert provider.requests.count("/jwks") == 2


async def test_discovery_must_name_its_issuer(provider, client) -> None:
    with pytest.raises(Unauthorized) as refused:
        await client.discovery(provider.issuer + "/other")
    assert refused.value.code == "oidc_provider_error"
