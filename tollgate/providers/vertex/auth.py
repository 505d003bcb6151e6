"""Google OAuth2 access tokens for Vertex AI channels, through google-auth.

The channel's secret is the content of its service-account JSON key file (``api_key_file``
names the file): google-auth signs a JWT assertion with the key and trades it at the file's
``token_uri`` for an access token. A channel with no secret reference uses the credentials
of the machine it runs on, from the GCE metadata server (``GCE_METADATA_HOST`` moves it).
Minting blocks: ``tollgate.providers.tokens`` runs it in a worker thread and caches the token.
"""

from __future__ import annotations

import datetime
import functools
import json

import google.auth.exceptions
import google.auth.transport.requests
from google.auth import compute_engine
from google.oauth2 import service_account

from tollgate.providers.tokens import Minter, TokenError

__all__ = ["SCOPES", "TOKEN_TIMEOUT_S", "minter"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
TOKEN_TIMEOUT_S = 10.0


def _credentials(secret: str) -> service_account.Credentials | compute_engine.Credentials:
    if not secret.strip():
        return compute_engine.Credentials(scopes=list(SCOPES))
    try:
        info = json.loads(secret)
    except ValueError:
        raise TokenError("the channel's credential file is not JSON (expected a service-account key file)") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise TokenError("the channel's credential file is not a service-account key (its type must be 'service_account')")
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
    except (ValueError, KeyError) as exc:  # a missing field or an unreadable private key; the message names no secret
        raise TokenError(f"the channel's service-account key cannot be used ({type(exc).__name__})") from None


def minter(secret: str) -> Minter:
    """A blocking minter for one channel (raises ``TokenError`` now if the secret cannot be a credential)."""
    credentials = _credentials(secret)
    transport = functools.partial(google.auth.transport.requests.Request(), timeout=TOKEN_TIMEOUT_S)

    def mint() -> tuple[str, float]:
        try:
            credentials.refresh(transport)
        except google.auth.exceptions.GoogleAuthError as exc:  # its text may quote the token endpoint's answer: not repeated
            raise TokenError(f"the token endpoint refused or failed ({type(exc).__name__})") from None
        expiry = credentials.expiry  # naive UTC, as google-auth keeps it
        if not credentials.token or expiry is None:
            raise TokenError("the token endpoint answered no token")
        now = datetime.datetime.now(datetime.UTC)
        if expiry.tzinfo is None:
            now = now.replace(tzinfo=None)
        return str(credentials.token), (expiry - now).total_seconds()

    return mint
