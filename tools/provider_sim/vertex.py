"""Google Vertex AI: a fake OAuth2 token endpoint and the Vertex model endpoints.

- ``POST /_sim/oauth2/token``: the service-account JWT-bearer grant. The assertion's RS256
  signature is checked against the public key registered for its issuer (``$SIM_VERTEX_ACCOUNTS``:
  a JSON file, client_email -> public key PEM), its audience must be Google's token endpoint
  (or this one), it must be current and ask for the cloud-platform scope; the answer is an
  opaque access token living ``$SIM_VERTEX_TOKEN_TTL_S`` seconds (default 3600;
  ``POST /_sim/oauth2/lifetime {"seconds": n}`` changes it for later tokens).
- ``POST /vertex/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/
  {model}:{action}``: only a bearer token minted here and not expired is accepted (401
  otherwise, as Google answers). Publisher ``google`` speaks Gemini (generateContent,
  streamGenerateContent); ``anthropic`` speaks Messages through rawPredict/streamRawPredict,
  whose body must carry ``anthropic_version: "vertex-2023-10-16"`` and no ``model``.
- ``POST /_sim/oauth2/revoke`` forgets tokens (all, or one account's); ``GET /_sim/oauth2/stats`` counts mints,
  refusals and which minted token (by its number) each model request carried.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Stream

from tools.provider_sim import anthropic, gemini
from tools.provider_sim.common import Sim, decode_object

PREFIX = "/vertex/v1/projects/{project:str}/locations/{location:str}/publishers/{publisher:str}/models/{model_action:str}"
TOKEN_PATH = "/_sim/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # what google-auth signs as ``aud``, whatever the token_uri
ANTHROPIC_VERSION = "vertex-2023-10-16"
GOOGLE_ACTIONS = {"generateContent": False, "streamGenerateContent": True}  # action -> streamed
ANTHROPIC_ACTIONS = {"rawPredict": False, "streamRawPredict": True}


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _grant_error(description: str) -> Response:
    return Response({"error": "invalid_grant", "error_description": description}, status_code=400)


class TokenServer:
    """Minted tokens and the registered service accounts (per simulator app)."""

    def __init__(self, accounts: dict[str, rsa.RSAPublicKey], ttl_s: float) -> None:
        self.accounts = accounts
        self.ttl_s = ttl_s
        self.lifetimes: dict[str, float] = {}  # per service account, over ttl_s
        self.tokens: dict[str, tuple[int, float, str]] = {}  # token -> (its number, expiry time, service account)
        self.minted = 0
        self.refused = 0  # model requests without a valid token
        self.used: deque[dict[str, Any]] = deque(maxlen=1000)

    @classmethod
    def from_env(cls) -> TokenServer:
        accounts: dict[str, rsa.RSAPublicKey] = {}
        path = os.environ.get("SIM_VERTEX_ACCOUNTS", "")
        if path:
            for email, pem in json.loads(Path(path).read_text()).items():
                key = serialization.load_pem_public_key(pem.encode())
                if isinstance(key, rsa.RSAPublicKey):
                    accounts[email] = key
        return cls(accounts, float(os.environ.get("SIM_VERTEX_TOKEN_TTL_S", "3600")))

    def grant(self, assertion: str, audience: str) -> Response:
        try:
            head, payload, signature = assertion.split(".")
            header, claims = json.loads(_b64(head)), json.loads(_b64(payload))
        except ValueError:
            return _grant_error("the assertion is not a JWT")
        if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
            return _grant_error("the assertion must be an RS256 JWT")
        key = self.accounts.get(str(claims.get("iss")))
        if key is None:
            return _grant_error("unknown service account")
        try:
            key.verify(_b64(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return _grant_error("invalid JWT signature")
        now = time.time()
        if claims.get("aud") not in (audience, GOOGLE_TOKEN_AUDIENCE):
            return _grant_error("the assertion's audience is not this token endpoint")
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now or not isinstance(claims.get("iat"), int | float):
            return _grant_error("the assertion has expired")
        if claims["iat"] > now + 60 or claims["exp"] - claims["iat"] > 3600:
            return _grant_error("invalid JWT: iat/exp out of range")
        if SCOPE not in str(claims.get("scope", "")).split():
            return _grant_error("the assertion does not ask for the cloud-platform scope")
        self.minted += 1
        account = str(claims["iss"])
        lifetime = self.lifetimes.get(account, self.ttl_s)
        token = f"ya29.sim-{self.minted}-{secrets.token_hex(16)}"
        self.tokens[token] = (self.minted, time.monotonic() + lifetime, account)
        return Response({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})

    def admit(self, request: Request, publisher: str, model: str) -> bool:
        auth = request.headers.get("authorization", "")
        held = self.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if held is None or held[1] <= time.monotonic():
            self.refused += 1
            return False
        self.used.append({"publisher": publisher, "model": model, "token": held[0], "account": held[2]})
        return True


def routes(sim: Sim) -> list:
    server = TokenServer.from_env()

    @post(TOKEN_PATH, status_code=200)
    async def token(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if form.get("grant_type") != [JWT_GRANT] or len(form.get("assertion", [])) != 1:
            return Response({"error": "unsupported_grant_type", "error_description": f"expected {JWT_GRANT}"}, status_code=400)
        audience = f"{request.url.scheme}://{request.url.netloc}{TOKEN_PATH}"
        return server.grant(form["assertion"][0], audience)

    @post("/_sim/oauth2/lifetime", status_code=200)
    async def lifetime(request: Request) -> dict[str, Any]:
        """``{"seconds": n}`` for every later token, or with ``"account"`` for that service account's."""
        data = msgspec.json.decode(await request.body())
        if data.get("account"):
            server.lifetimes[str(data["account"])] = float(data["seconds"])
        else:
            server.ttl_s = float(data["seconds"])
        return {"seconds": float(data["seconds"])}

    @post("/_sim/oauth2/revoke", status_code=200)
    async def revoke(request: Request) -> dict[str, Any]:
        """Forget the tokens minted so far (``{"account": email}``: that service account's only)."""
        body = await request.body()
        account = str(msgspec.json.decode(body).get("account") or "") if body else ""
        gone = [t for t, held in server.tokens.items() if not account or held[2] == account]
        for token in gone:
            del server.tokens[token]
        return {"revoked": len(gone)}

    @get("/_sim/oauth2/stats")
    async def stats() -> dict[str, Any]:
        return {"minted": server.minted, "refused": server.refused, "used": list(server.used)}

    @post(PREFIX, status_code=200)
    async def predict(request: Request, publisher: FromPath[str], model_action: FromPath[str]) -> Response | Stream:
        model, _, action = model_action.rpartition(":")
        if not server.admit(request, publisher, model):
            return gemini.gemini_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token.")
        body = decode_object(await request.body())
        if publisher == "google" and action in GOOGLE_ACTIONS and model:
            if body is None:
                return gemini.gemini_error(400, "request body is not a JSON object")
            status = await sim.admit(model)
            if status is not None:
                return gemini.gemini_error(status, f"simulated HTTP {status}")
            return gemini.generate(sim, model, body, stream=GOOGLE_ACTIONS[action], sse=request.query_params.get("alt") == "sse")
        if publisher == "anthropic" and action in ANTHROPIC_ACTIONS and model:
            return await _anthropic(sim, model, body, streamed=ANTHROPIC_ACTIONS[action])
        return gemini.gemini_error(404, f"Publisher model {publisher}/{model_action} was not found or you lack access to it.")

    return [token, lifetime, revoke, stats, predict]


async def _anthropic(sim: Sim, model: str, body: dict[str, Any] | None, *, streamed: bool) -> Response | Stream:
    if body is None:
        return anthropic.anthropic_error(400, "request body is not a JSON object")
    if body.get("anthropic_version") != ANTHROPIC_VERSION:
        return anthropic.anthropic_error(400, f"anthropic_version: must be {ANTHROPIC_VERSION!r} on Vertex AI")
    if "model" in body:
        return anthropic.anthropic_error(400, "model: Extra inputs are not permitted (the model is in the URL)")
    if bool(body.get("stream")) != streamed:
        return anthropic.anthropic_error(400, "stream must be true for streamRawPredict and absent or false for rawPredict")
    status = await sim.admit(model)
    if status is not None:
        return anthropic.anthropic_error(status, f"simulated HTTP {status}")
    return anthropic.message(sim, model, {k: v for k, v in body.items() if k != "anthropic_version"})
