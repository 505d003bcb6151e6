"""The Risk gRPC servicer (proto/tollgate/rpc/risk.proto), served by the accounts process.

Who may call what is decided in one place, ``RiskAccess.caller`` (accounts' ``Access.caller``): the admin credential
opens everything; a user API key opens ``USER_METHODS`` for its own account — also while
the account is suspended or deactivated (so its user can see why and ask for reactivation).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Final

from services.accounts.access import Access, Caller
from services.accounts.risk.engine import Engine, now_ms, policy_of
from services.accounts.risk.rules import ACTIONS, kind_of
from services.accounts.risk.store import RecordRow, Refused, RequestRow, RiskStore, TicketRow
from tollgate.errors import BadRequest, Conflict, NotFound, TollgateError, abort
from tollgate.rpc import risk_pb2 as pb
from tollgate.rpc import risk_pb2_grpc as pb_grpc

USER_METHODS: Final = frozenset(
    {"GetStanding", "ListRecords", "RequestReactivation", "ListReactivations", "OpenTicket", "ListTickets", "GetTicket", "CloseTicket"}
)
MAX_TICKET_REQUESTS: Final = 50
REQUEST_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class RiskAccess:
    """Who may call what: accounts' one ``Access.caller``, with risk control's user methods, open
    to a suspended or deactivated account's keys."""

    def __init__(self, access: Access):
        self._access = access

    async def caller(self, metadata, method: str) -> Caller:
        return await self._access.caller(metadata, method, USER_METHODS, while_suspended=True)


def record_msg(row: RecordRow) -> pb.Record:
    return pb.Record(
        id=row.id,
        account_id=row.account_id,
        rule=row.rule,
        action=row.action,
        reason=row.reason,
        figures=row.figures,
        created_at_ms=row.created_at_ms,
        until_ms=row.until_ms,
    )


def request_msg(row: RequestRow) -> pb.Reactivation:
    return pb.Reactivation(
        id=row.id,
        account_id=row.account_id,
        message=row.message,
        status=row.status,
        note=row.note,
        created_at_ms=row.created_at_ms,
        decided_at_ms=row.decided_at_ms,
        status_reason=row.status_reason,
    )


def ticket_msg(row: TicketRow, requests: list[tuple[str, str, int]] | None = None) -> pb.Ticket:
    diagnostics = []
    for request_id, meta, keep_until in requests or []:
        if not meta:
            diagnostics.append(pb.Diagnostic(request_id=request_id, found=False, keep_until_ms=keep_until))
            continue
        m = json.loads(meta)
        attempts = [pb.Attempt(channel_id=a["channel_id"], status=a["status"], error=a["error"]) for a in m.pop("attempt_log", [])]
        diagnostics.append(pb.Diagnostic(request_id=request_id, found=True, keep_until_ms=keep_until, attempt_log=attempts, **m))
    return pb.Ticket(
        ticket_id=row.id,
        account_id=row.account_id,
        subject=row.subject,
        description=row.description,
        status=row.status,
        created_at_ms=row.created_at_ms,
        keep_until_ms=row.keep_until_ms,
        diagnostics=diagnostics,
    )


def _limit(value: int, default: int, most: int) -> int:
    if value < 0:
        raise BadRequest("limit must be positive")
    return min(value or default, most)


def _rpc(method: str):
    impl = "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower()

    async def handler(self: RiskService, request, context):
        try:
            caller = await self._access.caller(context.invocation_metadata(), method)
            return await getattr(self, impl)(request, caller)
        except TollgateError as err:
            await abort(context, err)

    handler.__name__ = method
    return handler


