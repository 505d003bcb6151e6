"""Metering's HTTP API: usage analytics, billing statements, the request log, model
rankings (JSON; CSV for usage and statements with ``format=csv``). Every call needs a
credential (``auth``): a key sees its own account, the admin credential every account."""

from __future__ import annotations

import asyncio
import csv
import io
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from litestar import Litestar, Request, Response, get
from litestar.exceptions import HTTPException

from services.metering import queries, units
from services.metering.auth import Authorizer
from services.metering.store import UsageStore
from tollgate import error_bodies
from tollgate.errors import BadRequest, NotFound, TollgateError

WINDOWS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}


# Times a query may name: what ClickHouse's Date and DateTime64 columns and parameters hold.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
STATUS_RANGE = (100, 599)  # HTTP statuses, as the usage events record them (499: the client left)
MAX_PARAM_CHARS = 256  # every query parameter (ids, names, times) is far shorter; a longer one never reaches a query or an RPC


async def _short_params(request: Request) -> None:
    for name, value in request.query_params.items():
        if len(value) > MAX_PARAM_CHARS or len(name) > MAX_PARAM_CHARS:
            raise BadRequest(f"query parameter {name[:40]!r} is longer than {MAX_PARAM_CHARS} characters", code="invalid_parameter")


def _time(value: str | None, default: datetime, name: str) -> datetime:
    if not value:
        return default
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if not value.isdigit() else datetime.fromtimestamp(int(value), UTC)
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if not EARLIEST <= parsed <= LATEST:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise BadRequest(
            f"{name} must be an ISO-8601 time or a Unix timestamp between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}", code=f"invalid_{name}"
        ) from None
    return parsed


def _range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """[start, end) from the query; default: the 30 days up to now."""
    t_end = _time(end, datetime.now(UTC) + timedelta(minutes=1), "end")
    t_start = _time(start, max(t_end - timedelta(days=30), EARLIEST), "start")
    if t_start >= t_end:
        raise BadRequest("start must be before end")
    return t_start, t_end


def _choices(value: str | None, allowed, name: str) -> list[str]:
    picked = [v.strip() for v in (value or "").split(",") if v.strip()]
    wrong = [v for v in picked if v not in allowed]
    if wrong:
        raise BadRequest(f"{name} must be among {', '.join(allowed)} (got {', '.join(wrong)})", code=f"invalid_{name}")
    return list(dict.fromkeys(picked))


def _quantiles(row: dict[str, Any]) -> dict[str, Any]:
    """quantile arrays -> latency_ms_p50 … ttft_ms_p99 (0 where there were no samples): the DDSketch
    states' where any were merged, else the t-digest states' (``queries.percentiles``)."""
    for column, prefix in (("latency", "latency_ms"), ("ttft", "ttft_ms")):
        if f"{column}_sketch" not in row:
            continue
        sketch, digest = row.pop(f"{column}_sketch"), row.pop(f"{column}_digest")
        values = sketch if sketch and not all(v is None or math.isnan(v) for v in sketch) else digest
        values = values or [0.0] * len(queries.QUANTILES)
        for q, v in zip(queries.QUANTILES, values, strict=True):
            row[f"{prefix}_p{q}"] = 0 if v is None or math.isnan(v) else round(float(v), 1)
    for k, v in row.items():
        if isinstance(v, datetime):
            row[k] = v.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
        elif isinstance(v, float) and math.isnan(v):
            row[k] = 0
    return row


def _csv(rows: list[dict], filename: str) -> Response:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv", headers={"content-disposition": f'attachment; filename="{filename}"'})


