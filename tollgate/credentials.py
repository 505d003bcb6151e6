"""The admin credential, and how gRPC callers present credentials.

Every accounts RPC carries ``authorization: Bearer <credential>`` metadata: the admin
token (``TOLLGATE_ADMIN_TOKEN``, held by operators, the CLI and the other services) or a
user's API key (which opens only its own account's keys, balance and ledger).

When ``TOLLGATE_ADMIN_TOKEN`` is not set, every process of one installation reads the
token from ``<data_dir>/admin-token``, created once with a random value (mode 0600), so
``make run`` and the CLI agree without configuration. Production sets the variable from
a secret store.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import grpc

from tollgate import tracing
from tollgate.files import private_dir

ADMIN_TOKEN_PREFIX = "tga_"
TOKEN_FILE = "admin-token"


def new_admin_token() -> str:
    return ADMIN_TOKEN_PREFIX + secrets.token_urlsafe(32)


def load_or_create_token(path: Path) -> str:
    """The token stored at ``path``; the first caller creates it atomically (link, not rename,
    so two processes starting together never overwrite each other's token)."""
    with contextlib.suppress(FileNotFoundError):
        token = path.read_text().strip()
        if token:
            return token
    private_dir(path.parent, tighten=False)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(new_admin_token() + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


def bearer(credential: str) -> tuple[tuple[str, str], ...]:
    """gRPC call metadata presenting ``credential``."""
    return (("authorization", f"Bearer {credential}"),)


def bearer_token(authorization: str) -> str:
    """The credential in an ``Authorization`` value of the Bearer scheme; "" for any other
    scheme or none. The one parser of it (HTTP headers at the edge and metering, gRPC
    metadata at accounts): the scheme's name is case-insensitive (RFC 9110), one space
    separates it from the credential, whose surrounding whitespace is dropped."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def presented(metadata) -> str:
    """The bearer credential in a call's invocation metadata ("" when absent)."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            return bearer_token(value)
    return ""


class _Metadata(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, metadata: tuple[tuple[str, str], ...]):
        self._metadata = metadata

    def intercept_unary_unary(self, continuation, details, request):
        extra = tuple(details.metadata or ()) + self._metadata
        return continuation(details._replace(metadata=extra), request)


class _AioMetadata(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, metadata: tuple[tuple[str, str], ...]):
        self._metadata = metadata

    async def intercept_unary_unary(self, continuation, details, request):
        extra = tuple(details.metadata or ()) + self._metadata
        return await continuation(details._replace(metadata=extra), request)


def channel(addr: str, credential: str) -> grpc.Channel:
    """A blocking channel whose every call presents ``credential``."""
    return grpc.intercept_channel(grpc.insecure_channel(addr), _Metadata(bearer(credential)))


def aio_channel(addr: str, credential: str) -> grpc.aio.Channel:
    """An asyncio channel whose every call presents ``credential`` (and is traced when tracing is on)."""
    return grpc.aio.insecure_channel(addr, interceptors=[*tracing.client_interceptors(addr), _AioMetadata(bearer(credential))])
