"""Fixtures for the local ops: real videos written with PyAV, solid-colour frames."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import pytest

Colour = tuple[int, int, int]


def write_video(
    path: Path,
    colours: Sequence[Colour],
    *,
    size: tuple[int, int] = (64, 48),
    fps: int | Fraction = 10,
) -> Path:
    """One solid-colour frame per entry of ``colours``, H.264 in MP4."""
    import av
    from PIL import Image

    width, height = size
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i, colour in enumerate(colours):
            frame = av.VideoFrame.from_image(Image.new("RGB", (width, height), colour))
            frame.pts = i
            frame.time_base = 1 / Fraction(fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(colours: Sequence[Colour], **kw) -> Path:  # type: ignore[no-untyped-def]
        return write_video(tmp_path / f"clip{next(counter)}.mp4", colours, **kw)

    return make