def create_app(store: UsageStore, auth: Authorizer, extra_routes: list | None = None, ledger_debits=None) -> Litestar:
    """``ledger_debits(account, start_ms, end_ms)``: the ledger's usage debits, shown beside a statement's total."""

    async def run(sql: str, params: dict[str, Any]) -> list[dict]:
        return [_quantiles(r) for r in await asyncio.to_thread(store.query, sql, params)]

    @get("/v1/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        viewer = await auth.viewer(request)
        session = {"user_id": viewer.user_id, "org_id": viewer.org_id, "role": viewer.role, "member_id": viewer.member_id}
        return {"admin": viewer.admin, "account_id": viewer.account_id, **(session if viewer.user_id else {})}

    @get("/v1/usage")
    async def usage(
        request: Request,
        start: str | None = None,
        end: str | None = None,
        group_by: str | None = None,
        bucket: str = "day",
        account_id: str | None = None,
        format: str = "json",
    ) -> Response:
        account = (await auth.viewer(request)).scope(account_id)
        if bucket not in queries.BUCKETS:
            raise BadRequest(f"bucket must be one of {', '.join(queries.BUCKETS)}", code="invalid_bucket")
        groups = _choices(group_by, queries.GROUPS, "group_by")
        t_start, t_end = _range(start, end)
        sql, keys = queries.usage_sql(account, groups, bucket, store.digests)
        params = {"account": account or "", **queries.range_params(t_start, t_end)}
        rows = await run(sql, params)
        units_sql, _ = units.usage_units_sql(account, groups, bucket)
        units.attach(rows, await run(units_sql, params), keys, flat=format == "csv")  # images, audio, characters beside tokens
        if format == "csv":
            return _csv(rows, "usage.csv")
        body = {
            "account_id": account,
            "start": t_start.isoformat(),
            "end": t_end.isoformat(),
            "bucket": bucket,
            "group_by": groups,
            "data": rows,
        }
        return Response(body)

    @get("/v1/requests")
    async def request_log(
        request: Request,
        limit: int = 50,
        key_id: str | None = None,
        model: str | None = None,
        status: int | None = None,
        before: str | None = None,
        account_id: str | None = None,
    ) -> dict[str, Any]:
        account = (await auth.viewer(request)).scope(account_id)
        if not 1 <= limit <= 1000:
            raise BadRequest("limit must be between 1 and 1000")
        if status is not None and not STATUS_RANGE[0] <= status <= STATUS_RANGE[1]:
            raise BadRequest(f"status must be an HTTP status between {STATUS_RANGE[0]} and {STATUS_RANGE[1]}", code="invalid_status")
        sql = queries.requests_sql(account, key_id=bool(key_id), model=bool(model), status=status is not None, before=bool(before))
        params = {"account": account or "", "key_id": key_id or "", "model": model or "", "status": status or 0, "limit": limit}
        if before:
            params["before"] = _time(before, datetime.now(UTC), "before")
        return {"data": await run(sql, params)}

    @get("/v1/requests/{request_id:str}")
    async def request_metadata(request: Request, request_id: str) -> dict[str, Any]:
        account = (await auth.viewer(request)).scope(None)
        rows = await run(queries.request_sql(account), {"account": account or "", "request_id": request_id})
        if not rows:
            raise NotFound(f"No request {request_id} (for this account).", code="request_not_found")
        return rows[0]

    @get("/v1/rankings")
    async def rankings(request: Request, window: str = "7d", by: str = "tokens") -> dict[str, Any]:
        await auth.viewer(request)  # any signed-in caller: rankings are aggregate, per model and channel, never per account
        if window not in WINDOWS or by not in queries.RANKED_MODELS:
            raise BadRequest(f"window must be one of {', '.join(WINDOWS)} and by one of {', '.join(queries.RANKED_MODELS)}")
        end = datetime.now(UTC) + timedelta(hours=1)
        start = end - timedelta(hours=1) - WINDOWS[window]
        channel_params = queries.range_params(start, end)
        models, channels, model_units = await asyncio.gather(
            run(queries.model_rankings_sql(by), {"start": start}),
            run(queries.channel_rankings_sql(store.digests), channel_params),
            run(units.model_units_sql(), {"start": start}),
        )
        units.attach(models, model_units, ["model"])
        for c in channels:
            c["error_rate"] = round(float(c["error_rate"]), 4)
            c["tokens_per_s"] = round(float(c["tokens_per_s"]), 1)
        return {"window": window, "by": by, "models": models, "channels": channels}

    @get("/v1/statement")
    async def statement(request: Request, month: str | None = None, account_id: str | None = None, format: str = "json") -> Response:
        account = (await auth.viewer(request)).one_account(account_id)
        now = datetime.now(UTC)
        try:
            first = (
                datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
                if month
                else now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            )
            if not EARLIEST <= first < LATEST:
                raise ValueError
        except ValueError:
            raise BadRequest(
                f"month must look like 2026-11 (from {EARLIEST:%Y-%m} to {LATEST - timedelta(days=1):%Y-%m})", code="invalid_month"
            ) from None
        after = (first + timedelta(days=32)).replace(day=1)
        params = {"account": account, **queries.range_params(first, after)}
        lines = await run(queries.statement_sql(), params)
        units.attach(lines, await run(units.statement_units_sql(), params), ["model", "key_id"], flat=format == "csv")
        if format == "csv":
            return _csv(lines, f"statement-{first:%Y-%m}.csv")
        total = sum(int(line["cost_micros"]) for line in lines)
        body = {
            "account_id": account,
            "month": f"{first:%Y-%m}",
            "lines": lines,
            "total_cost_micros": total,
            "requests": sum(int(x["requests"]) for x in lines),
        }
        if ledger_debits is not None:
            debited = await ledger_debits(account, int(first.timestamp() * 1000), int(after.timestamp() * 1000))
            body.update(ledger_debits_micros=debited, matches_ledger=debited == total)
        return Response(body)

    # The reconciliation and quick-look endpoints (exact, from the raw table).
    @get("/v1/usage/models")
    async def usage_by_model(
        request: Request, account_id: str | None = None, start: str | None = None, end: str | None = None
    ) -> dict[str, Any]:
        return await _raw(store.usage_by_model, (await auth.viewer(request)).one_account(account_id), start, end)

    @get("/v1/usage/daily")
    async def usage_by_day(
        request: Request, account_id: str | None = None, start: str | None = None, end: str | None = None
    ) -> dict[str, Any]:
        return await _raw(store.daily_cost, (await auth.viewer(request)).one_account(account_id), start, end)

    @get("/v1/reconcile")
    async def reconcile(
        request: Request, account_id: str | None = None, start: str | None = None, end: str | None = None
    ) -> dict[str, Any]:
        """Per UTC day, what each table holds for the account (raw, and the statement's
        rollups); for the admin also over every account (raw, and the rankings' rollups).
        The range is widened to whole UTC days. ``tollgate reconcile`` compares it with the ledger."""
        viewer = await auth.viewer(request)
        account = viewer.one_account(account_id)
        t_start, t_end = _range(start, end)
        d0 = t_start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        d1 = t_end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        d1 = d1 if d1 == t_end else d1 + timedelta(days=1)
        params = {"account": account, "start": d0, "end": d1}
        tables = {t: await run(queries.reconcile_sql(t, True), params) for t in queries.ACCOUNT_TABLES}
        everyone = {t: await run(queries.reconcile_sql(t, False), params) for t in queries.ALL_ACCOUNT_TABLES} if viewer.admin else None
        return {"account_id": account, "start": d0.isoformat(), "end": d1.isoformat(), "tables": tables, "all_accounts": everyone}

    @get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    def on_error(_request: Request, exc: Exception) -> Response:
        if isinstance(exc, TollgateError):
            return Response(error_bodies.openai(exc), status_code=exc.status)
        if isinstance(exc, HTTPException):
            status, message = exc.status_code, exc.detail
        else:
            structlog.get_logger().error("unhandled error", error=type(exc).__name__, detail=str(exc)[:300])
            status, message = 500, "internal error"
        return Response(error_bodies.openai_body(message, error_bodies.openai_type(status), param=False), status_code=status)

    handlers = [
        whoami,
        usage,
        request_log,
        request_metadata,
        rankings,
        statement,
        usage_by_model,
        usage_by_day,
        reconcile,
        healthz,
        *(extra_routes or []),
    ]
    return Litestar(
        route_handlers=handlers,
        exception_handlers={Exception: on_error},
        before_request=_short_params,
        openapi_config=None,
        logging_config=None,
    )


async def _raw(query, account_id: str, start: str | None, end: str | None) -> dict[str, Any]:
    t_start, t_end = _range(start, end)
    rows = await asyncio.to_thread(query, account_id, t_start, t_end)
    return {"account_id": account_id, "start": t_start.isoformat(), "end": t_end.isoformat(), "data": rows}
