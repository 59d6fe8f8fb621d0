"""Sharding a sweep across machines: ``--shard i/n`` (design §6).

The variants are sorted by name and dealt round-robin: the ``j``-th name
(0-based, in code-point order) belongs to 0-based shard ``j mod n``. Every
machine sorts the same names the same way, so the split needs no
coordination, and shard sizes differ by at most one (6 variants over 3
shards are 2/2/2). Changed in 0.2: until then a variant's shard was the
sha256 of its name mod ``n``, which kept a variant in place when the matrix
grew but could leave shards empty (those 6 variants split 5/0/1). A
variant's shard never changes its key, only which machine runs it.

A step shared by variants of different shards (same key) is selected in each
of those shards. Run one after the other through a shared remote, the later
shard finds it there and fetches it instead of creating it (the run checks
the remote first); run at the same moment, both may create it. Either way
the result is correct: keys are content, and a pulled entry is cached only
if the upstream outputs it consumed are the ones the cache holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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


def assign_shards(variant_names: Iterable[str], n: int) -> dict[str, int]:
    """Variant name -> its 0-based shard: round-robin over the sorted, distinct names."""
    if n < 1:
        raise ValueError("n must be at least 1")
    return {name: j % n for j, name in enumerate(sorted(set(variant_names)))}


def select_shard(pipeline: Pipeline, i: int, n: int) -> dict[str, set[str]]:
    """Variant name -> every step id, for the variants of 1-based shard ``i`` of ``n``.

    The same form ``omniflow.run.resolve_targets`` returns (a whole variant
    is its own ancestors), so ``make_plan(..., targets=...)`` plans just the
    shard. A shard may be empty (fewer variants than shards): the mapping is
    then ``{}``, which means "nothing", not "everything".
    """
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"shard {i}/{n}: i must be between 1 and n")
    shard = assign_shards((v.name for v in pipeline.variants), n)
    return {v.name: {s.id for s in v.steps} for v in pipeline.variants if shard[v.name] == i - 1}


def shard_targets(pipeline: Pipeline, i: int, n: int) -> list[str]:
    """The shard as ``step@variant`` strings, for APIs that take target strings."""
    chosen = select_shard(pipeline, i, n)
    return [f"{sid}@{name}" for name in sorted(chosen) for sid in sorted(chosen[name])]
