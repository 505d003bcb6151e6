"""SQL of the analytics API, built from whitelisted parts only (user input never becomes
SQL text: it is a query parameter or picks an entry from a table below)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

GROUPS = {"model": "model", "key": "key_id", "channel": "channel_id", "provider": "provider", "endpoint": "endpoint"}
BUCKETS = {
    "hour": "hour",
    "day": "toDateTime(toStartOfDay(hour), 'UTC')",
    "month": "toDateTime(toStartOfMonth(hour), 'UTC')",
    "none": None,
}
QUANTILES = (50, 95, 99)

# Percentiles (migration 0012): DDSketch states from ``quantile_sketch_since`` on, t-digest states
# before it (hours whose raw events had expired when the sketches came). Each is merged over its own
# rows only; the API shows the sketch's result, or the digest's where no sketch row was merged
# (``app._quantiles``). The output names are never a column's: an alias would shadow it.
SKETCH_SINCE = "(SELECT max(since) FROM quantile_sketch_since)"


def percentiles(column: str, digests: bool = True) -> str:
    """``<column>_sketch`` and ``<column>_digest`` (arrays of p50, p95, p99) of a rollup subquery.
    ``digests=False`` where every hour has sketches (``UsageStore.digests``: a deployment that got
    migration 0012 with nothing expired, or a new one): the sketches merged without a condition,
    and no digest (measured at 100M: 70 / 80 ms p50 / p95 instead of 83 / 122)."""
    if not digests:
        return f"quantilesDDMerge(0.01, 0.5, 0.95, 0.99)({column}_dd) AS {column}_sketch, [] AS {column}_digest"
    return (
        f"quantilesDDMergeIf(0.01, 0.5, 0.95, 0.99)({column}_dd, hour >= {SKETCH_SINCE}) AS {column}_sketch, "
        f"quantilesTDigestMergeIf(0.5, 0.95, 0.99)({column}_q, hour < {SKETCH_SINCE}) AS {column}_digest"
    )


_SUMS = (
    "sum(requests) AS requests, sum(errors) AS errors, sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, "
    "sum(cached_tokens) AS cached_tokens, sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros"
)


def sums(digests: bool = True) -> str:
    return f"{_SUMS}, {percentiles('latency', digests)}, {percentiles('ttft', digests)}"


REQUEST_COLUMNS = (
    "request_id, formatDateTime(occurred_at, '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC') AS occurred_at, account_id, key_id, endpoint, "
    "model_requested, "
    "model_served, provider, channel_id, stream, status, error_code, attempts, prompt_tokens, completion_tokens, cached_tokens, "
    "reasoning_tokens, cost_micros, price_version, latency_ms, ttft_ms, upstream_latency_ms, gateway_overhead_ms, client_app, zdr, "
    "cache_write_tokens, units"
)


_COLUMNS = (
    "model, channel_id, provider, endpoint, requests, errors, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, "
    "cost_micros, latency_ms_sum, latency_q, ttft_q, latency_dd, ttft_dd"
)
# (hourly, daily, columns) of the rollups: per account and key (sorted by account, then
# time), and across accounts (sorted by time) for queries over every account without keys.
PER_ACCOUNT = ("usage_hourly", "usage_daily", f"account_id, key_id, {_COLUMNS}")
ALL_ACCOUNTS = ("usage_hourly_all", "usage_daily_all", _COLUMNS)


def rollup(tables: tuple[str, str, str], account_id: str | None, bucket: str) -> str:
    """The rows of a rollup over [start, end) as a subquery, with an ``hour`` column. Hourly
    buckets read the hourly table; coarser ones read whole UTC days [d0, d1) from the daily
    table and the rest of the range from the hourly one: both hold the same states, so one
    GROUP BY merges them exactly to the hour (parameters from ``range_params``)."""
    hourly, daily, columns = tables
    account = account_filter(account_id)
    hours = (
        f"SELECT hour, {columns} FROM {hourly} "
        f"WHERE {account}hour >= toStartOfHour({{start:DateTime64(3)}}) AND hour < {{end:DateTime64(3)}}"
    )
    if bucket == "hour":
        return f"({hours})"
    return (
        f"(SELECT toDateTime(day, 'UTC') AS hour, {columns} FROM {daily} WHERE {account}day >= {{d0:Date}} AND day < {{d1:Date}} "
        f"UNION ALL {hours} AND (hour < toDateTime({{d0:Date}}, 'UTC') OR hour >= toDateTime({{d1:Date}}, 'UTC')))"
    )


def whole_days(start: datetime, end: datetime) -> dict[str, Any]:
    """Parameters d0/d1: the whole UTC days inside [start rounded down to the hour, end)."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    d0 = first.date() if first.hour == 0 else first.date() + timedelta(days=1)
    d1 = end.astimezone(UTC).date()
    return {"d0": d0, "d1": max(d0, d1)}


def range_params(start: datetime, end: datetime) -> dict[str, Any]:
    """The time parameters of the usage, statement and channel-ranking queries over [start, end)."""
    return {"start": start, "end": end, **whole_days(start, end)}


def account_filter(account_id: str | None, column: str = "account_id") -> str:
    return f"{column} = {{account:String}} AND " if account_id is not None else ""


def usage_sql(account_id: str | None, group_by: list[str], bucket: str, digests: bool = True) -> tuple[str, list[str]]:
    """Usage from the rollups over [start, end), grouped and bucketed; the output columns
    that are keys (bucket first, then the groups)."""
    keys, select = [], []
    if BUCKETS[bucket] is not None:
        select.append(f"{BUCKETS[bucket]} AS bucket")
        keys.append("bucket")
    for name in group_by:
        select.append(f"{GROUPS[name]} AS {name}")
        keys.append(name)
    by = f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else ""
    tables = ALL_ACCOUNTS if account_id is None and "key" not in group_by else PER_ACCOUNT
    return f"SELECT {', '.join([*select, sums(digests)])} FROM {rollup(tables, account_id, bucket)}{by}", keys


