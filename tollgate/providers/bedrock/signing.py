"""SigV4 for Bedrock: credentials from the channel's secret or the standard AWS chain, the
signing region from the channel, and botocore's signer over the exact bytes sent.

The channel's secret (``api_key_env`` / ``api_key_file``) is
``ACCESS_KEY_ID:SECRET_ACCESS_KEY`` or ``ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN``; a
bedrock channel that names no secret uses the standard AWS credential chain (environment,
shared files, SSO, container or instance metadata) through botocore, refreshed by it.
The region travels with the channel's URL: the router's catalog check
(``channel_base_url``) appends it as ``#region=<name>`` (a fragment is never sent), and
``endpoint`` splits it off again. Nothing here logs: botocore's own debug log of the
canonical request (which names a session token) is held at INFO.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import BotoCoreError
from botocore.session import Session

from tollgate.providers.base import ChannelMisconfigured

SERVICE = "bedrock"
REGION_MARK = "#region="
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_AWS_HOST = re.compile(r"(^|\.)bedrock-runtime(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")

logging.getLogger("botocore.auth").setLevel(logging.INFO)  # its DEBUG lines print the canonical request


class CredentialError(ChannelMisconfigured):
    """The channel has no usable AWS credential or region (the message never quotes a secret)."""


def default_endpoint(region: str) -> str:
    return f"https://bedrock-runtime.{region}.amazonaws.com"


def channel_base_url(base_url: str, region: str) -> str:
    """The router's check of a bedrock channel: a valid AWS region (required: SigV4 signs for
    it), and a ``base_url`` that is the region's Bedrock runtime endpoint
    (``default_endpoint``) or another endpoint (a VPC endpoint, a proxy, the simulator) whose
    AWS host names no other region. Returns the URL the edge gets, region attached."""
    if not _REGION.match(region or ""):
        raise ValueError(f"a bedrock channel needs `region`, an AWS region such as us-east-1 (got {region!r})")
    url = base_url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment or parts.query:
        raise ValueError(f"base_url must be an http(s) URL without query or fragment (got {base_url!r})")
    named = _AWS_HOST.search(parts.hostname)
    if named is not None and named.group("region") != region:
        raise ValueError(f"base_url is the endpoint of region {named.group('region')}, but `region` is {region}")
    return url + REGION_MARK + region


def endpoint(base_url: str) -> tuple[str, str]:
    """(the URL to call, the signing region) of a channel URL made by ``channel_base_url``;
    an AWS endpoint without the mark names its region in its host."""
    url, mark, region = base_url.partition(REGION_MARK)
    if not mark:
        named = _AWS_HOST.search(urlsplit(url).hostname or "")
        region = named.group("region") if named is not None else ""
    if not region:
        raise CredentialError("the bedrock channel has no region")
    return url.rstrip("/"), region


def model_url(base_url: str, model_id: str, *, stream: bool) -> tuple[str, str]:
    """(the Converse or ConverseStream URL, the signing region); the model id (which may hold
    ``:`` or be an ARN with ``/``) is one percent-encoded path segment."""
    url, region = endpoint(base_url)
    action = "converse-stream" if stream else "converse"
    return f"{url}/model/{quote(model_id, safe='')}/{action}", region


def parse_secret(secret: str) -> ReadOnlyCredentials:
    parts = secret.strip().split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise CredentialError("a bedrock channel's secret is ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]")
    return ReadOnlyCredentials(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


@dataclass
class Chain:
    """The standard AWS credential chain, resolved on first use and refreshed by botocore."""

    _credentials: Credentials | None = field(default=None, repr=False)

    def get(self) -> ReadOnlyCredentials:
        try:
            if self._credentials is None:
                self._credentials = Session().get_credentials()
            if self._credentials is None:
                raise CredentialError("the bedrock channel names no secret and the AWS credential chain found none")
            return self._credentials.get_frozen_credentials()
        except BotoCoreError as exc:  # a provider of the chain failed (its message may name a profile or a file: not repeated)
            raise CredentialError(f"the AWS credential chain failed ({type(exc).__name__})") from None


def signed_headers(url: str, region: str, body: bytes, credentials: ReadOnlyCredentials, accept: str) -> dict[str, str]:
    """The headers of a SigV4-signed POST of ``body`` to ``url`` (Authorization, X-Amz-Date,
    X-Amz-Security-Token with a session token, and the signed content type); ``Host`` is the
    URL's, which the HTTP client sends."""
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json", "Accept": accept})
    SigV4Auth(Credentials(credentials.access_key, credentials.secret_key, credentials.token), SERVICE, region).add_auth(request)
    return {name: value for name, value in request.headers.items() if name.lower() != "host"}
