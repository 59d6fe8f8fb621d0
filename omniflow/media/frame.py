"""``frame``: one still of a video as PNG (first, last, or the frame shown at t seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omniflow.errors import MediaError
from omniflow.media.probe import open_video, start_time, video_duration
from omniflow.store._atomic import atomic_path

# Seek this far before the end for "last": the seek lands on an earlier keyframe,
# and decoding from there to the end still ends on the true last frame.
_LAST_SEEK_MARGIN = 2.0


def parse_at(at: Any) -> str | float:
    """Normalise ``at``: "first", "last" or a non-negative number of seconds."""
    if isinstance(at, str):
        word = at.strip().lower()
        if word in ("first", "last"):
            return word
        try:
            at = float(word)
        except ValueError:
            raise MediaError(f'at: expected "first", "last" or seconds, got {at!r}') from None
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        raise MediaError(f'at: expected "first", "last" or seconds, got {at!r}')
    if at != at or at < 0:  # NaN or negative
        raise MediaError(f"at: seconds must be 0 or more, got {at}")
    return float(at)


def extract_frame(video: Path, at: str | float, dest: Path) -> Path:
    """Write the chosen frame of ``video`` to ``dest`` as PNG and return ``dest``."""
    image = read_frame(video, at)
    with atomic_path(Path(dest)) as tmp:
        image.save(tmp, format="PNG")  # PIL writes no time chunk, so the PNG is deterministic
    return Path(dest)


def read_frame(video: Path, at: str | float) -> Any:
    """The chosen frame of ``video`` as an RGB PIL image."""
    video = Path(video)
    where = parse_at(at)
    with open_video(video) as (container, stream):
        duration = video_duration(container, stream)
        if where == "first":
            frame = _first(container, stream)
        elif where == "last":
            frame = _last(container, stream, duration)
        else:
            assert isinstance(where, float)
            if where > duration + 1e-6:
                raise MediaError(f"at: {where:g} s is beyond the end of {video.name} ({duration:.3f} s long)")
            frame = _at(container, stream, where)
    if frame is None:
        raise MediaError(f"{video}: no decodable frame")
    return frame.to_image()


def _first(container, stream):  # type: ignore[no-untyped-def]
    for frame in container.decode(stream):
        return frame
    return None


def _last(container, stream, duration: float):  # type: ignore[no-untyped-def]
    if duration > _LAST_SEEK_MARGIN and stream.time_base is not None:
        target = int((duration - _LAST_SEEK_MARGIN) / stream.time_base)
        container.seek(target, stream=stream, backward=True, any_frame=False)
        frame = _drain(container, stream)
        if frame is not None:
            return frame
        container.seek(0, stream=stream)
    return _drain(container, stream)


def _drain(container, stream):  # type: ignore[no-untyped-def]
    last = None
    for last in container.decode(stream):  # noqa: B007 - we want the final one
        pass
    return last


def _at(container, stream, t: float):  # type: ignore[no-untyped-def]
    """The frame on screen at t: the last one whose presentation time is <= t."""
    start = start_time(stream)
    if t > 0 and stream.time_base is not None:
        container.seek(int((t + start) / stream.time_base), stream=stream, backward=True)
    shown = None
    for frame in container.decode(stream):
        ft = (frame.time if frame.time is not None else 0.0) - start
        if shown is not None and ft > t + 1e-6:
            break
        shown = frame
    return shown

