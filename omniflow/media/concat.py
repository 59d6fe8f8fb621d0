"""``concat``: join clips, in order, into one H.264 yuv420p MP4 — with their sound.

Clips may differ in size and frame rate. The output takes the first clip's
size (rounded down to even numbers, as yuv420p needs) and frame rate; every
other clip is scaled to fit and padded with black (never stretched), and
re-timed by showing, at each output tick, the input frame on screen at that
moment. Each clip contributes round(duration × fps) frames, so the output
lasts the sum of the inputs within half a frame per clip.

Sound: when any clip has an audio stream the output has one continuous
stereo AAC track exactly as long as the picture; a clip's own sound is cut or
padded to its frames' length, a silent clip contributes silence. With no
sound anywhere the output stays silent (no audio track), as before.

``crossfade`` (seconds, from ``transition: {crossfade: s}``) overlaps each
pair of neighbours by round(s × fps) frames, blending picture and sound
linearly; the film is then that much shorter per cut. Every clip's place in
the cut is written as an MP4 chapter (start = its first frame, end = where the
next clip starts), which ``subtitles`` with ``captions`` reads back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Placed:
    """One clip's place in the cut, in output frames."""

    start: int  # first frame (its fade-in included)
    frames: int


def layout(frame_counts: Sequence[int], overlap: int) -> list[Placed]:
    """Where each clip lands when neighbours overlap by ``overlap`` frames."""
    out, at = [], 0
    for n in frame_counts:
        out.append(Placed(at, n))
        at += n - overlap
    return out


def concat(videos: list[Path], dest: Path, *, crossfade: float = 0.0) -> Path:
    """Join ``videos`` in order into ``dest`` (MP4) and return ``dest``."""
    import av

    from omniflow.media import audio

    videos = [Path(v) for v in videos]
    dest = Path(dest)
    if not videos:
        raise MediaError("concat: no input videos")
    width, height, fps = _output_format(videos[0])
    counts = [_frame_count(v, fps) for v in videos]
    overlap = round(crossfade * fps) if len(videos) > 1 else 0
    _check_overlap(videos, counts, overlap, crossfade, fps)
    places = layout(counts, overlap)
    total = places[-1].start + places[-1].frames
    sound = any(audio.has_audio(v) for v in videos)
    with atomic_path(dest) as tmp:
        # bitexact: no encoder version strings or times in the file
        with av.open(str(tmp), "w", format="mp4", options={"fflags": "+bitexact"}) as out:
            stream = out.add_stream("libx264", rate=fps, options=dict(_X264_OPTIONS))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = 1 / fps
            stream.codec_context.flags |= av.codec.context.Flags.bitexact
            writer = audio.AudioWriter(out, audio.add_aac(out)) if sound else None
            sound_tail: Any = None
            held: list[Any] = []
            index = 0
            for i, clip in enumerate(videos):
                last = i == len(videos) - 1
                pending: deque[Any] = deque()
                for j, frame in enumerate(_retimed_frames(clip, fps, width, height, counts[i])):
                    if j < len(held):
                        frame = _blend(held[j], frame, (j + 1) / (len(held) + 1))
                    if overlap and not last:
                        pending.append(frame)
                        if len(pending) <= overlap:
                            continue
                        frame = pending.popleft()
                    frame.pts = index
                    frame.time_base = stream.codec_context.time_base
                    index += 1
                    out.mux(stream.encode(frame))
                held = list(pending)
                if writer is not None:
                    sound_tail = _clip_sound(writer, clip, places, i, overlap, fps, sound_tail)
            out.mux(stream.encode(None))
            if writer is not None:
                writer.close()
            out.set_chapters(_chapters(places, total, fps))
    assert index == total
    return dest


def _check_overlap(videos: list[Path], counts: list[int], overlap: int, crossfade: float, fps: Fraction) -> None:
    if crossfade < 0:
        raise MediaError(f"transition: crossfade must be 0 or more seconds, not {crossfade:g}")
    for clip, n in zip(videos, counts, strict=True):
        if overlap and 2 * overlap > n:
            raise MediaError(f"transition: a {crossfade:g} s crossfade needs clips of at least {2 * crossfade:g} s; "
                             f"{clip.name} lasts {float(n / fps):.2f} s")


