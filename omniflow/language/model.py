"""The loaded pipeline: frozen, picklable values (docs/internals.md fixes their fields)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.errors import Location, Problem


@dataclass(frozen=True)
class RenderedStep:
    """One step of one variant, rendered: the request as it will be sent, with placeholders."""

    id: str
    kind: str  # "video" | "image" | "frame" | "concat" (see language.kinds)
    variant: str  # variant name ("" when there is no matrix)
    request: Mapping[str, Any]  # API body (remote) or {"from","at"} / {"inputs"} (local), with placeholders
    take: int
    key: str  # keys.step_key(...)
    inputs: tuple[str, ...]  # ids of the upstream steps whose outputs it consumes (data edges)
    needs: tuple[str, ...]  # ordering-only edges
    model: str | None
    seconds: float | None  # generated seconds (remote video only)
    files: Mapping[str, str]  # sha256 -> absolute path of local input files
    location: Location  # where the step is declared
    description: str = ""
    # ``takes: N`` (N > 1): one RenderedStep per candidate (same id, own take and key,
    # no candidates of its own). The step in Variant.steps carries the chosen
    # candidate's take and key, so everything downstream sees the pick.
    takes: int = 1
    candidates: tuple[RenderedStep, ...] = ()
    pick: int | None = None  # the take named in the picks file; None: the first candidate
    caption: str | None = None  # omniflow's own step field (never sent, not in the key): subtitles' captions: shots


@dataclass(frozen=True)
class Variant:
    name: str  # "style=hand-drawn-anime,seconds=5", or "" without a matrix
    values: Mapping[str, Any]
    steps: tuple[RenderedStep, ...]  # topological order, ties by declaration order

    def step(self, step_id: str) -> RenderedStep:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


@dataclass(frozen=True)
class Pipeline:
    path: Path
    name: str
    description: str
    backend: str
    variants: tuple[Variant, ...]
    step_ids: tuple[str, ...]  # declaration order
    warnings: tuple[Problem, ...]
    lock_path: Path  # <dir>/<stem>.lock
    root: Path  # project root: folder holding the nearest .omniflow, else cwd
    picks_path: Path | None = None  # <dir>/<stem>.picks.yaml (omniflow pick writes it)

    # Sugar for the facade (omniflow.plan / omniflow.run): the language layer
    # never imports planning/ or run/ itself.
    def plan(self, **kwargs: Any) -> Any:
        """Plan against the project's cache, lock and journal (no network): ``omniflow.plan(self)``."""
        import omniflow

        return omniflow.plan(self, **kwargs)

    def run(self, **kwargs: Any) -> Any:
        """Run the pipeline (backend=, jobs=, targets=, keep_going=, ...): ``omniflow.run(self)``."""
        import omniflow

        return omniflow.run(self, **kwargs)