class RiskService(pb_grpc.RiskServicer):
    def __init__(self, store: RiskStore, engine: Engine, access: RiskAccess):
        self._store = store
        self._engine = engine
        self._access = access

    GetStanding = _rpc("GetStanding")
    ListRecords = _rpc("ListRecords")
    Act = _rpc("Act")
    RequestReactivation = _rpc("RequestReactivation")
    ListReactivations = _rpc("ListReactivations")
    DecideReactivation = _rpc("DecideReactivation")
    ListRules = _rpc("ListRules")
    OpenTicket = _rpc("OpenTicket")
    ListTickets = _rpc("ListTickets")
    GetTicket = _rpc("GetTicket")
    CloseTicket = _rpc("CloseTicket")

    # -- standing and records -----------------------------------------------------------
    async def _get_standing(self, request: pb.GetStandingRequest, caller: Caller) -> pb.Standing:
        account_id = caller.account(request.account_id)
        account = await self._store.account(account_id)
        if account is None:
            raise NotFound(f"no account {account_id!r}")
        policy = policy_of(self._engine.watcher.current)
        counted = await self._store.count_records(account_id, now_ms() - policy.period_ms, policy.counted)
        pending = await self._store.requests(account_id, "pending", 1)
        throttled = account.throttle_until_ms > now_ms()
        return pb.Standing(
            account_id=account.id,
            status=account.status,
            status_reason=account.status_reason,
            records_in_period=counted,
            deactivate_after=policy.deactivate_after,
            period_s=policy.period_ms // 1000,
            open_request=request_msg(pending[0]) if pending else None,
            throttle_rpm=account.throttle_rpm if throttled else 0,
            throttle_until_ms=account.throttle_until_ms if throttled else 0,
        )

    async def _list_records(self, request: pb.ListRecordsRequest, caller: Caller) -> pb.ListRecordsResponse:
        account_id = request.account_id if caller.admin else caller.account(request.account_id)
        rows = await self._store.records(account_id, _limit(request.limit, 50, 500))
        return pb.ListRecordsResponse(records=[record_msg(r) for r in rows])

    async def _act(self, request: pb.ActRequest, _caller: Caller) -> pb.Record:
        if request.action not in ACTIONS:
            raise BadRequest(f"action must be one of {', '.join(ACTIONS)}")
        reason = request.reason.strip()[:500]
        if not reason:
            raise BadRequest("a reason is required")
        if request.action == "throttle" and request.throttle_rpm <= 0:
            raise BadRequest("a throttle needs throttle_rpm above 0")
        if request.throttle_s < 0:
            raise BadRequest("throttle_s cannot be negative")
        policy = policy_of(self._engine.watcher.current)
        throttle = (request.throttle_rpm, request.throttle_s or 600)
        outcome = await self._engine.enforcer.act(request.account_id, "manual", request.action, reason, {"by": "admin"}, policy, throttle)
        if outcome is None:
            raise NotFound(f"no account {request.account_id!r}")
        return record_msg(outcome.records[0])

    # -- reactivation -------------------------------------------------------------------
    async def _request_reactivation(self, request: pb.RequestReactivationRequest, caller: Caller) -> pb.Reactivation:
        account_id = caller.account(request.account_id)
        message = request.message.strip()
        if not message:
            raise BadRequest("say why the account should be reactivated (message)", code="missing_message")
        if len(message) > 2000:
            raise BadRequest("the message is longer than 2000 characters", code="message_too_long")
        try:
            row = await self._store.request_reactivation(account_id, message)
        except LookupError:
            raise NotFound(f"no account {account_id!r}") from None
        except Refused as exc:
            raise Conflict(str(exc), code="reactivation_refused") from None
        return request_msg(row)

    async def _list_reactivations(self, request: pb.ListReactivationsRequest, caller: Caller) -> pb.ListReactivationsResponse:
        account_id = request.account_id if caller.admin else caller.account(request.account_id)
        if request.status not in ("", "pending", "approved", "rejected"):
            raise BadRequest("status must be pending, approved or rejected")
        rows = await self._store.requests(account_id, request.status, _limit(request.limit, 100, 500))
        return pb.ListReactivationsResponse(requests=[request_msg(r) for r in rows])

    async def _decide_reactivation(self, request: pb.DecideReactivationRequest, _caller: Caller) -> pb.Reactivation:
        note = request.note.strip()[:1000]
        if not request.approve and not note:
            raise BadRequest("a rejection needs a note for the user", code="missing_note")
        try:
            row, account = await self._store.decide(request.request_id, request.approve, note)
        except LookupError:
            raise NotFound(f"no reactivation request {request.request_id}") from None
        except Refused as exc:
            raise Conflict(str(exc), code="decision_refused") from None
        if request.approve:
            self._engine.forget(account.id)
            await self._engine.enforcer.announce(account)
        return request_msg(row)

    async def _list_rules(self, _request: pb.ListRulesRequest, _caller: Caller) -> pb.ListRulesResponse:
        watcher = self._engine.watcher
        current = watcher.current
        rules = [pb.Rule(name=r.name, kind=kind_of(r), action=r.action, description=r.describe()) for r in current.rules]
        return pb.ListRulesResponse(
            rules=rules,
            source=str(watcher.path),
            error=watcher.error,
            deactivate_after=current.deactivation.records,
            period_s=current.deactivation.period_s,
        )

    # -- tickets ------------------------------------------------------------------------
    async def _open_ticket(self, request: pb.OpenTicketRequest, caller: Caller) -> pb.Ticket:
        account_id = caller.account(request.account_id)
        subject, description = request.subject.strip(), request.description.strip()
        if not subject or len(subject) > 200:
            raise BadRequest("a ticket needs a subject of 1 to 200 characters", code="invalid_subject")
        if len(description) > 4000:
            raise BadRequest("the description is longer than 4000 characters", code="invalid_description")
        ids = list(dict.fromkeys(r.strip() for r in request.request_ids if r.strip()))
        if len(ids) > MAX_TICKET_REQUESTS:
            raise BadRequest(f"a ticket names at most {MAX_TICKET_REQUESTS} requests", code="too_many_requests")
        bad = [r for r in ids if not REQUEST_ID.fullmatch(r)]
        if bad:
            raise BadRequest(f"not a request id: {bad[0][:40]!r}", code="invalid_request_id")
        if await self._store.account(account_id) is None:
            raise NotFound(f"no account {account_id!r}")
        now = now_ms()
        keep_until = now + self._engine.watcher.current.tickets.keep_s * 1000
        found = {r: meta for r in ids if (meta := self._engine.recent.find(account_id, r)) is not None}
        ticket = TicketRow(f"tkt_{secrets.token_hex(12)}", account_id, subject, description, "open", now, keep_until)
        await self._store.open_ticket(ticket, ids, found)
        self._engine.waiting.update(r for r in ids if r not in found)
        return await self._ticket(ticket.id, caller)

    async def _ticket(self, ticket_id: str, caller: Caller) -> pb.Ticket:
        got = await self._store.ticket(ticket_id)
        if got is None or (not caller.admin and got[0].account_id != caller.account_id):
            raise NotFound(f"no ticket {ticket_id!r}")
        return ticket_msg(*got)

    async def _list_tickets(self, request: pb.ListTicketsRequest, caller: Caller) -> pb.ListTicketsResponse:
        account_id = request.account_id if caller.admin else caller.account(request.account_id)
        rows = await self._store.tickets(account_id, _limit(request.limit, 50, 500))
        return pb.ListTicketsResponse(tickets=[ticket_msg(r) for r in rows])

    async def _get_ticket(self, request: pb.GetTicketRequest, caller: Caller) -> pb.Ticket:
        return await self._ticket(request.ticket_id, caller)

    async def _close_ticket(self, request: pb.CloseTicketRequest, caller: Caller) -> pb.Ticket:
        await self._ticket(request.ticket_id, caller)  # exists and is the caller's
        await self._store.close_ticket(request.ticket_id)
        return await self._ticket(request.ticket_id, caller)
