"""Sharding a sweep across machines: ``--shard i/n`` (design §6).

A variant belongs to shard ``shard_of(name, n) + 1``: the sha256 of its name
mod ``n``. The assignment depends only on the variant's name and ``n``, so
every machine computes the same split with no coordination, and adding a
variant to the matrix never moves the others.

A step shared by variants of different shards (same key) is selected in each
of those shards. Run one after the other through a shared remote, the later
shard finds it there and fetches it instead of creating it (the run checks
the remote first); run at the same moment, both may create it. Either way
the result is correct: keys are content, and a pulled entry is cached only
if the upstream outputs it consumed are the ones the cache holds.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from omniflow.errors import UsageError

if TYPE_CHECKING:  # the language package is heavy; shard parsing must stay cheap
    from omniflow.language.model import Pipeline

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """``"1/2"`` -> ``(1, 2)``: 1-based shard ``i`` of ``n``, as users write it."""
    m = _SHARD.fullmatch(text or "")
    if m is None:
        raise UsageError(f"--shard {text!r}: expected i/n with whole numbers, e.g. 1/4")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"--shard {text!r}: i must be between 1 and n (shards are numbered 1/{max(n, 1)} "
                         f"to {max(n, 1)}/{max(n, 1)})")
    return i, n


def shard_of(variant_name: str, n: int) -> int:
    """The 0-based shard of a variant: sha256 of its name mod ``n`` (stable everywhere)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    return int.from_bytes(hashlib.sha256(variant_name.encode("utf-8")).digest(), "big") % n


def select_shard(pipeline: Pipeline, i: int, n: int) -> dict[str, set[str]]:
    """Variant name -> every step id, for the variants of 1-based shard ``i`` of ``n``.

    The same form ``omniflow.run.resolve_targets`` returns (a whole variant
    is its own ancestors), so ``make_plan(..., targets=...)`` plans just the
    shard. A shard may be empty (few variants, many shards): the mapping is
    then ``{}``, which means "nothing", not "everything".
    """
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"shard {i}/{n}: i must be between 1 and n")
    return {v.name: {s.id for s in v.steps} for v in pipeline.variants if shard_of(v.name, n) == i - 1}


def shard_targets(pipeline: Pipeline, i: int, n: int) -> list[str]:
    """The shard as ``step@variant`` strings, for APIs that take target strings."""
    chosen = select_shard(pipeline, i, n)
    return [f"{sid}@{name}" for name in sorted(chosen) for sid in sorted(chosen[name])]
