"""``tollgate catalog import``: build or refresh the catalog's models and prices from genai-prices.

  tollgate catalog import [--catalog PATH] [--out PATH] [--vendor openai,anthropic ...] [--margin 1.2]
                          [--channel ID ...] [--force] [--dry-run] [--no-route]

Reads the catalog (default: TOLLGATE_CATALOG), imports the vendors its channels are of (or those
named), prints what changed and writes the catalog back (or to ``--out``); ``--dry-run`` writes
nothing. Runs offline: the prices are the package's bundled snapshot."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import tomlkit
from tomlkit.exceptions import TOMLKitError

from tollgate.catalog_import.merge import PRICE_FIELDS, NotACatalog, Options, Plan, check_shape, merge
from tollgate.catalog_import.prices import SOURCES, UnknownVendor, data_version, offers, resolve_vendor, vendors_with_data
from tollgate.providers import vendor_of
from tollgate.settings import Settings

FIELD_LABELS = {
    "input_per_mtok_micros": "input",
    "output_per_mtok_micros": "output",
    "cached_input_per_mtok_micros": "cached input",
    "cache_write_per_mtok_micros": "cache write",
}


class ImportFailed(Exception):
    pass


def vendor_list(values: list[str] | None) -> list[str]:
    return [name.strip() for value in values or () for name in value.split(",") if name.strip()]


def channel_vendors(doc: tomlkit.TOMLDocument) -> list[str]:
    return [str(c.get("vendor") or vendor_of(str(c.get("provider", "")))) for c in doc.get("channels", [])]


def select_vendors(doc: tomlkit.TOMLDocument, named: list[str]) -> tuple[list[str], list[str]]:
    """The vendors to import and the channel vendors that have no price data."""
    if named:
        try:
            return list(dict.fromkeys(resolve_vendor(name) for name in named)), []
        except UnknownVendor as exc:
            raise ImportFailed(str(exc)) from None
    known, unknown = vendors_with_data(channel_vendors(doc))
    if not known:
        raise ImportFailed(
            "no channel of the catalog is of a vendor with price data: name them with --vendor "
            f"(known: {', '.join(sorted(SOURCES))})" + (f"; the channels' vendors: {', '.join(unknown)}" if unknown else "")
        )
    return known, unknown


def _price_line(change_old: dict[str, int], change_new: dict[str, int]) -> str:
    parts = [
        f"{FIELD_LABELS[name]} {change_old[name]:_} → {change_new[name]:_}" for name in PRICE_FIELDS if change_old[name] != change_new[name]
    ]
    return ", ".join(parts) or "prices unchanged"


def report(plan: Plan, vendors: list[str], without_data: list[str], written: Path | None, out: TextIO) -> None:
    counts = plan.summary()
    print(f"{data_version()}; vendors: {', '.join(vendors)}", file=out)
    if without_data:
        print(f"no price data for the channels' vendors: {', '.join(without_data)}", file=out)
    print(", ".join(f"{name} {count}" for name, count in counts.items()), file=out)
    for change in plan.changed:
        version = f" (version {change.old_version} → {change.new_version})" if change.old_version != change.new_version else ""
        print(f"  changed {change.model}: {_price_line(change.old, change.new)}{version}", file=out)
    if plan.kept:
        print(f"  kept (hand-set prices; --force overwrites): {', '.join(plan.kept)}", file=out)
    if plan.skipped:
        print(f"  skipped (every name taken): {', '.join(plan.skipped)}", file=out)
    for channel, added in plan.routes.items():
        print(f"  channel {channel}: {added} models routed", file=out)
    if plan.idle:
        print(f"warning: channels serving no model (the router refuses the catalog until they do): {', '.join(plan.idle)}", file=out)
    print(f"wrote {written}" if written else "dry run: nothing written", file=out)


def as_json(plan: Plan, vendors: list[str], written: Path | None) -> dict[str, Any]:
    return {
        **plan.summary(),
        "source": data_version(),
        "vendors": vendors,
        "changed_prices": [
            {"model": c.model, "old": c.old, "new": c.new, "old_version": c.old_version, "new_version": c.new_version} for c in plan.changed
        ],
        "kept": plan.kept,
        "skipped": plan.skipped,
        "routes": plan.routes,
        "idle_channels": plan.idle,
        "written": str(written) if written else None,
    }


def import_catalog(
    catalog: Path, out: Path | None, named: list[str], options: Options, dry_run: bool, at: datetime
) -> tuple[Plan, list[str], list[str], Path | None]:
    try:
        doc = tomlkit.parse(catalog.read_text(encoding="utf-8")) if catalog.exists() else tomlkit.document()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"cannot read {catalog}: {exc}") from None
    except TOMLKitError as exc:
        raise ImportFailed(f"{catalog} is not valid TOML: {exc}") from None
    try:
        check_shape(doc)
    except NotACatalog as exc:
        raise ImportFailed(f"{catalog}: {exc}") from None
    vendors, without_data = select_vendors(doc, named)
    missing = sorted(set(options.channels) - {str(c.get("id")) for c in doc.get("channels", [])})
    if missing:
        raise ImportFailed(f"no channel {', '.join(missing)} in {catalog}")
    try:
        plan = merge(doc, offers(vendors, at), options)
    except NotACatalog as exc:
        raise ImportFailed(f"{catalog}: {exc}") from None
    if dry_run:
        return plan, vendors, without_data, None
    target = out or catalog
    tmp = target.with_name(f".{target.name}.import")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    if target.exists():
        shutil.copymode(target, tmp)
    tmp.replace(target)  # atomically: the router watching the file never reads half of it
    return plan, vendors, without_data, target


def run(args: argparse.Namespace, out: TextIO | None = None, at: datetime | None = None) -> int:
    out = out or sys.stdout
    catalog = args.catalog or Path(Settings.from_env(os.environ).catalog)
    at = at or datetime.now(UTC)
    options = Options(
        margin=args.margin, force=args.force, route=args.route, channels=tuple(args.channel), today=date(at.year, at.month, at.day)
    )
    try:
        plan, vendors, without_data, written = import_catalog(catalog, args.out, vendor_list(args.vendor), options, args.dry_run, at)
    except (ImportFailed, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(as_json(plan, vendors, written), indent=2), file=out)
    else:
        report(plan, vendors, without_data, written, out)
    return 0
