"""The console's Billing endpoints (JSON under ``/console/api/billing``), in front of the
accounts process's ``Billing`` gRPC service, and the payment provider's webhook.

    POST /console/api/billing/redeem {"code"}                 RedeemCode for the viewer's account
    GET  /console/api/billing/codes?status=&limit=            ListCodes            (admin)
    POST /console/api/billing/codes {"count", "amount_micros", "expires_at_ms", "note"}
                                                              CreateCodes: the codes, once (admin)
    POST /console/api/billing/codes/{code_id}/revoke          RevokeCode           (admin)
    POST /console/api/billing/webhook/stripe                  the provider's signed events

Who may do what is decided in ``authorize`` (the viewer from ``services.metering.auth``);
metering then calls Billing with its own admin credential, naming the account. The webhook
has no viewer: its signature (``webhook.verify``) is the credential, and the event names
the account. Codes and secrets are never logged.
"""

from __future__ import annotations

import time

import grpc
import msgspec
import structlog
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery

from services.metering.accounts_api import decode_body, error_response
from services.metering.auth import Authorizer, Viewer
from services.metering.console import webhook
from tollgate import credentials
from tollgate.errors import BadRequest, Forbidden, NotFound, RateLimited, TollgateError, from_grpc
from tollgate.protojson import to_data
from tollgate.rpc import billing_pb2 as pb
from tollgate.rpc import billing_pb2_grpc as pb_grpc

MAX_WEBHOOK_BYTES = 64 * 1024
ADMIN_ACTIONS = frozenset({"list_codes", "create_codes", "revoke_code"})
GRPC_ERRORS: dict[grpc.StatusCode, type[TollgateError]] = {
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimited
}  # RedeemCode's throttle is a 429, not a quota


class RedeemBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: str = ""


class CreateCodesBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    count: int = 1
    amount_micros: int = 0
    expires_at_ms: int = 0
    note: str = ""


def authorize(viewer: Viewer, action: str, account_id: str | None = None) -> str:
    """The account an action acts on ("" for the admin's actions on codes); raises Forbidden.
    A console session's member redeems only as their role allows (owner, admin, billing)."""
    if action in ADMIN_ACTIONS:
        if not viewer.admin:
            raise Forbidden("Only an administrator may manage redemption codes.", code="admin_required")
        return ""
    if action == "redeem":
        viewer.require("billing.manage")
        return viewer.one_account(account_id)
    raise Forbidden(f"unknown action {action!r}")


class BillingConsole:
    """Owns one gRPC channel to the accounts process (opened on first use, inside the
    server's loop), presenting metering's admin credential."""

    def __init__(
        self,
        auth: Authorizer,
        accounts_addr: str,
        admin_credential: str,
        *,
        webhook_secrets: list[str] | None = None,
        tolerance_s: int = 300,
        timeout_s: float = 10.0,
    ):
        self._auth = auth
        self._addr = accounts_addr
        self._admin = admin_credential
        self._secrets = [s.strip() for s in webhook_secrets or [] if s.strip()]
        self._tolerance_s = tolerance_s
        self._timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> pb_grpc.BillingStub:
        if self._channel is None:
            self._channel = credentials.aio_channel(self._addr, self._admin)
        return pb_grpc.BillingStub(self._channel)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    async def _call(self, method: str, message, status_code: int = 200) -> Response:
        try:
            reply = await getattr(self._stub(), method)(message, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            return error_response(from_grpc(exc, GRPC_ERRORS))
        return Response(to_data(reply), status_code=status_code)

    async def _guarded(self, request: Request, action: str, account_id: str | None, build, status_code: int = 200) -> Response:
        """Authorize, build the request message (BadRequest for bad input), call Billing."""
        try:
            account = authorize(await self._auth.viewer(request), action, account_id)
            method, message = await build(account)
        except TollgateError as exc:
            return error_response(exc)
        return await self._call(method, message, status_code)

    async def webhook(self, request: Request) -> Response:
        log = structlog.get_logger()
        try:
            if not self._secrets:
                raise NotFound("The payment webhook is not configured on this server.", code="webhook_not_configured")
            payload = b""
            async for chunk in request.stream():
                payload += chunk
                if len(payload) > MAX_WEBHOOK_BYTES:
                    raise BadRequest("webhook body too large")
            webhook.verify(payload, request.headers.get(webhook.SIGNATURE_HEADER, ""), self._secrets, time.time(), self._tolerance_s)
            found = webhook.credit(payload)
        except TollgateError as exc:
            log.warning("payment webhook refused", code=exc.code)
            return error_response(exc)
        if found is None:
            return Response({"received": True, "credited": False}, status_code=200)
        message = pb.CreditPaymentRequest(
            provider="stripe",
            event_id=found.event_id[:200],
            account_id=found.account_id[:200],
            amount_micros=found.amount_micros,
            note=f"stripe {found.event_type}",
        )
        try:
            reply = await self._stub().CreditPayment(message, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            err = from_grpc(exc)
            log.warning("payment webhook not credited", event_id=found.event_id[:200], code=err.code)
            return error_response(err)
        log.info("payment webhook", event_id=found.event_id[:200], account_id=found.account_id, credited=reply.applied)
        return Response(
            {"received": True, "credited": reply.applied, "duplicate": not reply.applied, "event_id": found.event_id}, status_code=200
        )

    def handlers(self) -> list[HTTPRouteHandler]:
        guarded = self._guarded

        @post("/console/api/billing/redeem")
        async def redeem(request: Request, account_id: FromQuery[str] = "") -> Response:
            async def build(account: str):
                body = await decode_body(request, RedeemBody)
                if not body.code.strip():
                    raise BadRequest("code is required", code="missing_code")
                return "RedeemCode", pb.RedeemCodeRequest(account_id=account, code=body.code.strip()[:100])

            return await guarded(request, "redeem", account_id, build)

        @get("/console/api/billing/codes")
        async def list_codes(request: Request, status: FromQuery[str] = "", limit: FromQuery[int] = 100) -> Response:
            async def build(_account: str):
                if not 0 < limit <= 1000:
                    raise BadRequest("limit must be between 1 and 1000")
                return "ListCodes", pb.ListCodesRequest(limit=limit, status=status)

            return await guarded(request, "list_codes", None, build)

        @post("/console/api/billing/codes")
        async def create_codes(request: Request) -> Response:
            async def build(_account: str):
                body = await decode_body(request, CreateCodesBody)
                try:
                    return "CreateCodes", pb.CreateCodesRequest(**msgspec.structs.asdict(body))
                except (ValueError, TypeError) as exc:
                    raise BadRequest(f"invalid request: {exc}") from None

            return await guarded(request, "create_codes", None, build, status_code=201)

        @post("/console/api/billing/codes/{code_id:str}/revoke")
        async def revoke_code(request: Request, code_id: FromPath[str]) -> Response:
            async def build(_account: str):
                return "RevokeCode", pb.RevokeCodeRequest(code_id=code_id[:100])

            return await guarded(request, "revoke_code", None, build)

        @post("/console/api/billing/webhook/stripe")
        async def stripe_webhook(request: Request) -> Response:
            return await self.webhook(request)

        return [redeem, list_codes, create_codes, revoke_code, stripe_webhook]


def from_settings(settings, auth: Authorizer) -> BillingConsole:
    return BillingConsole(
        auth,
        settings.accounts_addr,
        settings.admin_credential,
        webhook_secrets=settings.payment_webhook_secret.split(","),
        tolerance_s=settings.payment_webhook_tolerance_s,
    )
