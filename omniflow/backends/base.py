"""The backend seam: what the executor needs from an API, and the values it gets back."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

#: public task statuses (API reference §6.1); the last two are terminal
STATUSES = ("queued", "in_progress", "unknown", "completed", "failed")
TERMINAL = frozenset({"completed", "failed"})


@dataclass(frozen=True)
class TaskState:
    status: str  # queued | in_progress | completed | failed | unknown
    progress: int  # 0-100
    url: str | None  # result URL when the server gave one
    error: str | None  # the server's failure text, for failed tasks: key scrubbed, length bounded (scrub.py)
    # the decoded answer as the server sent it (not scrubbed): for tests and debugging, never stored
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class Download:
    """A verified download, still in a temp file the caller moves into the cache."""

    path: Path
    sha256: str
    bytes: int
    media_type: str


@runtime_checkable
class Backend(Protocol):
    """One attempt per call; what an answer proves is in the error (design §3).

    ``create`` raises :class:`~omniflow.errors.UnknownCreateError` when a task
    may have been made, ``BackendError(retryable=True)`` only when the answer
    proves none was; ``get`` and ``download`` raise ``retryable=True`` for
    transient failures. The caller (``omniflow/run``) decides what to send again.
    """

    kind: str  # "emulator" | "omnirouters"
    poll_interval: tuple[float, float]  # (first, max) seconds between status polls
    forgets_tasks: bool  # True: tasks die with this process (the in-process emulator); resubmit, never resume
    poll_intervals: Mapping[str, tuple[float, float]]  # per step kind, where the server's pace differs (Suno: 15 s)

    async def create(self, kind: str, body: Mapping[str, Any]) -> str: ...

    async def get(self, kind: str, task_id: str) -> TaskState: ...

    async def download(
        self, kind: str, task_id: str, state: TaskState, dest_dir: Path, *, max_bytes: int, deadline: float
    ) -> Download:
        """``deadline``: seconds for the whole transfer, not only between two reads."""
        ...

    async def publish(self, path: Path, media_type: str) -> str: ...

    async def find_tasks(self, body_digest: str) -> list[str] | None:
        """Ids of the tasks made from a body (canonical-JSON sha256); None when the server cannot tell."""
        ...

    def ratios_of(self, task_id: str) -> dict[str, float] | None:
        """The billing multipliers the create of ``task_id`` was answered with (API §4), None when none came."""
        ...

    async def list_models(self) -> list[str]:
        """The model ids the key may use (``GET /v1/models``, one attempt)."""
        ...

    async def aclose(self) -> None: ...


RATIOS_HEADER = "X-New-Api-Other-Ratios"
_MAX_RATIOS = 4096  # bytes of header read; a longer one is not a small table of multipliers


def parse_ratios(text: str | None) -> dict[str, float] | None:
    """The billing multipliers of a create's answer (API §4: a JSON object of numbers), or None.

    Anything else (absent, not JSON, not an object of numbers, oversized) is
    None: the multipliers are a record for the ledger, never a reason to fail.
    """
    if not text or len(text) > _MAX_RATIOS:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    out: dict[str, float] = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        out[str(name)] = value
    return out

