"""Before a run: fetch from the remote every selected step the team already made.

This is the "check the remote before creating" step of a shared sweep: the
run engine (or a shard) calls :func:`prefetch` with the steps it is about to
plan; whatever the remote holds lands in the local cache, so the plan counts
it as cached and nothing is created for it. A corrupt remote copy is
reported and skipped: the step is then simply generated again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from omniflow.language.model import Pipeline
from omniflow.remote.s3 import RemoteCache
from omniflow.remote.select import pipeline_keys
from omniflow.store.cache import Cache


@dataclass(frozen=True)
class FetchReport:
    fetched: tuple[str, ...] = ()
    local: tuple[str, ...] = ()       # already complete locally: nothing asked
    absent: tuple[str, ...] = ()      # the remote does not have them: they will run
    corrupt: Mapping[str, str] = field(default_factory=dict)


def prefetch(remote: RemoteCache, pipeline: Pipeline, cache: Cache,
             targets: Mapping[str, set[str]] | None = None) -> FetchReport:
    """Fetch the selected steps (all, or ``targets``) the remote holds and the cache lacks."""
    keys = pipeline_keys(pipeline.variants, dict(targets) if targets is not None else None)
    local = [k for k in keys if cache.complete_entry(k) is not None]
    seen = set(local)
    todo = [k for k in keys if k not in seen]
    present = remote.has_many(todo)
    report = remote.pull(cache, [k for k in todo if k in present])
    # "present" in the pull: another process cached it meanwhile, as good as fetched
    fetched = (*report.fetched, *report.present)
    done = {*fetched, *report.corrupt}
    absent = tuple(k for k in todo if k not in done)
    return FetchReport(fetched, tuple(local), absent, dict(report.corrupt))
