"""Vendor data policies: what each upstream vendor does with request data.

The table is data (``config/data_policies.toml``), one entry per vendor::

    [vendors.anthropic]
    name = "Anthropic"
    stores_data = true
    retention_days = 30      # 0 = not retained, -1 = retained for an unpublished period
    trains_on_data = false

A vendor is zero-data-retention (ZDR) when it retains nothing and does not train on it.
Every channel gets its vendor's policy; a channel's ``data_policy`` table overrides it
field by field (for a vendor missing from the table the override must be complete).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from tollgate.providers import KIND_VENDORS, vendor_of

TABLE_FILENAME = "data_policies.toml"
# The table shipped in config/, used when neither the catalog names a table nor one sits next to
# it: in a source checkout, or (installed, e.g. the container image) under the working directory.
SHIPPED_TABLE = Path(__file__).resolve().parents[2] / "config" / TABLE_FILENAME
UNKNOWN_RETENTION = -1

DEFAULT_VENDORS = KIND_VENDORS  # the provider kinds' vendors live with the kinds (tollgate.providers)


class PolicyError(ValueError):
    pass


def default_vendor(provider: str) -> str:
    return vendor_of(provider)


class DataPolicy(msgspec.Struct, frozen=True):
    """A channel's resolved policy (what the router hands to edges)."""

    vendor: str
    zdr: bool
    trains_on_data: bool
    retention_days: int  # 0 = not retained, -1 = retained for an unknown period


class VendorEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    stores_data: bool
    retention_days: int
    trains_on_data: bool
    name: str = ""


class PolicyFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    vendors: dict[str, VendorEntry] = {}
    source: str = ""
    updated: str = ""


class PolicyOverride(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A channel's ``data_policy = {...}``: every field optional."""

    zdr: bool | None = None
    trains_on_data: bool | None = None
    retention_days: int | None = None


def _entry_policy(vendor: str, entry: VendorEntry) -> DataPolicy:
    return DataPolicy(
        vendor=vendor,
        zdr=_is_zdr(entry.retention_days, entry.trains_on_data),
        trains_on_data=entry.trains_on_data,
        retention_days=entry.retention_days,
    )


def _is_zdr(retention_days: int, trains: bool) -> bool:
    return retention_days == 0 and not trains


def parse_table(data: bytes, where: str) -> dict[str, DataPolicy]:
    """vendor -> policy, validated."""
    try:
        raw = msgspec.toml.decode(data, type=PolicyFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PolicyError(f"invalid data-policy table {where}: {exc}") from None
    table: dict[str, DataPolicy] = {}
    for vendor, entry in raw.vendors.items():
        if entry.retention_days < UNKNOWN_RETENTION:
            raise PolicyError(f"data-policy table {where}: vendor {vendor!r}: retention_days must be >= 0, or -1 for unknown")
        if entry.stores_data != (entry.retention_days != 0):
            raise PolicyError(
                f"data-policy table {where}: vendor {vendor!r}: stores_data = {str(entry.stores_data).lower()} "
                f"contradicts retention_days = {entry.retention_days}"
            )
        table[vendor] = _entry_policy(vendor, entry)
    return table


def resolve(vendor: str, override: PolicyOverride | None, table: dict[str, DataPolicy], where: str) -> DataPolicy:
    """The channel's policy: its vendor's entry with the channel's overrides applied."""
    base = table.get(vendor)
    o = override or PolicyOverride()
    if base is None:
        complete = o.zdr is True or (o.retention_days is not None and o.trains_on_data is not None)
        if not complete:
            raise PolicyError(
                f"{where}: vendor {vendor!r} is not in the data-policy table; set `vendor` to one that is "
                f"(known: {', '.join(sorted(table))}), add it to the table, or give the channel a complete "
                "`data_policy = { retention_days = N, trains_on_data = BOOL }` (or `{ zdr = true }`)"
            )
        base = DataPolicy(vendor=vendor, zdr=False, trains_on_data=True, retention_days=UNKNOWN_RETENTION)
    if o.zdr is True:
        if (o.retention_days or 0) != 0 or o.trains_on_data:
            raise PolicyError(f"{where}: data_policy zdr = true contradicts retention_days/trains_on_data")
        return DataPolicy(vendor=vendor, zdr=True, trains_on_data=False, retention_days=0)
    retention = base.retention_days if o.retention_days is None else o.retention_days
    trains = base.trains_on_data if o.trains_on_data is None else o.trains_on_data
    if retention < UNKNOWN_RETENTION:
        raise PolicyError(f"{where}: data_policy retention_days must be >= 0, or -1 for unknown")
    if o.zdr is False and _is_zdr(retention, trains):
        # Not ZDR for this channel (e.g. the account is not enrolled), so data is kept for an unstated time.
        retention = UNKNOWN_RETENTION if o.retention_days is None else retention
        if retention == 0:
            raise PolicyError(f"{where}: data_policy zdr = false contradicts retention_days = 0 and trains_on_data = false")
    return DataPolicy(vendor=vendor, zdr=_is_zdr(retention, trains), trains_on_data=trains, retention_days=retention)


def table_path(catalog_dir: Path | None, setting: str) -> tuple[Path, list[Path]]:
    """Which table to read, and every path whose appearance or change should trigger a reload.

    An explicit ``data_policies`` setting (relative to the catalog's folder) must exist;
    otherwise ``data_policies.toml`` next to the catalog wins over the shipped table."""
    if setting:
        path = Path(setting)
        if not path.is_absolute() and catalog_dir is not None:
            path = catalog_dir / path
        return path, [path]
    shipped = shipped_table()
    if catalog_dir is not None:
        beside = catalog_dir / TABLE_FILENAME
        if beside.exists():
            return beside, [beside]
        return shipped, list(dict.fromkeys([beside, shipped]))
    return shipped, [shipped]


def shipped_table() -> Path:
    candidates = (SHIPPED_TABLE, Path.cwd() / "config" / TABLE_FILENAME)
    return next((p for p in candidates if p.exists()), SHIPPED_TABLE)


def read_table(path: Path) -> tuple[dict[str, DataPolicy], bytes]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read data-policy table {path}: {exc.strerror}") from None
    return parse_table(data, str(path)), data
