"""Console JSON endpoints for risk control and tickets, in front of the accounts process's
``Risk`` gRPC service (proto/tollgate/rpc/risk.proto).

An API key or the admin token is forwarded as it is, so the Risk service scopes it itself (a
user key: its own account, also while suspended; the admin credential: any account and the
admin methods). A console session (cookie) acts on its organisation's account only: metering
checks the member's role (``SESSION_ACTIONS``), then calls with its own admin credential naming
that account. Who the call is made as is decided in one function, ``authority``. Errors are
``{"error": {"message", "type", "code"}}``.

The page: ``GET /console/risk`` (dashboard/static/risk.html, risk.js, tickets.js).

User (an API key, or a console session as its role allows):
    GET  /console/api/risk/standing                     status, reason, records count, open request
    GET  /console/api/risk/records                      the account's suspension records
    POST /console/api/risk/reactivation {"message"}     ask for reactivation (suspended accounts)
    GET  /console/api/risk/reactivations                the account's requests and their decisions
    GET  /console/api/tickets                           the account's tickets
    POST /console/api/tickets {"subject", "description", "request_ids"}
    GET  /console/api/tickets/{ticket_id}               with the named requests' technical metadata
    POST /console/api/tickets/{ticket_id}/close
Admin (the admin token):
    GET  /console/api/risk/reactivations?status=pending the risk queue, oldest first
    POST /console/api/risk/reactivations/{id}/decide {"approve", "note"}
    GET  /console/api/risk/records?account_id=          every account's records ("" = all)
    POST /console/api/risk/act {"account_id", "action", "reason", "throttle_rpm", "throttle_s"}
    GET  /console/api/risk/rules                        the rules in force and the last reload error

Wiring: ``api = RiskApi(settings.accounts_addr, auth=auth, admin_credential=settings.admin_credential)``,
``*api.handlers()`` among the app's routes,
``api.close`` at shutdown.
"""

from __future__ import annotations

import grpc
import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.response import File

from services.metering.accounts_api import decode_body, error_response, presented_credential
from services.metering.auth import Authorizer, Viewer, bearer
from services.metering.dashboard import MEDIA_TYPES, PAGE_HEADERS, STATIC
from tollgate import credentials
from tollgate.errors import BadRequest, Forbidden, NotFound, TollgateError, from_grpc
from tollgate.protojson import to_data
from tollgate.rpc import risk_pb2 as pb
from tollgate.rpc import risk_pb2_grpc as pb_grpc


class ReactivationBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    message: str


class DecisionBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    approve: bool
    note: str = ""


class ActBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    account_id: str
    action: str
    reason: str
    throttle_rpm: int = 0
    throttle_s: int = 0


class TicketBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    subject: str
    description: str = ""
    request_ids: list[str] = []


# Risk RPCs a console session may call, and the role permission (tollgate.identity) each needs;
# the rest (the queue's decisions, manual actions, the rules) are the platform admin's.
SESSION_ACTIONS: dict[str, str] = {
    "GetStanding": "org.view",
    "ListRecords": "org.view",
    "ListReactivations": "org.view",
    "RequestReactivation": "risk.appeal",
    "ListTickets": "org.view",
    "GetTicket": "org.view",
    "OpenTicket": "tickets.manage",
    "CloseTicket": "tickets.manage",
}


