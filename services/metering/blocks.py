"""Insert blocks: a batch of new usage events as the bytes of one ClickHouse insert.

A batch is written twice (the raw rows, then the rollup feed: ``store.UsageStore.insert``), so
what ClickHouse spends parsing it counts twice. Measured on a 2-core machine (chDB, 10,000-event
blocks into a Null table): JSONCompactEachRow ~3-4.4 µs an event to parse, Arrow IPC ~0.8.
Arrow is built column by column from the events' fields (``msgspec.structs.astuple`` and one
``pyarrow.array`` per column, in C); JSON is the fallback where pyarrow is not installed (the
container image leaves it out with chDB: there, metering writes to a ClickHouse server).

``ENCODERS`` maps a name to its encoder; ``default_encoder()`` picks Arrow when it can.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from tollgate.events import UsageEvent

# The stored fields of a usage event, in the struct's order. Not stored: usage_estimated, lease_id, and what
# only accounts' risk control reads (sensitivity; attempt_log, kept for tickets alone).
NOT_STORED = frozenset({"usage_estimated", "lease_id", "sensitivity", "attempt_log"})
FIELDS = [name for name in UsageEvent.__struct_fields__ if name not in NOT_STORED]
_INDEX = [UsageEvent.__struct_fields__.index(name) for name in FIELDS]
# Their columns in usage_events / usage_feed (the same names but for the time), then the batch id.
COLUMNS = [*("occurred_at" if name == "occurred_at_ms" else name for name in FIELDS), "batch_id"]


class Block(msgspec.Struct, frozen=True):
    fmt: str  # the ClickHouse input format of ``data``
    columns: list[str]
    data: bytes
    rows: int


Encoder = Callable[[Sequence[UsageEvent], str], Block]

_JSON = msgspec.json.Encoder()


def json_block(events: Sequence[UsageEvent], batch_id: str) -> Block:
    """JSONCompactEachRow. The time is decimal seconds: msgspec writes the shortest text that
    round-trips, which for ``ms / 1000`` is the exact millisecond value, and ClickHouse parses
    it as a decimal into DateTime64(3)."""
    at = FIELDS.index("occurred_at_ms")
    rows = []
    for e in events:
        values = msgspec.structs.astuple(e)
        row = [values[i] for i in _INDEX]
        row[at] = row[at] / 1000
        row.append(batch_id)
        rows.append(row)
    return Block("JSONCompactEachRow", COLUMNS, _JSON.encode_lines(rows), len(rows))


def _arrow_types() -> dict[str, Any]:
    import pyarrow as pa  # type: ignore[import-untyped]

    ints = {"UInt8": pa.uint8(), "UInt16": pa.uint16(), "UInt32": pa.uint32(), "UInt64": pa.uint64(), "Int64": pa.int64()}
    types: dict[str, Any] = {}
    hints = UsageEvent.__annotations__
    for name in FIELDS:
        hint = hints[name]
        text = hint if isinstance(hint, str) else getattr(hint, "__name__", str(hint))
        if name == "occurred_at_ms":
            types[name] = pa.timestamp("ms", tz="UTC")
        elif text in ints:
            types[name] = ints[text]
        elif text in ("bool", bool):
            types[name] = pa.bool_()
        elif text in ("str", str):
            types[name] = pa.string()
        elif name == "units":  # Array(Tuple(unit String, variant String, quantity UInt64))
            types[name] = pa.list_(pa.struct([("unit", pa.string()), ("variant", pa.string()), ("quantity", pa.uint64())]))
        else:
            raise TypeError(f"UsageEvent.{name}: no Arrow type for {hint!r}")
    return types


_UNITS = UsageEvent.__struct_fields__.index("units")


def _arrow_values(index: int, column: Sequence[Any]) -> Sequence[Any]:
    """A column as pyarrow takes it: units become lists of dicts (most requests have none)."""
    if index != _UNITS:
        return column
    return [[msgspec.structs.asdict(u) for u in units] if units else [] for units in column]


def arrow_encoder() -> Encoder:
    """Arrow IPC stream (ClickHouse format ArrowStream), one record batch per block; the column
    types are worked out once."""
    import pyarrow as pa

    types = [_arrow_types()[name] for name in FIELDS]

    def encode(events: Sequence[UsageEvent], batch_id: str) -> Block:
        tuples = [msgspec.structs.astuple(e) for e in events]
        columns = list(zip(*tuples, strict=True)) if tuples else [() for _ in UsageEvent.__struct_fields__]
        arrays = [pa.array(_arrow_values(i, columns[i]), type=t) for i, t in zip(_INDEX, types, strict=True)]
        arrays.append(pa.array([batch_id], type=pa.string()).take(pa.array([0] * len(tuples), type=pa.int32())))
        table = pa.Table.from_arrays(arrays, names=COLUMNS)
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Block("ArrowStream", COLUMNS, sink.getvalue(), len(tuples))

    return encode


# name -> a function that builds the encoder (once per store)
ENCODERS: dict[str, Callable[[], Encoder]] = {"arrow": arrow_encoder, "json": lambda: json_block}


def default_encoder() -> str:
    """Arrow where pyarrow is installed; JSON where it is not (the container image)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "json"
    return "arrow"
