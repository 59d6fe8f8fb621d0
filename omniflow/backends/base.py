"""The backend seam: what the executor needs from an API, and the values it gets back."""

from __future__ import annotations

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

    async def aclose(self) -> None: ...
