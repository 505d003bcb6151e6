"""The dashboard's account endpoints: JSON over HTTP in front of the accounts gRPC service.

Every call forwards the caller's own credential (the HTTP ``Authorization: Bearer`` value)
as gRPC metadata, so the accounts service scopes it itself: a user key reaches only its own
account, the admin credential any account (``account_id`` query parameter). Metering never
acts on an account with its own admin credential here. Money is integer micro-USD and
times are integer ms, as in ``tollgate --json``; errors are ``{"error": {"message",
"type", "code"}}`` with the accounts service's status mapped by ``tollgate.errors``.

    GET  /v1/account                      GetAccount
    GET  /v1/accounts?limit=&after=       ListAccounts (admin only)
    GET  /v1/ledger?limit=&before=        ListLedger (newest first, with the balance)
    GET  /v1/keys                         ListKeys
    POST /v1/keys {"name", ...}           CreateKey: the secret is in this reply only
    POST /v1/keys/{key_id}/revoke         RevokeKey
    POST /v1/keys/{key_id}/rotate {"grace_s"}   RotateKey: the new secret, once

Wiring: ``api = AccountsApi(settings.accounts_addr)``, then ``*api.handlers()`` among the
app's route handlers and ``api.close`` among its ``on_shutdown`` hooks.
"""

from __future__ import annotations

from typing import TypeVar

import grpc
import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery

from services.metering.auth import bearer
from services.metering.sessions import SessionResolver, cookie_credential
from tollgate import credentials, error_bodies, identity
from tollgate.errors import BadRequest, TollgateError, Unauthorized, from_grpc
from tollgate.protojson import to_data  # the same JSON as `tollgate --json`
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc

MAX_BODY_BYTES = 16 * 1024


class CreateKeyBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new key's settings; a user key's new key is never broader than itself (the accounts
    service refuses looser limits and inherits unset ones)."""

    name: str = ""
    require_zdr: bool = False
    allowed_models: list[str] = []
    expires_at_ms: int = 0
    rpm_limit: int = 0
    tpm_limit: int = 0
    spend_cap_day_micros: int = 0
    spend_cap_month_micros: int = 0
    member_id: str = ""  # the member / team the key belongs to (their budgets bound it); a user key's new key inherits its own
    team_id: str = ""


class RotateKeyBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    grace_s: int = 0  # the old key works this much longer (0 = the service default, 24 h; -1 = stops at once)


def error_response(err: TollgateError) -> Response:
    return Response(error_bodies.openai(err, param=False), status_code=err.status, headers=err.headers or None)


def presented_credential(request: Request) -> str:
    """The caller's credential, as metering's own API reads it; never logged, only passed on."""
    credential = bearer(request) or cookie_credential(request)  # a console session's token, CSRF-checked
    if not credential:
        raise Unauthorized("Sign in: send 'Authorization: Bearer <API key or admin token>'.", code="missing_credential")
    return credential


S = TypeVar("S", bound=msgspec.Struct)


async def decode_body(request: Request, kind: type[S], limit: int = MAX_BODY_BYTES) -> S:
    """The JSON body as ``kind``: BadRequest when over ``limit`` bytes or not that shape."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise BadRequest("request body too large")
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"invalid JSON body: {exc}") from None
    except (UnicodeDecodeError, RecursionError):
        raise BadRequest("invalid JSON body: not UTF-8, or nested too deeply") from None


def _key_id(key_id: str) -> str:
    if not key_id or len(key_id) > 200:
        raise BadRequest("key_id is required")
    return key_id


class AccountsApi:
    """Owns one gRPC channel to the accounts service, opened on first use (inside the
    server's event loop) and closed by ``close``. Holds no credential of its own."""

    def __init__(self, accounts_addr: str, timeout_s: float = 10.0, sessions: SessionResolver | None = None):
        self._sessions = sessions  # console sessions' web limit
        self._addr = accounts_addr
        self._timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> pb_grpc.AccountsStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._addr)
        return pb_grpc.AccountsStub(self._channel)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    async def call(self, request: Request, method: str, build, status_code: int = 200) -> Response:
        """``build()`` makes the request message (raising BadRequest for bad input); the reply
        becomes JSON. gRPC and input errors become the error JSON, never an exception."""
        try:
            credential = presented_credential(request)
            if self._sessions is not None and credential.startswith(identity.SESSION_PREFIX):
                self._sessions.hit(credential)
            try:
                message = await build()
            except (ValueError, TypeError) as exc:  # e.g. a number out of the field's range
                raise BadRequest(f"invalid request: {exc}") from None
            rpc = getattr(self._stub(), method)
            reply = await rpc(message, metadata=credentials.bearer(credential), timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            return error_response(from_grpc(exc))
        except TollgateError as exc:
            return error_response(exc)
        return Response(to_data(reply), status_code=status_code)

    def handlers(self) -> list[HTTPRouteHandler]:
        call = self.call

        @get("/v1/account")
        async def get_account(request: Request, account_id: FromQuery[str] = "") -> Response:
            async def build():
                return pb.GetAccountRequest(account_id=account_id)

            return await call(request, "GetAccount", build)

        @get("/v1/accounts")
        async def list_accounts(request: Request, limit: FromQuery[int] = 100, after: FromQuery[str] = "") -> Response:
            async def build():
                if not 0 < limit <= 1000:
                    raise BadRequest("limit must be between 1 and 1000")
                return pb.ListAccountsRequest(limit=limit, after_id=after)

            return await call(request, "ListAccounts", build)

        @get("/v1/ledger")
        async def list_ledger(
            request: Request, account_id: FromQuery[str] = "", limit: FromQuery[int] = 50, before: FromQuery[int] = 0
        ) -> Response:
            async def build():
                if not 0 < limit <= 1000 or before < 0:
                    raise BadRequest("limit must be between 1 and 1000 and before a positive entry id")
                return pb.ListLedgerRequest(account_id=account_id, limit=limit, before_id=before)

            return await call(request, "ListLedger", build)

        @get("/v1/keys")
        async def list_keys(request: Request, account_id: FromQuery[str] = "") -> Response:
            async def build():
                return pb.ListKeysRequest(account_id=account_id)

            return await call(request, "ListKeys", build)

        @post("/v1/keys")
        async def create_key(request: Request, account_id: FromQuery[str] = "") -> Response:
            async def build():
                body = await decode_body(request, CreateKeyBody)
                name = body.name.strip()
                if len(name) > 100:
                    raise BadRequest("name must be at most 100 characters")
                fields = msgspec.structs.asdict(body) | {"name": name}
                return pb.CreateKeyRequest(account_id=account_id, **fields)

            return await call(request, "CreateKey", build, status_code=201)

        @post("/v1/keys/{key_id:str}/revoke")
        async def revoke_key(request: Request, key_id: FromPath[str]) -> Response:
            async def build():
                return pb.RevokeKeyRequest(key_id=_key_id(key_id))

            return await call(request, "RevokeKey", build)

        @post("/v1/keys/{key_id:str}/rotate")
        async def rotate_key(request: Request, key_id: FromPath[str]) -> Response:
            async def build():
                body = await decode_body(request, RotateKeyBody)
                if body.grace_s < -1:
                    raise BadRequest("grace_s must be -1 (at once), 0 (the default, 24 h) or a number of seconds")
                return pb.RotateKeyRequest(key_id=_key_id(key_id), grace_s=body.grace_s)

            return await call(request, "RotateKey", build)

        return [get_account, list_accounts, list_ledger, list_keys, create_key, revoke_key, rotate_key]