def _chapters(places: list[Placed], total: int, fps: Fraction) -> list[dict[str, Any]]:
    """One chapter per clip, in milliseconds (what MP4 stores)."""
    out = []
    for i, p in enumerate(places):
        end = places[i + 1].start if i + 1 < len(places) else total
        out.append({"id": i + 1, "start": round(p.start / fps * 1000), "end": round(end / fps * 1000),
                    "time_base": Fraction(1, 1000), "metadata": {"title": f"clip {i + 1}"}})
    return out


def _sample(frame: int, fps: Fraction, rate: int) -> int:
    return round(frame * rate / fps)


def _clip_sound(writer: Any, clip: Path, places: list[Placed], i: int, overlap: int, fps: Fraction,
                tail: Any) -> Any:
    """Write clip ``i``'s sound up to the next clip's fade; return that faded-out tail."""
    import numpy as np

    from omniflow.media import audio

    rate = writer.rate
    p = places[i]
    begin, end = _sample(p.start, fps, rate), _sample(p.start + p.frames, fps, rate)
    own = audio.read_audio(clip, rate)
    samples = audio.fit(own if own is not None else audio.silence(0), end - begin).copy()
    if tail is not None and tail.shape[1]:
        n = min(tail.shape[1], samples.shape[1])
        samples[:, :n] = samples[:, :n] * np.linspace(0, 1, n, dtype=np.float32) + tail[:, :n]
    if overlap and i + 1 < len(places):
        cut = _sample(places[i + 1].start, fps, rate) - begin
        rest = samples[:, cut:] * np.linspace(1, 0, samples.shape[1] - cut, dtype=np.float32)
        writer.write(samples[:, :cut])
        return rest
    writer.write(samples)
    return None


def _blend(a: Any, b: Any, t: float) -> Any:
    """Frame ``b`` shown over frame ``a`` at opacity ``t``."""
    import av
    import numpy as np

    x = a.to_ndarray(format="rgb24").astype(np.float32)
    y = b.to_ndarray(format="rgb24").astype(np.float32)
    mixed = (x * (1 - t) + y * t).round().astype(np.uint8)
    return av.VideoFrame.from_ndarray(mixed, format="rgb24").reformat(format="yuv420p")


def _output_format(first: Path) -> tuple[int, int, Fraction]:
    with open_video(first) as (_, s):
        rate = s.average_rate or s.guessed_rate or _DEFAULT_FPS
        fps = Fraction(rate).limit_denominator(1001)
        width, height = s.width - s.width % 2, s.height - s.height % 2
    if width < 2 or height < 2:
        raise MediaError(f"{first}: video too small ({width}x{height})")
    return width, height, fps


def _frame_count(clip: Path, fps: Fraction) -> int:
    """Output frames the clip contributes: its duration at the output rate (at least one)."""
    with open_video(clip) as (c, s):
        duration = video_duration(c, s)
        if duration > 0:
            return max(1, round(duration * fps))
        # no duration in the header: last frame time + one input frame
        start = start_time(s)
        last_time = 0.0
        for frame in c.decode(s):
            last_time = (frame.time if frame.time is not None else 0.0) - start
        rate = float(s.average_rate or fps)
        return max(1, round((last_time + 1 / rate) * float(fps)))


def _retimed_frames(clip: Path, fps: Fraction, width: int, height: int, wanted: int) -> Iterator[Any]:
    """Yield exactly ``wanted`` frames of the clip at the output rate and size."""
    with open_video(clip) as (c, s):
        start = start_time(s)
        step = 1 / float(fps)
        shown: Any = None
        n = 0
        for frame in c.decode(s):
            t = (frame.time if frame.time is not None else 0.0) - start
            # every output tick before this frame's time shows the previous frame
            while shown is not None and n < wanted and n * step < t - 1e-9:
                yield shown
                n += 1
            shown = _fit(frame, width, height)
        if shown is None:
            raise MediaError(f"{clip}: no decodable frame")
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
