"""``concat``: join clips, in order, into one H.264 yuv420p MP4.

Clips may differ in size and frame rate. The output takes the first clip's
size (rounded down to even numbers, as yuv420p needs) and frame rate; every
other clip is scaled to fit and padded with black (never stretched), and
re-timed by showing, at each output tick, the input frame on screen at that
moment. Each clip contributes round(duration × fps) frames, so the output
lasts the sum of the inputs within half a frame per clip.

Audio is not carried over (the clips omniflow joins today are silent proxies).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from omniflow.errors import MediaError
from omniflow.media.probe import open_video, start_time, video_duration
from omniflow.store._atomic import atomic_path

# Fixed encoder settings: the same inputs give the same bytes on any machine
# (x264's output depends on its thread count, so the count is pinned).
_X264_OPTIONS = {"preset": "veryfast", "crf": "20", "threads": "2"}
_DEFAULT_FPS = Fraction(24)


def concat(videos: list[Path], dest: Path) -> Path:
    """Join ``videos`` in order into ``dest`` (MP4) and return ``dest``."""
    import av

    videos = [Path(v) for v in videos]
    dest = Path(dest)
    if not videos:
        raise MediaError("concat: no input videos")
    width, height, fps = _output_format(videos[0])
    with atomic_path(dest) as tmp:
        # bitexact: no encoder version strings or times in the file
        with av.open(str(tmp), "w", format="mp4", options={"fflags": "+bitexact"}) as out:
            stream = out.add_stream("libx264", rate=fps, options=dict(_X264_OPTIONS))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = 1 / fps
            stream.codec_context.flags |= av.codec.context.Flags.bitexact
            index = 0
            for clip in videos:
                for frame in _retimed_frames(clip, fps, width, height):
                    frame.pts = index
                    frame.time_base = stream.codec_context.time_base
                    index += 1
                    out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    return dest


def _output_format(first: Path) -> tuple[int, int, Fraction]:
    with open_video(first) as (_, s):
        rate = s.average_rate or s.guessed_rate or _DEFAULT_FPS
        fps = Fraction(rate).limit_denominator(1001)
        width, height = s.width - s.width % 2, s.height - s.height % 2
    if width < 2 or height < 2:
        raise MediaError(f"{first}: video too small ({width}x{height})")
    return width, height, fps


def _retimed_frames(clip: Path, fps: Fraction, width: int, height: int):  # type: ignore[no-untyped-def]
    """Yield the clip's frames at the output rate and size."""
    with open_video(clip) as (c, s):
        duration = video_duration(c, s)
        start = start_time(s)
        step = 1 / float(fps)
        wanted: float | None = round(duration * fps) if duration > 0 else None
        shown: Any = None
        n = 0
        last_time = 0.0
        for frame in c.decode(s):
            t = (frame.time if frame.time is not None else 0.0) - start
            last_time = t
            # every output tick before this frame's time shows the previous frame
            while shown is not None and (wanted is None or n < wanted) and n * step < t - 1e-9:
                yield shown
                n += 1
            shown = _fit(frame, width, height)
        if shown is None:
            raise MediaError(f"{clip}: no decodable frame")
        if wanted is None:  # no duration in the header: last frame time + one input frame
            rate = float(s.average_rate or fps)
            wanted = max(1, round((last_time + 1 / rate) * float(fps)))
        while n < wanted:
            yield shown
            n += 1


def _fit(frame: Any, width: int, height: int) -> Any:
    """The frame as yuv420p at width×height: scaled to fit, centred, black bars."""
    import av

    if frame.width == width and frame.height == height:
        return frame.reformat(format="yuv420p")
    from PIL import Image

    scale = min(width / frame.width, height / frame.height)
    w = max(1, round(frame.width * scale))
    h = max(1, round(frame.height * scale))
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    canvas.paste(frame.to_image().resize((w, h), Image.Resampling.BILINEAR), ((width - w) // 2, (height - h) // 2))
    return av.VideoFrame.from_image(canvas).reformat(format="yuv420p")
