"""OpenID Connect sign-in for organisations: the authorization code flow with PKCE (S256),
for a public client (no client secret is stored anywhere).

``GET /console/api/identity/oidc/start?org_id=…``: the Identity service records a state
(hashed), a nonce and the PKCE challenge; the verifier stays in the browser in an HttpOnly
cookie scoped to the callback; the browser goes to the provider's authorization endpoint
(from its discovery document, ``<issuer>/.well-known/openid-configuration``).

``GET /console/api/identity/oidc/callback?code=…&state=…``: the state is used up and the
verifier checked against its challenge; the code is exchanged at the token endpoint; the ID
token's signature is checked against the provider's JWKS (RS256/ES256, by ``kid``), with its
issuer, audience (the client id), expiry and nonce; then the verified email signs in to the
organisation (joining it in the configured default role the first time) and the session
cookies are set. Any failure lands on the sign-in page with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

import httpx
import jwt
from litestar import Request, get
from litestar.datastructures import Cookie
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromQuery, Parameter
from litestar.response import Redirect

from tollgate.errors import TollgateError, Unauthorized
from tollgate.rpc import identity_pb2 as pb

if TYPE_CHECKING:
    from services.metering.console.identity import IdentityConsole

OIDC_PATH = "/console/api/identity/oidc"
VERIFIER_COOKIE = "tollgate_oidc"
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
DISCOVERY_TTL_S = 300.0


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class OidcClient:
    """Discovery documents and JWKS, fetched with httpx and kept ``DISCOVERY_TTL_S`` seconds."""

    def __init__(self, timeout_s: float = 10.0):
        self._http: httpx.AsyncClient | None = None
        self._timeout = timeout_s
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        return self._http

    async def close(self) -> None:
        client, self._http = self._http, None
        if client is not None:
            await client.aclose()

    async def _json(self, url: str, *, fresh: bool = False) -> dict[str, Any]:
        hit = self._cache.get(url)
        if hit and not fresh and hit[0] > time.monotonic():
            return hit[1]
        try:
            response = await self._client().get(url)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unauthorized(f"The identity provider did not answer ({type(exc).__name__}).", code="oidc_provider_error") from None
        if not isinstance(data, dict):
            raise Unauthorized("The identity provider's answer is not a JSON object.", code="oidc_provider_error")
        if len(self._cache) > 100:
            self._cache.clear()
        self._cache[url] = (time.monotonic() + DISCOVERY_TTL_S, data)
        return data

    async def discovery(self, issuer: str) -> dict[str, Any]:
        doc = await self._json(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        if doc.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
            raise Unauthorized("The identity provider's discovery document names another issuer.", code="oidc_provider_error")
        return doc

    async def signing_key(self, jwks_uri: str, token: str) -> Any:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unauthorized("The identity provider sent a malformed ID token.", code="oidc_invalid_token") from None
        for fresh in (False, True):  # a key rotated since the last fetch: fetch once more
            keys = (await self._json(jwks_uri, fresh=fresh)).get("keys", [])
            for jwk in keys if isinstance(keys, list) else []:
                if isinstance(jwk, dict) and (kid is None or jwk.get("kid") == kid):
                    try:
                        return jwt.PyJWK(jwk).key
                    except jwt.PyJWTError:
                        continue
        raise Unauthorized("The ID token is signed with a key the identity provider does not publish.", code="oidc_invalid_token")

    async def exchange(self, token_endpoint: str, form: dict[str, str]) -> str:
        try:
            response = await self._client().post(token_endpoint, data=form, headers={"accept": "application/json"})
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unauthorized(
                f"The identity provider's token endpoint failed ({type(exc).__name__}).", code="oidc_provider_error"
            ) from None
        if response.status_code != 200 or not isinstance(data, dict) or not isinstance(data.get("id_token"), str):
            error = data.get("error", "") if isinstance(data, dict) else ""
            raise Unauthorized(
                f"The identity provider refused the code ({str(error)[:80] or response.status_code}).", code="oidc_code_refused"
            )
        return data["id_token"]

    async def verify(self, id_token: str, discovery: dict[str, Any], client_id: str, nonce: str) -> dict[str, Any]:
        key = await self.signing_key(str(discovery.get("jwks_uri", "")), id_token)
        try:
            claims = jwt.decode(
                id_token,
                key,
                algorithms=ALGORITHMS,
                audience=client_id,
                issuer=discovery["issuer"],
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"The ID token is not valid: {exc}.", code="oidc_invalid_token") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise Unauthorized("The ID token's nonce does not match this sign-in.", code="oidc_invalid_token")
        return claims


def handlers(console: IdentityConsole) -> list[HTTPRouteHandler]:
    client: OidcClient = console._oidc
    callback_url = f"{console._console_url}{OIDC_PATH}/callback"

    def verifier_cookie(value: str, max_age: int) -> Cookie:
        return Cookie(
            key=VERIFIER_COOKIE, value=value, max_age=max_age, path=OIDC_PATH, secure=console._secure, httponly=True, samesite="lax"
        )

    def failed(err: TollgateError) -> Redirect:
        return Redirect(f"/console/login?{urlencode({'sso_error': err.message})}", cookies=[verifier_cookie("", 0)])

    @get(f"{OIDC_PATH}/start", include_in_schema=False)
    async def start(org_id: FromQuery[str] = "") -> Redirect:
        try:
            verifier = secrets.token_urlsafe(48)
            reply = await console.rpc(
                "StartOidc", pb.StartOidcRequest(org_id=org_id[:200], redirect_uri=callback_url, code_challenge=s256(verifier))
            )
            doc = await client.discovery(reply.issuer)
            query = {
                "response_type": "code",
                "client_id": reply.client_id,
                "redirect_uri": callback_url,
                "scope": "openid email profile",
                "state": reply.state,
                "nonce": reply.nonce,
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
            }
            endpoint = str(doc.get("authorization_endpoint", ""))
            if not endpoint.startswith(("https://", "http://127.0.0.1", "http://localhost")):
                raise Unauthorized("The identity provider has no usable authorization endpoint.", code="oidc_provider_error")
        except TollgateError as err:
            return failed(err)
        return Redirect(f"{endpoint}?{urlencode(query)}", cookies=[verifier_cookie(verifier, 600)])

    @get(f"{OIDC_PATH}/callback", include_in_schema=False)
    async def callback(
        request: Request,
        code: FromQuery[str] = "",
        oidc_state: Annotated[str, Parameter(query="state")] = "",
        error: FromQuery[str] = "",
    ) -> Redirect:
        try:
            if error or not code:
                raise Unauthorized(f"The identity provider did not sign you in ({error[:80] or 'no code'}).", code="oidc_denied")
            verifier = request.cookies.get(VERIFIER_COOKIE, "")
            pending = await console.rpc("FinishOidc", pb.FinishOidcRequest(state=oidc_state[:200], code_verifier=verifier[:200]))
            doc = await client.discovery(pending.issuer)
            form = {
                "grant_type": "authorization_code",
                "code": code[:2000],
                "redirect_uri": pending.redirect_uri,
                "client_id": pending.client_id,
                "code_verifier": verifier,
            }
            id_token = await client.exchange(str(doc.get("token_endpoint", "")), form)
            claims = await client.verify(id_token, doc, pending.client_id, pending.nonce)
            grant = await console.rpc(
                "OidcSignIn",
                pb.OidcSignInRequest(
                    org_id=pending.org_id,
                    issuer=str(claims["iss"]),
                    email=str(claims.get("email", "")),
                    email_verified=claims.get("email_verified") is True,
                    name=str(claims.get("name", ""))[:100],
                    subject=str(claims["sub"])[:200],
                ),
            )
        except TollgateError as err:
            return failed(err)
        return Redirect("/dashboard", cookies=[*console._cookies(grant), verifier_cookie("", 0)])

    return [start, callback]
