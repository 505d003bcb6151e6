"""The console's budgets and pricing-group endpoints (issue 17): JSON over HTTP in front of
the accounts process's ``Budgets`` service and the router's ``ListGroups``.

An API key or the admin token is forwarded as it is, so the accounts service scopes it: a
user key reads only its own account's budgets and group, setting a budget or a group needs
the admin credential (403 ``admin_required`` otherwise). A console session acts on its
organisation's account only: any member reads its budgets, an owner or admin
(``budgets.manage``) sets its members' and teams' budgets — metering then calls with its own
admin credential naming that account; a pricing group is the platform admin's to set. Which
callers may do what is decided in ``authorize`` (one place). Money is integer micro-USD, as
in ``tollgate --json``.

    GET  /console/api/budgets?account_id=                       ListBudgets (spend and reservations per budget)
    PUT  /console/api/budgets {"account_id", "scope", "subject_id", "day_micros", "month_micros"}
                                                                SetBudget (both amounts 0: removed)
    GET  /console/api/groups                                    the catalog's groups (admin), or the caller's own
    PUT  /console/api/accounts/{account_id}/group {"group"}     SetAccountGroup

Wiring: ``api = BudgetsApi(settings.accounts_addr, settings.router_addr, auth=auth, admin_credential=...)``, ``*api.handlers()``
among the app's routes and ``api.close`` among its shutdown hooks.
"""

from __future__ import annotations

from fractions import Fraction

import grpc
import msgspec
from litestar import Request, Response, get, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery

from services.metering.accounts_api import decode_body, error_response, presented_credential
from services.metering.auth import Authorizer, Viewer, bearer
from tollgate import credentials
from tollgate.errors import BadRequest, Forbidden, TollgateError, from_grpc
from tollgate.protojson import to_data
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tollgate.rpc import budgets_pb2 as bpb
from tollgate.rpc import budgets_pb2_grpc as bpb_grpc
from tollgate.rpc import router_pb2 as rpb
from tollgate.rpc import router_pb2_grpc as rpb_grpc


class BudgetBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    account_id: str = ""
    scope: str
    subject_id: str
    day_micros: int = 0
    month_micros: int = 0


class GroupBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    group: str


# What a console session's role must allow for each action (tollgate.identity.PERMISSIONS);
# None: not for sessions (the platform admin's).
SESSION_ACTIONS: dict[str, str | None] = {"read": "org.view", "change": "budgets.manage", "group": None}


def authorize(action: str, credential: str, viewer: Viewer | None = None, admin_credential: str = "") -> tuple[str, str]:
    """(the credential the accounts call presents for ``action``, the account it must name or "").
    A key or the admin token: its own (accounts lets the admin do all, a user key only read its
    own account). A console session: its role must allow ``action``; the call is made with the
    admin credential on the session's own account."""
    if action not in SESSION_ACTIONS:
        raise BadRequest(f"unknown action {action!r}")
    if viewer is None or not viewer.role:
        return credential, ""
    needed = SESSION_ACTIONS[action]
    if needed is None:
        raise Forbidden("Only the platform administrator sets an account's pricing group.", code="admin_required")
    viewer.require(needed)
    if not admin_credential or not viewer.account_id:
        raise Forbidden("Console sessions cannot manage budgets on this server.", code="admin_required")
    return admin_credential, viewer.account_id


def group_data(g: rpb.Group) -> dict:
    return {
        "name": g.name,
        "multiplier": str(Fraction(g.multiplier_numerator, g.multiplier_denominator or 1)),
        "multiplier_numerator": g.multiplier_numerator,
        "multiplier_denominator": g.multiplier_denominator,
        "models": list(g.models),
    }


