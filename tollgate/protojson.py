"""Protobuf replies as plain JSON data, shared by the CLI's ``--json`` and metering's
accounts endpoints so both print the same shape."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message


def to_data(value: Any) -> Any:
    """A protobuf message as plain JSON data: every field (defaults included), int64 as numbers."""
    if isinstance(value, Message):
        return {
            f.name: [to_data(v) for v in getattr(value, f.name)] if f.is_repeated else to_data(getattr(value, f.name))
            for f in value.DESCRIPTOR.fields
        }
    return value
