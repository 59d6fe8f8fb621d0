"""The values the cache stores about outputs: ObjectInfo (one file) and Entry (one step key).

Plain frozen dataclasses with ``to_json`` / ``from_json``; ``from_json`` checks
every field and says which one is wrong (a hand-edited or corrupt index entry
or lock must give a clear error, never a traceback). :func:`make_entry` is the
one way a finished step's Entry is made.

``cost`` was added later: it is written only when known, so an entry or lock
written before reads the same and an unpriced step's text does not change.
``ratios`` (the billing multipliers of the create's answer, API §4) likewise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_HEX64 = re.compile(r"[0-9a-f]{64}")

# Extensions for materialized outputs; anything else falls back to mimetypes, then ".bin".
_EXTENSIONS = {
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/ogg": ".ogg",
    "audio/flac": ".flac",
    "text/vtt": ".vtt",
    "application/x-subrip": ".srt",
    "application/json": ".json",
}


def ext_for(media_type: str) -> str:
    """The file extension for a media type (``video/mp4`` -> ``.mp4``)."""
    base = media_type.split(";", 1)[0].strip().lower()
    if base in _EXTENSIONS:
        return _EXTENSIONS[base]
    import mimetypes

    return mimetypes.guess_extension(base) or ".bin"


def is_hex64(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _check_hex64(value: str, what: str) -> str:
    # Keys and sha256s become path components: refuse anything that could escape the folder.
    if not is_hex64(value):
        raise ValueError(f"{what} must be 64 lowercase hex characters, got {value!r}")
    return value


@dataclass(frozen=True)
class ObjectInfo:
    """One stored output: its bytes by sha256, plus what the caller knows of the media."""

    sha256: str
    bytes: int
    media_type: str
    ext: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "bytes": self.bytes,
            "media_type": self.media_type,
            "ext": self.ext,
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_json(cls, data: Any) -> ObjectInfo:
        """Build from a mapping; ValueError says which field is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("an output must be a mapping")
        if not is_hex64(data.get("sha256")):
            raise ValueError("output sha256 must be 64 lowercase hex characters")
        size = data.get("bytes")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("output bytes must be a non-negative integer")
        media_type = data.get("media_type")
        if not isinstance(media_type, str) or not media_type:
            raise ValueError("output media_type must be a string")
        ext = data.get("ext") or ext_for(media_type)
        if not isinstance(ext, str):
            raise ValueError("output ext must be a string")
        return cls(
            sha256=data["sha256"],
            bytes=size,
            media_type=media_type,
            ext=ext,
            duration=_opt_number(data, "duration", float),
            width=_opt_number(data, "width", int),
            height=_opt_number(data, "height", int),
        )


def _opt_number(data: Mapping[str, Any], name: str, typ: type) -> Any:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number or null")
    if typ is int:
        if value != int(value):
            raise ValueError(f"{name} must be an integer")
        return int(value)
    return value


def _opt_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string or null")
    return value


@dataclass(frozen=True)
class Entry:
    """What the index records for one step key."""

    key: str
    kind: str
    outputs: tuple[ObjectInfo, ...]
    upstream: Mapping[str, str] = field(default_factory=dict)  # upstream key -> sha256 consumed
    task_id: str | None = None
    model: str | None = None
    request: Mapping[str, Any] = field(default_factory=dict)  # as sent, real URLs
    backend: str = ""
    submitted_at: str | None = None
    completed_at: str | None = None
    generated_seconds: float | None = None
    cost: float | None = None  # priced by omniflow.planning.cost when made; None without a price
    ratios: Mapping[str, float] | None = None  # X-New-Api-Other-Ratios of its create; None when not sent

    @property
    def bytes(self) -> int:
        return sum(o.bytes for o in self.outputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "outputs": [o.to_json() for o in self.outputs],
            "upstream": dict(self.upstream),
            "task_id": self.task_id,
            "model": self.model,
            "request": dict(self.request),
            "backend": self.backend,
            "submitted_at": self.submitted_at,
            "completed_at": self.completed_at,
            "generated_seconds": self.generated_seconds,
        } | ({} if self.cost is None else {"cost": self.cost}) | (
            {} if self.ratios is None else {"ratios": dict(self.ratios)})

    @classmethod
    def from_json(cls, data: Any) -> Entry:
        """Build from a mapping; ValueError says which field is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("an entry must be a JSON object")
        if not is_hex64(data.get("key")):
            raise ValueError("key must be 64 lowercase hex characters")
        kind = data.get("kind")
        if not isinstance(kind, str) or not kind:
            raise ValueError("kind must be a string")
        outputs = data.get("outputs")
        if not isinstance(outputs, list):
            raise ValueError("outputs must be a list")
        upstream = data.get("upstream") or {}
        if not isinstance(upstream, Mapping) or not all(
            is_hex64(k) and is_hex64(v) for k, v in upstream.items()
        ):
            raise ValueError("upstream must map keys to sha256s")
        request = data.get("request") or {}
        if not isinstance(request, Mapping):
            raise ValueError("request must be an object")
        backend = data.get("backend") or ""
        if not isinstance(backend, str):
            raise ValueError("backend must be a string")
        cost = _opt_number(data, "cost", float)
        if cost is not None and not cost >= 0:
            raise ValueError("cost must be a number >= 0 or null")
        ratios = data.get("ratios")
        if ratios is not None and not (isinstance(ratios, Mapping) and all(
                isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
                for k, v in ratios.items())):
            raise ValueError("ratios must map names to numbers")
        return cls(
            key=data["key"],
            kind=kind,
            outputs=tuple(ObjectInfo.from_json(o) for o in outputs),
            upstream=dict(upstream),
            task_id=_opt_str(data, "task_id"),
            model=_opt_str(data, "model"),
            request=dict(request),
            backend=backend,
            submitted_at=_opt_str(data, "submitted_at"),
            completed_at=_opt_str(data, "completed_at"),
            generated_seconds=_opt_number(data, "generated_seconds", float),
            cost=cost,
            ratios=None if ratios is None else dict(ratios),
        )


def make_entry(
    key: str,
    kind: str,
    output: ObjectInfo | Sequence[ObjectInfo],
    request: Mapping[str, Any],
    *,
    backend: str,
    upstream: Mapping[str, str] | None = None,
    task_id: str | None = None,
    seconds: float | None = None,
    cost: float | None = None,
    submitted_at: str | None = None,
    completed_at: str | None = None,
    ratios: Mapping[str, float] | None = None,
) -> Entry:
    """The Entry of one finished step (or collected task) that produced ``output``.

    ``output`` may be several files, the primary first (a ``subtitles`` step:
    its burned MP4 or WebVTT, then the other subtitle files); downstream steps read the first.

    ``request`` is what was sent (the lock's copy: real URLs) or, for a local
    step, its parameters; the model is read from it (local steps have none).
    ``seconds`` are the generated seconds of a video, ``cost`` its price
    (omniflow.planning.cost), both None when unknown.
    """
    model = request.get("model")
    return Entry(
        key=key, kind=kind, outputs=(output,) if isinstance(output, ObjectInfo) else tuple(output), upstream=dict(upstream or {}), task_id=task_id,
        model=model if isinstance(model, str) else None, request=dict(request), backend=backend,
        submitted_at=submitted_at, completed_at=completed_at, generated_seconds=seconds, cost=cost,
        ratios=None if ratios is None else dict(ratios),
    )
