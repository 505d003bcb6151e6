"""The console's budgets and pricing-group endpoints (issue 17): JSON over HTTP in front of
the accounts process's ``Budgets`` service and the router's ``ListGroups``.

Like ``services/metering/accounts_api.py``, every accounts call forwards the caller's own
credential, so the accounts service scopes it: a user key reads only its own account's
budgets and group, setting a budget or a group needs the admin credential (403
``admin_required`` otherwise). Which callers may do what is decided in ``authorize`` (one
place, for role checks to slot in). Money is integer micro-USD, as in ``tollgate --json``.

    GET  /console/api/budgets?account_id=                       ListBudgets (spend and reservations per budget)
    PUT  /console/api/budgets {"account_id", "scope", "subject_id", "day_micros", "month_micros"}
                                                                SetBudget (both amounts 0: removed)
    GET  /console/api/groups                                    the catalog's groups (admin), or the caller's own
    PUT  /console/api/accounts/{account_id}/group {"group"}     SetAccountGroup

Wiring: ``api = BudgetsApi(settings.accounts_addr, settings.router_addr)``, ``*api.handlers()``
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
from tollgate import credentials
from tollgate.errors import BadRequest, TollgateError, from_grpc
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


def authorize(action: str, credential: str) -> str:
    """The credential the accounts call presents for ``action`` ("read" or "change"). Today the
    caller's own: accounts lets the admin do both and a user key only read its own account.
    (Identity's roles — owner and admin may change their organisation's budgets — go here.)"""
    if action not in ("read", "change"):
        raise BadRequest(f"unknown action {action!r}")
    return credential


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

    def __init__(self, accounts_addr: str, router_addr: str, timeout_s: float = 10.0):
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

    async def _budgets(self, request: Request, action: str, method: str, message) -> Response:
        try:
            credential = authorize(action, presented_credential(request))
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
            credential = authorize("read", presented_credential(request))
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
                request, "change", "SetAccountGroup", bpb.SetAccountGroupRequest(account_id=account_id, group=body.group)
            )

        return [list_budgets, set_budget, list_groups, set_group]
