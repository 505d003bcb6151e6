"""Metering's HTTP query API (JSON)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from litestar import Litestar, Request, Response, get
from litestar.exceptions import HTTPException

from services.metering.store import UsageStore
from tollgate.errors import BadRequest, TollgateError


def _time(value: str | None, default: datetime, name: str) -> datetime:
    if not value:
        return default
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if not value.isdigit() else datetime.fromtimestamp(int(value), UTC)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO-8601 time or a Unix timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """[start, end) from the query; default: the 30 days up to now."""
    t_end = _time(end, datetime.now(UTC) + timedelta(minutes=1), "end")
    t_start = _time(start, t_end - timedelta(days=30), "start")
    if t_start >= t_end:
        raise BadRequest("start must be before end")
    return t_start, t_end


async def _rows(query, account_id: str, start: str | None, end: str | None) -> dict:
    t_start, t_end = _range(start, end)
    rows = await asyncio.to_thread(query, account_id, t_start, t_end)
    return {"account_id": account_id, "start": t_start.isoformat(), "end": t_end.isoformat(), "data": rows}


def create_app(store: UsageStore) -> Litestar:
    @get("/v1/usage/models")
    async def usage_by_model(account_id: str, start: str | None = None, end: str | None = None) -> dict:
        return await _rows(store.usage_by_model, account_id, start, end)

    @get("/v1/usage/daily")
    async def usage_by_day(account_id: str, start: str | None = None, end: str | None = None) -> dict:
        return await _rows(store.daily_cost, account_id, start, end)

    @get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    def on_error(_request: Request, exc: Exception) -> Response:
        if isinstance(exc, TollgateError):
            status, message, kind = exc.status, exc.message, exc.error_type
        elif isinstance(exc, HTTPException):
            status, message, kind = exc.status_code, exc.detail, "invalid_request_error"
        else:
            status, message, kind = 500, "internal error", "server_error"
        return Response({"error": {"message": message, "type": kind, "code": None}}, status_code=status)

    return Litestar(route_handlers=[usage_by_model, usage_by_day, healthz], exception_handlers={Exception: on_error}, openapi_config=None, logging_config=None)