def authority(viewer: Viewer | None, method: str, request: Request, admin_credential: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """(the gRPC metadata the call is made with, the account it must name or ""). A key or the
    admin token: the caller's own credential (the Risk service decides). A console session:
    its role must allow the method, and the call names the session's own account with the
    admin credential. The one place the console's authorization lives."""
    if viewer is None or not viewer.role:
        return credentials.bearer(presented_credential(request)), ""
    action = SESSION_ACTIONS.get(method)
    if action is None:
        raise Forbidden(f"{method} needs the platform administrator.", code="admin_required")
    viewer.require(action)
    if not admin_credential or not viewer.account_id:
        raise Forbidden("Console sessions cannot reach risk control on this server.", code="admin_required")
    return credentials.bearer(admin_credential), viewer.account_id


def _id(value: str, what: str) -> str:
    if not value or len(value) > 200:
        raise BadRequest(f"{what} is required")
    return value


class RiskApi:
    """One gRPC channel to the accounts process, opened on first use. ``auth`` tells a console
    session from a key; ``admin_credential`` is presented only for a session, on its own account."""

    def __init__(self, accounts_addr: str, timeout_s: float = 10.0, auth: Authorizer | None = None, admin_credential: str = ""):
        self._auth = auth
        self._admin = admin_credential
        self._addr = accounts_addr
        self._timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> pb_grpc.RiskStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._addr)
        return pb_grpc.RiskStub(self._channel)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    async def call(self, request: Request, method: str, build, status_code: int = 200) -> Response:
        try:
            viewer = await self._auth.viewer(request) if self._auth is not None and not bearer(request) else None
            metadata, account = authority(viewer, method, request, self._admin)
            try:
                message = await build()
            except (ValueError, TypeError) as exc:
                raise BadRequest(f"invalid request: {exc}") from None
            if account:
                await self._own(message, account, metadata)
            reply = await getattr(self._stub(), method)(message, metadata=metadata, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            return error_response(from_grpc(exc))
        except TollgateError as exc:
            return error_response(exc)
        return Response(to_data(reply), status_code=status_code)

    async def _own(self, message, account: str, metadata) -> None:
        """Pin a session's call to its account: the account field, or the named ticket's owner."""
        if "account_id" in message.DESCRIPTOR.fields_by_name:
            message.account_id = account
        elif "ticket_id" in message.DESCRIPTOR.fields_by_name:
            asked = pb.GetTicketRequest(ticket_id=message.ticket_id)
            ticket = await self._stub().GetTicket(asked, metadata=metadata, timeout=self._timeout_s)
            if ticket.account_id != account:
                raise NotFound(f"no ticket {message.ticket_id[:100]!r}", code="ticket_not_found")

    def handlers(self) -> list[HTTPRouteHandler]:
        call = self.call

        @get("/console/api/risk/standing")
        async def standing(request: Request, account_id: FromQuery[str] = "") -> Response:
            async def build():
                return pb.GetStandingRequest(account_id=account_id)

            return await call(request, "GetStanding", build)

        @get("/console/api/risk/records")
        async def records(request: Request, account_id: FromQuery[str] = "", limit: FromQuery[int] = 50) -> Response:
            async def build():
                return pb.ListRecordsRequest(account_id=account_id, limit=limit)

            return await call(request, "ListRecords", build)

        @post("/console/api/risk/reactivation")
        async def request_reactivation(request: Request, account_id: FromQuery[str] = "") -> Response:
            async def build():
                body = await decode_body(request, ReactivationBody)
                return pb.RequestReactivationRequest(account_id=account_id, message=body.message)

            return await call(request, "RequestReactivation", build, status_code=201)

        @get("/console/api/risk/reactivations")
        async def reactivations(
            request: Request, account_id: FromQuery[str] = "", status: FromQuery[str] = "", limit: FromQuery[int] = 100
        ) -> Response:
            async def build():
                return pb.ListReactivationsRequest(account_id=account_id, status=status, limit=limit)

            return await call(request, "ListReactivations", build)

        @post("/console/api/risk/reactivations/{request_id:int}/decide")
        async def decide(request: Request, request_id: FromPath[int]) -> Response:
            async def build():
                body = await decode_body(request, DecisionBody)
                return pb.DecideReactivationRequest(request_id=request_id, approve=body.approve, note=body.note)

            return await call(request, "DecideReactivation", build)

        @post("/console/api/risk/act")
        async def act(request: Request) -> Response:
            async def build():
                body = await decode_body(request, ActBody)
                return pb.ActRequest(**msgspec.structs.asdict(body))

            return await call(request, "Act", build, status_code=201)

        @get("/console/api/risk/rules")
        async def list_rules(request: Request) -> Response:
            async def build():
                return pb.ListRulesRequest()

            return await call(request, "ListRules", build)

        @get("/console/api/tickets")
        async def tickets(request: Request, account_id: FromQuery[str] = "", limit: FromQuery[int] = 50) -> Response:
            async def build():
                return pb.ListTicketsRequest(account_id=account_id, limit=limit)

            return await call(request, "ListTickets", build)

        @post("/console/api/tickets")
        async def open_ticket(request: Request, account_id: FromQuery[str] = "") -> Response:
            async def build():
                body = await decode_body(request, TicketBody)
                return pb.OpenTicketRequest(
                    account_id=account_id, subject=body.subject, description=body.description, request_ids=body.request_ids
                )

            return await call(request, "OpenTicket", build, status_code=201)

        @get("/console/api/tickets/{ticket_id:str}")
        async def get_ticket(request: Request, ticket_id: FromPath[str]) -> Response:
            async def build():
                return pb.GetTicketRequest(ticket_id=_id(ticket_id, "ticket_id"))

            return await call(request, "GetTicket", build)

        @post("/console/api/tickets/{ticket_id:str}/close")
        async def close_ticket(request: Request, ticket_id: FromPath[str]) -> Response:
            async def build():
                return pb.CloseTicketRequest(ticket_id=_id(ticket_id, "ticket_id"))

            return await call(request, "CloseTicket", build)

        page_file = STATIC / "risk.html"

        @get("/console/risk", include_in_schema=False)
        async def page() -> File:
            return File(
                page_file, filename=page_file.name, media_type=MEDIA_TYPES[".html"], headers=PAGE_HEADERS, content_disposition_type="inline"
            )

        return [
            page,
            standing,
            records,
            request_reactivation,
            reactivations,
            decide,
            act,
            list_rules,
            tickets,
            open_ticket,
            get_ticket,
            close_ticket,
        ]