class BudgetsApi:
    """Owns one channel to accounts and one to the router, opened on first use."""

    def __init__(
        self, accounts_addr: str, router_addr: str, timeout_s: float = 10.0, auth: Authorizer | None = None, admin_credential: str = ""
    ):
        self._auth = auth  # tells a console session from a key
        self._admin = admin_credential  # presented only for a session, on its own account
        self._addrs = (accounts_addr, router_addr)
        self._timeout_s = timeout_s
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, which: int) -> grpc.aio.Channel:
        addr = self._addrs[which]
        if addr not in self._channels:
            self._channels[addr] = grpc.aio.insecure_channel(addr)
        return self._channels[addr]

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()

    async def _viewer(self, request: Request) -> Viewer | None:
        return await self._auth.viewer(request) if self._auth is not None and not bearer(request) else None

    async def _budgets(self, request: Request, action: str, method: str, message) -> Response:
        try:
            credential, account = authorize(action, presented_credential(request), await self._viewer(request), self._admin)
            if account:
                message.account_id = account
            rpc = getattr(bpb_grpc.BudgetsStub(self._channel(0)), method)
            reply = await rpc(message, metadata=credentials.bearer(credential), timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            return error_response(from_grpc(exc))
        except TollgateError as exc:
            return error_response(exc)
        return Response(to_data(reply))

    async def _groups(self, request: Request) -> Response:
        """Every group for the admin; a user key sees its own account's group only."""
        try:
            credential, _own = authorize("read", presented_credential(request), await self._viewer(request), self._admin)
            if _own:  # a session: its own account's group, as the account sees it
                credential = presented_credential(request)
            metadata = credentials.bearer(credential)
            try:  # who is asking: GetAccount answers the admin only with an account id
                account = await pb_grpc.AccountsStub(self._channel(0)).GetAccount(
                    pb.GetAccountRequest(), metadata=metadata, timeout=self._timeout_s
                )
                own: str | None = account.price_group or "default"
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:  # the admin: "account_id is required"
                    raise
                own = None
            reply = await rpb_grpc.RouterStub(self._channel(1)).ListGroups(rpb.ListGroupsRequest(), timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            return error_response(from_grpc(exc))
        except TollgateError as exc:
            return error_response(exc)
        groups = [group_data(g) for g in reply.groups if own is None or g.name == own]
        return Response({"data": groups, "group": own})

    async def _known_group(self, group: str) -> None:
        """A group the router's catalog defines (an account in any other would see no model)."""
        reply = await rpb_grpc.RouterStub(self._channel(1)).ListGroups(rpb.ListGroupsRequest(), timeout=self._timeout_s)
        known = [g.name for g in reply.groups]
        if group not in known:
            raise BadRequest(f"the catalog has no group {group[:100]!r} (known: {', '.join(known)})", code="unknown_group")

    def handlers(self) -> list[HTTPRouteHandler]:
        @get("/console/api/budgets")
        async def list_budgets(request: Request, account_id: FromQuery[str] = "") -> Response:
            return await self._budgets(request, "read", "ListBudgets", bpb.ListBudgetsRequest(account_id=account_id))

        @put("/console/api/budgets")
        async def set_budget(request: Request) -> Response:
            try:
                body = await decode_body(request, BudgetBody)
                message = bpb.SetBudgetRequest(**msgspec.structs.asdict(body))
            except (TollgateError, ValueError) as exc:
                return error_response(exc if isinstance(exc, TollgateError) else BadRequest(f"invalid request: {exc}"))
            return await self._budgets(request, "change", "SetBudget", message)

        @get("/console/api/groups")
        async def list_groups(request: Request) -> Response:
            return await self._groups(request)

        @put("/console/api/accounts/{account_id:str}/group")
        async def set_group(request: Request, account_id: FromPath[str]) -> Response:
            try:
                body = await decode_body(request, GroupBody)
                await self._known_group(body.group)
            except grpc.aio.AioRpcError as exc:
                return error_response(from_grpc(exc))
            except TollgateError as exc:
                return error_response(exc)
            return await self._budgets(
                request, "group", "SetAccountGroup", bpb.SetAccountGroupRequest(account_id=account_id, group=body.group)
            )

        return [list_budgets, set_budget, list_groups, set_group]
