"""Pricing groups: the catalog's ``[[groups]]`` (issue 17).

```toml
[[groups]]
name = "default"           # every account is in "default" unless an admin puts it elsewhere
multiplier = 1             # an integer, an exact decimal string ("1.25") or a ratio string ("5/4"); never a float
models = ["*"]             # glob patterns over model ids and aliases: what the group's accounts see and may use

[[groups]]
name = "vip"
multiplier = "0.8"
models = ["gpt-4o*", "claude-*"]
```

An account pays the catalog's prices (the model's and its channels' own) times its group's
multiplier, each rounded up to a whole micro-USD per million tokens, and the price's
version says so (``<version>+group:<name>``), so every usage event records what billed it.
A model outside the account's group is answered like the hosted gateways do: "No available
channel for model X under group G" (``tollgate.errors.ModelNotInGroup``). Without a
``default`` entry the catalog has an implicit one: multiplier 1, every model, prices and
versions as written. Groups are reloaded with the catalog.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import msgspec

DEFAULT = "default"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_TERM = 10**9  # numerator and denominator of a multiplier (exact, and products stay within int64 for any sane price)
_DECIMAL = re.compile(r"\d+(\.\d+)?|\d+/\d+")


class GroupSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A ``[[groups]]`` entry as written."""

    name: str
    multiplier: str | int = 1
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    numerator: int = 1
    denominator: int = 1
    patterns: tuple[str, ...] = ("*",)
    implicit: bool = False  # the default group the catalog did not write: prices as they are

    def shows(self, names: Iterable[str]) -> bool:
        """Whether a model (any of its names: id and aliases) is in this group."""
        return any(fnmatch.fnmatchcase(name, p) for name in names for p in self.patterns)

    def scale(self, micros: int) -> int:
        return -(-micros * self.numerator // self.denominator)  # rounded up: money is never lost to rounding

    @property
    def marks_prices(self) -> bool:
        """Whether prices carry the group in their version (every group but a plain default)."""
        return not (self.name == DEFAULT and self.numerator == self.denominator)

    @property
    def multiplier(self) -> str:
        return str(Fraction(self.numerator, self.denominator))


IMPLICIT_DEFAULT = Group(DEFAULT, implicit=True)


class GroupError(ValueError):
    pass


def multiplier(value: str | int, where: str) -> Fraction:
    if isinstance(value, bool) or (isinstance(value, str) and not _DECIMAL.fullmatch(value.strip())):
        raise GroupError(f'{where}: multiplier must be an integer, an exact decimal ("1.25") or a ratio ("5/4"), not {value!r}')
    ratio = Fraction(value.strip()) if isinstance(value, str) else Fraction(value)
    if ratio <= 0:
        raise GroupError(f"{where}: multiplier must be positive")
    if ratio.numerator > MAX_TERM or ratio.denominator > MAX_TERM:
        raise GroupError(f"{where}: multiplier {value!r} is too precise (numerator and denominator at most {MAX_TERM})")
    return ratio


def build(specs: list[GroupSpec], model_names: dict[str, list[str]]) -> dict[str, Group]:
    """Validated groups by name (with the implicit default when none is written).
    ``model_names``: every catalog model id -> its names (id and aliases)."""
    groups: dict[str, Group] = {}
    for spec in specs:
        where = f"group {spec.name!r}"
        if not NAME.fullmatch(spec.name):
            raise GroupError(f"{where}: a group name is letters, digits, '-', '_' and '.' (at most 64, not starting with a symbol)")
        if spec.name in groups:
            raise GroupError(f"{where} is defined twice")
        if not spec.models:
            raise GroupError(f'{where} shows no model (its `models` list is empty; "*" shows every model)')
        ratio = multiplier(spec.multiplier, where)
        group = Group(spec.name, ratio.numerator, ratio.denominator, tuple(spec.models))
        for pattern in spec.models:
            if not any(Group("", patterns=(pattern,)).shows(names) for names in model_names.values()):
                raise GroupError(f"{where}: model pattern {pattern!r} matches no model of the catalog")
        groups[spec.name] = group
    if DEFAULT not in groups:
        groups = {DEFAULT: IMPLICIT_DEFAULT, **groups}  # listed first, as a written one usually is
    return groups
