"""Local step kinds (design §1): computed on this machine with PyAV, no API calls.

Kinds are a registry, not an if-chain: ``OPS[kind]`` is a :class:`LocalOp`, a
callable with one signature for every kind::

    OPS[kind](request, inputs, dest) -> dest

``request`` is the step's own fields (``{"from", "at"}``, ``{"inputs"}``);
``inputs`` are the upstream output files in the order the request first names
them (``from`` → one path; ``inputs`` → one path per entry; ``mix``: its video,
then each ``audio[].from``). The op writes its result to ``dest`` atomically.
PyAV and Pillow are imported only when an op runs.

Some ops make more than one file (``subtitles``: .srt, .vtt and, burned, an
MP4). ``op(...)`` writes the primary one to ``dest``; ``op.run_all(...)``
writes every file and returns their paths, primary first (for an executor
that records several outputs per step).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.core.keys import upstream_key, upstream_keys
from omniflow.errors import MediaError
from omniflow.media.concat import concat
from omniflow.media.frame import extract_frame
from omniflow.media.probe import MediaInfo, probe
from omniflow.media.sniff import EXTENSIONS, sniff_media_type


@dataclass(frozen=True)
class LocalOp:
    """A local step kind: what it produces and how to run it."""

    kind: str
    media_type: str  # of the (primary) output, as usually made; probe() tells the truth
    run: Callable[[Mapping[str, Any], Sequence[Path], Path], Path]
    run_many: Callable[[Mapping[str, Any], Sequence[Path], Path], list[Path]] | None = None

    @property
    def ext(self) -> str:
        return EXTENSIONS[self.media_type]

    def __call__(self, request: Mapping[str, Any], inputs: Sequence[Path], dest: Path) -> Path:
        try:
            return self.run(request, inputs, dest)
        except OSError as exc:  # disk full, permissions: still one clear line for the step
            raise MediaError(f"{self.kind}: {exc.strerror or exc}") from None

    def run_all(self, request: Mapping[str, Any], inputs: Sequence[Path], dest: Path) -> list[Path]:
        """Every output file, primary (at ``dest``) first."""
        if self.run_many is None:
            return [self(request, inputs, dest)]
        try:
            return self.run_many(request, inputs, dest)
        except OSError as exc:
            raise MediaError(f"{self.kind}: {exc.strerror or exc}") from None


def _frame(request: Mapping[str, Any], inputs: Sequence[Path], dest: Path) -> Path:
    if len(inputs) != 1:
        raise MediaError(f"frame: expected one input video, got {len(inputs)}")
    return extract_frame(inputs[0], request.get("at", "last"), dest)


def _concat(request: Mapping[str, Any], inputs: Sequence[Path], dest: Path) -> Path:
    transition = request.get("transition")
    crossfade = 0.0
    if transition is not None:
        fade = transition.get("crossfade") if isinstance(transition, Mapping) else None
        if not isinstance(fade, (int, float)) or isinstance(fade, bool) or fade < 0:
            raise MediaError(f"concat: transition must be {{crossfade: <seconds>}}, not {transition!r}")
        crossfade = float(fade)
    return concat(list(inputs), dest, crossfade=crossfade)


def input_paths(kind: str, request: Mapping[str, Any], inputs: Sequence[Path]) -> dict[str, Path]:
    """Upstream key -> file: the executor passes one path per key, in the request's first-use order."""
    keys = upstream_keys(request)
    if len(keys) != len(inputs):
        raise MediaError(f"{kind}: the request names {len(keys)} step outputs, but {len(inputs)} files came")
    return dict(zip(keys, map(Path, inputs), strict=True))


def _file(kind: str, where: str, value: Any, paths: Mapping[str, Path]) -> Path:
    key = upstream_key(value)
    if key is None:
        raise MediaError(f"{kind}: {where} must name a step output ({{{{ steps.<id>.url }}}}), not {value!r}; "
                         "local files need the loader to publish them (not wired yet)")
    return paths[key]


def _mix(request: Mapping[str, Any], inputs: Sequence[Path], dest: Path) -> Path:
    from omniflow.media.mix import Track, mix

    paths = input_paths("mix", request, inputs)
    video = _file("mix", "video", request.get("video"), paths)
    entries = request.get("audio")
    if not isinstance(entries, list) or not entries:
        raise MediaError("mix: audio must be a non-empty list of {from, at, volume, fade}")
    tracks = []
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping):
            raise MediaError(f"mix: audio[{i}] must be a mapping")
        tracks.append(Track(_file("mix", f"audio[{i}].from", e.get("from"), paths), float(e.get("at") or 0),
                            float(1.0 if e.get("volume") is None else e["volume"]), float(e.get("fade") or 0),
                            bool(e.get("bed", False))))
    return mix(video, tracks, dest, original=str(request.get("original") or "keep"))


def _subtitle_files(request: Mapping[str, Any], inputs: Sequence[Path], dest: Path, every: bool) -> list[Path]:
    from omniflow.media import subtitles as st
    from omniflow.media.audio import media_duration

    if len(inputs) != 1:
        raise MediaError(f"subtitles: expected one input video, got {len(inputs)}")
    video = Path(inputs[0])
    lines, captions = request.get("lines"), request.get("captions")
    if (lines is None) == (captions is None):
        raise MediaError("subtitles: give either lines or captions")
    duration = media_duration(video)
    cues = st.cues_from_lines(lines, duration) if lines is not None else st.cues_from_captions(captions, video, duration)
    dest = Path(dest)
    srt, vtt = dest.with_name(dest.name + ".srt"), dest.with_name(dest.name + ".vtt")
    if request.get("burn"):
        st.burn(video, cues, dest)
        if not every:
            return [dest]
        st.write_text(cues, srt, vtt)
        return [dest, srt, vtt]
    # not burned: the primary output is the WebVTT text (every player and browser reads it)
    st.write_text(cues, srt, dest)
    if not every:
        srt.unlink(missing_ok=True)
        return [dest]
    return [dest, srt]


def _subtitles(request: Mapping[str, Any], inputs: Sequence[Path], dest: Path) -> Path:
    return _subtitle_files(request, inputs, dest, every=False)[0]


def _subtitles_all(request: Mapping[str, Any], inputs: Sequence[Path], dest: Path) -> list[Path]:
    return _subtitle_files(request, inputs, dest, every=True)


OPS: dict[str, LocalOp] = {
    "frame": LocalOp("frame", "image/png", _frame),
    "concat": LocalOp("concat", "video/mp4", _concat),
    "mix": LocalOp("mix", "video/mp4", _mix),
    "subtitles": LocalOp("subtitles", "video/mp4", _subtitles, _subtitles_all),
}

__all__ = [
    "EXTENSIONS",
    "OPS",
    "LocalOp",
    "MediaError",
    "MediaInfo",
    "concat",
    "input_paths",
    "extract_frame",
    "probe",
    "sniff_media_type",
]