def requests_sql(account_id: str | None, *, key_id: bool, model: bool, status: bool, before: bool) -> str:
    where = [
        account_filter(account_id).removesuffix(" AND "),
        "key_id = {key_id:String}" if key_id else "",
        "(model_served = {model:String} OR model_requested = {model:String})" if model else "",
        "status = {status:UInt16}" if status else "",
        "usage_events.occurred_at < {before:DateTime64(3)}" if before else "",
    ]
    clause = " AND ".join(w for w in where if w)
    # The column, not REQUEST_COLUMNS' formatted alias of the same name: sorting by the column
    # reads the table's (account_id, occurred_at) order backwards and stops after ``limit`` rows
    # (EXPLAIN: InReverseOrder); sorting by the text read and sorted every row of the account.
    return (
        f"SELECT {REQUEST_COLUMNS} FROM usage_events{' WHERE ' + clause if clause else ''} "
        "ORDER BY usage_events.occurred_at DESC LIMIT {limit:UInt32}"
    )


def request_sql(account_id: str | None) -> str:
    if account_id is None:  # where the request is, from the index sorted by request id (migration 0011)
        return (
            f"SELECT {REQUEST_COLUMNS} FROM usage_events WHERE (account_id, usage_events.occurred_at, request_id) IN "
            "(SELECT account_id, occurred_at, request_id FROM request_index WHERE request_id = {request_id:String}) LIMIT 1"
        )
    return f"SELECT {REQUEST_COLUMNS} FROM usage_events WHERE {account_filter(account_id)}request_id = {{request_id:String}} LIMIT 1"


RANKED_MODELS = {"tokens": "tokens", "requests": "requests", "accounts": "accounts"}


def model_rankings_sql(by: str) -> str:
    return (
        "SELECT model, sum(requests) AS requests, sum(tokens) AS tokens, uniqMerge(accounts) AS accounts, sum(errors) AS errors "
        f"FROM model_daily WHERE day >= toDate({{start:DateTime64(3)}}) AND model != '' GROUP BY model ORDER BY {RANKED_MODELS[by]} DESC, "
        "model LIMIT 100"
    )


def channel_rankings_sql(digests: bool = True) -> str:
    """Over [start, end), with ``range_params``."""
    return (
        "SELECT channel_id, any(provider) AS provider, sum(src.requests) AS requests, sum(errors) / sum(src.requests) AS error_rate, "
        f"{percentiles('latency', digests)}, "
        "if(sum(latency_ms_sum) > 0, sum(completion_tokens) / (sum(latency_ms_sum) / 1000), 0) AS tokens_per_s "
        f"FROM {rollup(ALL_ACCOUNTS, None, 'day')} AS src WHERE channel_id != '' "
        "GROUP BY channel_id ORDER BY requests DESC, channel_id LIMIT 200"
    )


def statement_sql() -> str:
    """One account over [start, end), with ``range_params``."""
    return (
        "SELECT model, key_id, sum(requests) AS requests, sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS "
        "completion_tokens, "
        f"sum(cached_tokens) AS cached_tokens, sum(cost_micros) AS cost_micros FROM {rollup(PER_ACCOUNT, '', 'day')} "
        "GROUP BY model, key_id ORDER BY model, key_id"
    )


# -- reconciliation (``tollgate reconcile``) ------------------------------------------------
# Per UTC day, the requests and cost each table holds: the raw table (with FINAL, and without
# it as the request log reads it), and every rollup the statement (usage_hourly, usage_daily)
# and the rankings (usage_hourly_all, usage_daily_all, model_daily) read. Over [start, end),
# whole UTC days. Columns: utc_day, total_requests, total_cost_micros (and billed_requests from the raw table).

ACCOUNT_TABLES = ("usage_events", "usage_events_unmerged", "usage_hourly", "usage_daily")
ALL_ACCOUNT_TABLES = ("usage_events", "usage_hourly_all", "usage_daily_all", "model_daily")


def reconcile_sql(table: str, per_account: bool) -> str:
    account = account_filter("" if per_account else None)
    if table.startswith("usage_events"):
        final = " FINAL" if table == "usage_events" else ""
        return (
            "SELECT toString(toDate(occurred_at)) AS utc_day, count() AS total_requests, countIf(cost_micros > 0) AS billed_requests, "
            f"sum(cost_micros) AS total_cost_micros FROM usage_events{final} "
            f"WHERE {account}occurred_at >= {{start:DateTime64(3)}} AND occurred_at < {{end:DateTime64(3)}} GROUP BY utc_day ORDER BY "
            "utc_day"
        )
    if table in ("usage_hourly", "usage_hourly_all"):
        day, where = "toString(toDate(hour))", "hour >= {start:DateTime64(3)} AND hour < {end:DateTime64(3)}"
    elif table in ("usage_daily", "usage_daily_all", "model_daily"):
        day, where = "toString(day)", "day >= toDate({start:DateTime64(3)}) AND day < toDate({end:DateTime64(3)})"
    else:
        raise ValueError(table)
    return (
        f"SELECT {day} AS utc_day, sum(requests) AS total_requests, sum(cost_micros) AS total_cost_micros FROM {table} "
        f"WHERE {account}{where} GROUP BY utc_day ORDER BY utc_day"
    )
