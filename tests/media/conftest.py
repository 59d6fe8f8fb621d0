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
    tone: float | None = None,
) -> Path:
    """One solid-colour frame per entry of ``colours``, H.264 in MP4; ``tone``: a sine (Hz) as AAC."""
    import av
    from PIL import Image

    width, height = size
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = _sound(out) if tone is not None else None  # every stream exists before the first packet
        for i, colour in enumerate(colours):
            frame = av.VideoFrame.from_image(Image.new("RGB", (width, height), colour))
            frame.pts = i
            frame.time_base = 1 / Fraction(fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None and tone is not None:
            sound.write(tone_samples(tone, len(colours) / float(fps)))
            sound.close()
    return path


def _sound(out):  # type: ignore[no-untyped-def]
    from omniflow.media.audio import AudioWriter, add_aac

    return AudioWriter(out, add_aac(out))


def tone_samples(hz: float, seconds: float, rate: int = 48_000, level: float = 0.5):  # type: ignore[no-untyped-def]
    import numpy as np

    t = np.arange(round(seconds * rate)) / rate
    x = (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.vstack([x, x])


def write_sound(path: Path, hz: float, seconds: float, fmt: str = "mp3") -> Path:
    """A sound file (a sine) in ``fmt``, as the speech and music steps would download."""
    from omniflow.media.audio import encode

    path.write_bytes(encode(tone_samples(hz, seconds, 24_000), fmt, 24_000))
    return path


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(colours: Sequence[Colour], **kw) -> Path:  # type: ignore[no-untyped-def]
        return write_video(tmp_path / f"clip{next(counter)}.mp4", colours, **kw)

    return make
