"""Units beyond tokens in metering's answers: the quantities of ``units_hourly`` (migration
0010) beside the token counts of the usage, statement and ranking rows they belong to.

Each answer's rows come from the token rollups as before; one more query over
``units_hourly``, grouped by the same keys, gives each row ``units``: quantity per unit
(``image``, ``audio_ms``, ``character``, ``request``), ``{}`` when it used none. CSV answers
get one column per unit instead (``units_image``...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.metering import queries

_HOURS = "hour >= toStartOfHour({start:DateTime64(3)}) AND hour < {end:DateTime64(3)}"


def usage_units_sql(account_id: str | None, group_by: list[str], bucket: str) -> tuple[str, list[str]]:
    """Quantities per unit over [start, end), keyed as ``queries.usage_sql`` keys its rows."""
    keys, select = [], []
    if queries.BUCKETS[bucket] is not None:
        select.append(f"{queries.BUCKETS[bucket]} AS bucket")
        keys.append("bucket")
    for name in group_by:
        select.append(f"{queries.GROUPS[name]} AS {name}")
        keys.append(name)
    by = ", ".join([*keys, "unit"])
    sql = (
        f"SELECT {', '.join([*select, 'unit', 'sum(quantity) AS quantity'])} FROM units_hourly "
        f"WHERE {queries.account_filter(account_id)}{_HOURS} GROUP BY {by} ORDER BY {by}"
    )
    return sql, keys


def statement_units_sql() -> str:
    """One account's quantities per model and key over [start, end) (the statement's lines)."""
    return (
        "SELECT model, key_id, unit, sum(quantity) AS quantity FROM units_hourly "
        f"WHERE account_id = {{account:String}} AND {_HOURS} GROUP BY model, key_id, unit ORDER BY model, key_id, unit"
    )


def model_units_sql() -> str:
    """Every account's quantities per model since ``start`` (the model rankings)."""
    return (
        "SELECT model, unit, sum(quantity) AS quantity FROM units_hourly "
        "WHERE hour >= toStartOfHour({start:DateTime64(3)}) AND model != '' GROUP BY model, unit ORDER BY model, unit"
    )


def attach(rows: list[dict[str, Any]], unit_rows: list[dict[str, Any]], keys: Sequence[str], *, flat: bool = False) -> list[dict[str, Any]]:
    """``rows`` with their units: ``units`` = {unit: quantity}, or (``flat``, for CSV) a
    ``units_<unit>`` column per unit any row used (0 where a row used none)."""
    found: dict[tuple, dict[str, int]] = {}
    for r in unit_rows:
        found.setdefault(tuple(r[k] for k in keys), {})[r["unit"]] = int(r["quantity"])
    if not flat:
        for row in rows:
            row["units"] = found.get(tuple(row[k] for k in keys), {})
        return rows
    names = sorted({u for used in found.values() for u in used})
    for row in rows:
        used = found.get(tuple(row[k] for k in keys), {})
        row.update({f"units_{name}": used.get(name, 0) for name in names})
    return rows
