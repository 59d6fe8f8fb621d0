"""Matrix sweeps: one variant per combination of values, minus exclude, plus include.

A variant is named by its values in matrix key order, each slugified:
``style=hand-drawn-anime,seconds=5``. Without a matrix there is one variant
named ``""``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

_SLUG_RE = re.compile(r"[^a-z0-9.]+")


def slug(value: Any) -> str:
    """Lowercase, runs of anything but letters, digits and dots become one dash."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return _SLUG_RE.sub("-", text.lower()).strip("-") or "_"


def _same(a: Any, b: Any) -> bool:
    # `seconds: [5, 10]` excluded with `{seconds: "10"}` means the same value
    return a == b or str(a) == str(b)


@dataclass(frozen=True)
class Combination:
    name: str
    values: dict[str, Any]
    source: tuple[str, int] | None = None  # ("include", i) for an included entry


def expand(dims: dict[str, list[Any]], exclude: list[tuple[int, dict[str, Any]]], include: list[tuple[int, dict[str, Any]]]) -> tuple[list[Combination], list[int]]:
    """The variants in order, and the indexes of exclude entries that matched nothing."""
    if not dims:
        return [Combination("", {})], []
    names = list(dims)
    combos: list[dict[str, Any]] = [dict(zip(names, vals, strict=False)) for vals in itertools.product(*(dims[n] for n in names))]
    used: set[int] = set()
    kept = []
    for c in combos:
        hit = [i for i, e in exclude if all(_same(c[k], v) for k, v in e.items())]
        used.update(hit)
        if not hit:
            kept.append(Combination(name_of(names, c), c))
    for i, entry in include:
        values = {n: entry[n] for n in names}
        if not any(all(_same(k.values[n], values[n]) for n in names) for k in kept):
            kept.append(Combination(name_of(names, values), values, ("include", i)))
    unused = [i for i, _ in exclude if i not in used]
    return kept, unused


def name_of(names: list[str], values: dict[str, Any]) -> str:
    return ",".join(f"{n}={slug(values[n])}" for n in names)
