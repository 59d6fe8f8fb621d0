"""Local step kinds (design §1): computed on this machine with PyAV, no API calls.

Kinds are a registry, not an if-chain: ``OPS[kind]`` is a :class:`LocalOp`, a
callable with one signature for every kind::

    OPS[kind](request, inputs, dest) -> dest

``request`` is the step's own fields (``{"from", "at"}``, ``{"inputs"}``);
``inputs`` are the upstream output files in the order the request names them
(``from`` → one path; ``inputs`` → one path per entry). The op writes its result
to ``dest`` atomically. PyAV and Pillow are imported only when an op runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.errors import MediaError
from omniflow.media.concat import concat
from omniflow.media.frame import extract_frame
from omniflow.media.probe import MediaInfo, probe
from omniflow.media.sniff import EXTENSIONS, sniff_media_type


@dataclass(frozen=True)
class LocalOp:
    """A local step kind: what it produces and how to run it."""

    kind: str
    media_type: str  # of the output
    run: Callable[[Mapping[str, Any], Sequence[Path], Path], Path]

    @property
    def ext(self) -> str:
        return EXTENSIONS[self.media_type]

    def __call__(self, request: Mapping[str, Any], inputs: Sequence[Path], dest: Path) -> Path:
        try:
            return self.run(request, inputs, dest)
        except OSError as exc:  # disk full, permissions: still one clear line for the step
            raise MediaError(f"{self.kind}: {exc.strerror or exc}") from None


def _frame(request: Mapping[str, Any], inputs: Sequence[Path], dest: Path) -> Path:
    if len(inputs) != 1:
        raise MediaError(f"frame: expected one input video, got {len(inputs)}")
    return extract_frame(inputs[0], request.get("at", "last"), dest)


def _concat(request: Mapping[str, Any], inputs: Sequence[Path], dest: Path) -> Path:
    return concat(list(inputs), dest)


OPS: dict[str, LocalOp] = {
    "frame": LocalOp("frame", "image/png", _frame),
    "concat": LocalOp("concat", "video/mp4", _concat),
}

__all__ = [
    "EXTENSIONS",
    "OPS",
    "LocalOp",
    "MediaError",
    "MediaInfo",
    "concat",
    "extract_frame",
    "probe",
    "sniff_media_type",
]
