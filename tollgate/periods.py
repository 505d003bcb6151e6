"""Billing periods: spend caps count per UTC day and per UTC calendar month. The edge (a
capped key's local spend) and accounts (the ledger of record) must agree on the numbering."""

from __future__ import annotations

import datetime


def day_number(ms: int) -> int:
    """Days since 1970-01-01 (UTC) of a time in epoch milliseconds."""
    return ms // 86_400_000


def month_number(ms: int) -> int:
    """``year * 12 + month - 1`` (UTC) of a time in epoch milliseconds."""
    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return d.year * 12 + d.month - 1
