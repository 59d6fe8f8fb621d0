"""``probe``: media type, extension, duration and size of a local file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.errors import MediaError
from omniflow.media.sniff import (
    AUDIO_TYPES,
    EXTENSIONS,
    SNIFF_BYTES,
    SUBTITLE_TYPES,
    describe_head,
    sniff_media_type,
)


@dataclass(frozen=True)
class MediaInfo:
    media_type: str  # "video/mp4" | "image/png" | ... | "audio/mpeg" | ... | "text/vtt" (sniff.EXTENSIONS)
    ext: str  # "mp4" | "png" | "jpg" | "webp" | "mp3" | ... | "srt" | "vtt"
    duration: float | None  # seconds, videos and sounds only
    width: int | None
    height: int | None



def probe(path: Path) -> MediaInfo:
    """Identify a file by its bytes (not its name) and read its duration and size."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        raise MediaError(f"{path}: cannot read: {exc.strerror or exc}") from None
    media_type = sniff_media_type(head)
    if media_type is None:
        raise MediaError(
            f"{path}: not a supported media file (expected MP4, PNG, JPEG, WebP, audio or subtitles; "
            f"found {describe_head(head)})"
        )
    if media_type in SUBTITLE_TYPES:
        return MediaInfo(media_type, EXTENSIONS[media_type], None, None, None)
    if media_type in AUDIO_TYPES:
        from omniflow.media.audio import media_duration

        return MediaInfo(media_type, EXTENSIONS[media_type], media_duration(path), None, None)
    if media_type == "video/mp4":
        duration, width, height = _video_facts(path)
    else:
        duration = None
        width, height = _image_size(path)
    return MediaInfo(media_type, EXTENSIONS[media_type], duration, width, height)


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise MediaError(f"{path}: unreadable image: {exc}") from None


def _video_facts(path: Path) -> tuple[float, int, int]:
    with open_video(path) as (container, stream):
        return video_duration(container, stream), stream.width, stream.height


@contextlib.contextmanager
def open_video(path: Path) -> Iterator[tuple[Any, Any]]:
    """The container and its first video stream; a PyAV error, here or in the block, becomes a MediaError."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            yield container, container.streams.video[0]
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: unreadable video: {exc}") from None


def video_duration(container, stream) -> float:  # type: ignore[no-untyped-def]
    """Seconds of the video stream: its own duration, else the container's, else 0."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return 0.0


def start_time(stream) -> float:  # type: ignore[no-untyped-def]
    """Seconds at which the stream's first frame is shown (frame times are offset by it)."""
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0
