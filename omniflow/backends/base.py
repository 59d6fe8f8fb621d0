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
    error: str | None  # the server's failure text, for failed tasks
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
    kind: str  # "emulator" | "omnirouters"
    poll_interval: tuple[float, float]  # (first, max) seconds

    async def create(self, kind: str, body: Mapping[str, Any]) -> str: ...

    async def get(self, kind: str, task_id: str) -> TaskState: ...

    async def download(
        self, kind: str, task_id: str, state: TaskState, dest: Path, *, max_bytes: int
    ) -> Download: ...

    async def publish(self, path: Path, media_type: str) -> str: ...

    async def aclose(self) -> None: ...
