"""The ``catalog import`` command's arguments, apart from the command itself: the CLI builds
its parser on every start, and the import (genai-prices' data, the providers' SDK helpers) takes
most of a second to load. ``tollgate/catalog_import/command.py`` is imported only when it runs."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


def margin(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError("the margin must be a positive number (1.2 = prices + 20%)")
    return value


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``catalog`` group on the CLI's subcommands (it runs locally: no service is called)."""
    group = sub.add_parser("catalog", help="the model catalog file (local)", parents=[common])
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    help_ = "build or refresh models and prices from the genai-prices data (bundled, offline)"
    leaf = actions.add_parser("import", help=help_, description=help_, parents=[common])
    leaf.add_argument("--catalog", type=Path, default=None, help="the catalog to read (default: TOLLGATE_CATALOG)")
    leaf.add_argument("--out", type=Path, default=None, help="write here instead of over the catalog")
    leaf.add_argument(
        "--vendor",
        action="append",
        metavar="VENDORS",
        help="comma-separated vendors to import (default: the vendors of the catalog's channels); repeatable",
    )
    leaf.add_argument("--margin", type=margin, default=Decimal(1), help="multiply every price (1.2 = +20%%; rounded up to the micro-USD)")
    leaf.add_argument("--force", action="store_true", help="also overwrite prices written by hand (the import then owns those models)")
    leaf.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    leaf.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="CHANNEL_ID",
        help="also route every imported model to this channel, whatever its vendor (e.g. the simulator's); repeatable",
    )
    leaf.add_argument("--no-route", dest="route", action="store_false", help="do not add imported models to the vendors' channels")
    leaf.set_defaults(local=_run)


def _run(args: argparse.Namespace, **kw: Any) -> int:
    from tollgate.catalog_import.command import run

    return run(args, **kw)
