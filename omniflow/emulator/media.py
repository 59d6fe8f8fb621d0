"""Real media for emulator outputs: MP4 animatics (PyAV) and PNG keyframes (Pillow).

Pure functions of their inputs (request, seed, take, reference image bytes): the
same request and take render the same bytes, so cache keys computed over
emulator output are stable. Another take of the same request is a re-roll: its
own seed (:func:`take_seed`) gives another palette, and over a reference image
another framing and tint, so candidates can be told apart side by side; take 1
renders exactly what the emulator rendered before takes existed. PyAV and Pillow are imported here (and numpy in sound.py, for the
audio track of an audio_generation clip) only when something is rendered. CPU-bound: callers run it in a worker thread.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reference:
    """The first reference image: decoded bytes, or a URL the emulator would not fetch."""

    url: str
    data: bytes | None  # image or video bytes from the emulator's own storage
    media_type: str = ""


@dataclass(frozen=True)
class VideoSpec:
    prompt: str
    model: str
    seconds: float
    width: int
    height: int
    fps: int
    seed: int
    shots: tuple[tuple[str, float], ...] = ()  # Kling multi_prompt (prompt, duration)
    reference: Reference | None = None
    audio: bool = False  # audio_generation on an audio-visual model: an AAC track as long as the video
    take: int = 1  # which candidate of this request (X-Omniflow-Take); seed is the take's own


@dataclass(frozen=True)
class ImageSpec:
    prompt: str
    model: str
    width: int
    height: int
    seed: int
    index: int = 0
    reference: Reference | None = None
    take: int = 1  # which candidate of this request (X-Omniflow-Take); seed is the take's own


def take_seed(seed: int, take: int) -> int:
    """The seed a take renders from: the emulator's own for take 1, one derived from it for others."""
    if take == 1:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}|take|{take}".encode()).digest()[:6], "big")


def ratio_of(text: Any, default: str = "16:9") -> tuple[int, int]:
    """Parse "16:9"; anything unparsable falls back to the default."""
    for candidate in (text, default):
        if isinstance(candidate, str) and ":" in candidate:
            a, _, b = candidate.partition(":")
            if a.strip().isdigit() and b.strip().isdigit() and int(a) > 0 and int(b) > 0:
                return int(a), int(b)
    return 16, 9


def frame_size(ratio: tuple[int, int], *, long_side: int | None = None, short_side: int | None = None) -> tuple[int, int]:
    """Even width and height with the ratio; fix either the long or the short side."""
    rw, rh = ratio
    if long_side is not None:
        if rw >= rh:
            w, h = long_side, long_side * rh / rw
        else:
            w, h = long_side * rw / rh, long_side
    else:
        s = short_side or 720
        if rw >= rh:
            w, h = s * rw / rh, s
        else:
            w, h = s, s * rh / rw
    return max(2, int(round(w / 2)) * 2), max(2, int(round(h / 2)) * 2)


def _colour(seed: int, text: str) -> tuple[int, int, int]:
    d = hashlib.sha256(f"{seed}|{text}".encode()).digest()
    return 40 + d[0] % 150, 40 + d[1] % 150, 40 + d[2] % 150


def _font(size: int) -> Any:
    from PIL import ImageFont

    # Pillow's bundled font: the same glyphs on every machine, no system fonts.
    return ImageFont.load_default(size=size)


def _reference_image(ref: Reference | None) -> Any:
    """A PIL image for the reference, or None when there is none or it cannot be read."""
    if ref is None or ref.data is None:
        return None
    from PIL import Image

    try:
        if ref.media_type.startswith("video/"):
            import av

            with av.open(io.BytesIO(ref.data)) as c:
                for frame in c.decode(video=0):
                    return frame.to_image().convert("RGB")
            return None
        img = Image.open(io.BytesIO(ref.data))
        return img.convert("RGB")
    except Exception:  # noqa: BLE001 - an unreadable reference gets the placeholder
        return None


def _cover(img: Any, size: tuple[int, int]) -> Any:
    """Scale and centre-crop to fill the frame, like a video model framing a still."""
    from PIL import Image

    w, h = size
    scale = max(w / img.width, h / img.height)
    nw, nh = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - w) // 2, (nh - h) // 2
    return img.crop((left, top, left + w, top + h))


def _reframe(img: Any, size: tuple[int, int], seed: int, prompt: str) -> Any:
    """Another take over the same reference: zoomed in, off centre and tinted, all from the seed."""
    from PIL import Image

    d = hashlib.sha256(f"{seed}|frame|{prompt}".encode()).digest()
    w, h = size
    zoom = 1.12 + (d[0] % 16) / 100  # 1.12 .. 1.27
    big = _cover(img, (max(w, round(w * zoom)), max(h, round(h * zoom))))
    left = (big.width - w) * (d[1] % 101) // 100
    top = (big.height - h) * (d[2] % 101) // 100
    framed = big.crop((left, top, left + w, top + h))
    return Image.blend(framed, Image.new("RGB", size, _colour(seed, prompt)), 0.3)


def _background(size: tuple[int, int], seed: int, prompt: str, ref: Reference | None, take: int = 1) -> Any:
    from PIL import Image, ImageDraw

    img = _reference_image(ref)
    if img is not None:
        return _cover(img, size) if take == 1 else _reframe(img, size, seed, prompt)
    w, h = size
    base = Image.new("RGB", size, _colour(seed, prompt))
    draw = ImageDraw.Draw(base)
    top = _colour(seed + 1, prompt)
    for y in range(0, h, 2):  # a soft vertical gradient so frames are not flat
        t = y / max(1, h)
        c = tuple(int(a * (1 - t) + b * t) for a, b in zip(top, base.getpixel((0, 0)), strict=True))
        draw.rectangle((0, y, w, y + 1), fill=c)
    if ref is not None:  # a reference we would not (or could not) read: say which
        font = _font(max(8, h // 18))
        lines = textwrap.wrap(f"reference not fetched: {ref.url}", width=max(16, w // max(1, h // 30)))
        draw.multiline_text((6, 6), "\n".join(lines[:3]), font=font, fill=(255, 255, 255))
    return base


def _caption(img: Any, lines: Sequence[str], progress: float | None) -> Any:
    """Draw the text band over the bottom third, leaving the top of the frame untouched."""
    from PIL import Image, ImageDraw

    w, h = img.size
    band_top = int(h * 0.68)
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(overlay)
    d.rectangle((0, band_top, w, h), fill=(0, 0, 0, 170))
    out = Image.alpha_composite(img.convert("RGBA"), overlay)
    d = ImageDraw.Draw(out)
    size = max(8, (h - band_top) // (len(lines) + 1))
    font = _font(size)
    y = band_top + 2
    for line in lines:
        d.text((4, y), line, font=font, fill=(255, 255, 255, 255))
        y += size + 1
    if progress is not None:  # moving bar: every frame differs, like motion
        d.rectangle((0, h - 3, int(w * progress), h), fill=(255, 200, 0, 255))
    return out.convert("RGB")


def _chars_per_line(width: int, height: int) -> int:
    """How many caption characters fit across: the caption font scales with the height."""
    return max(16, int(width / max(5.0, height * 0.052)))


def _wrap(text: str, width: int, lines: int) -> list[str]:
    wrapped = textwrap.wrap(" ".join(text.split()), width=width) or [""]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: max(0, width - 1)] + "…"
    return wrapped


def _timecode(t: float) -> str:
    return f"{int(t // 60):02d}:{t % 60:05.2f}"


def _shot_at(shots: Sequence[tuple[str, float]], t: float) -> tuple[int, str] | None:
    acc = 0.0
    for i, (prompt, dur) in enumerate(shots):
        acc += dur
        if t < acc:
            return i, prompt
    return (len(shots) - 1, shots[-1][0]) if shots else None


def _take_label(take: int) -> str:
    # shown so a reviewer comparing candidates can read which is which; none for take 1
    return "" if take == 1 else f" · take {take}"


def render_video(spec: VideoSpec) -> bytes:
    """An H.264/yuv420p MP4 of exactly ``spec.seconds`` at ``spec.fps``."""
    import av

    n = max(1, round(spec.seconds * spec.fps))
    size = (spec.width, spec.height)
    seed = take_seed(spec.seed, spec.take)
    background = _background(size, seed, spec.prompt, spec.reference, spec.take)
    chars = _chars_per_line(spec.width, spec.height)
    buf = io.BytesIO()
    # bitexact: no encoder-version tag in the container, so bytes depend only on the input.
    with av.open(buf, "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=spec.fps)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        stream.codec_context.thread_count = 1  # single thread: deterministic output
        # Constant QP, no weighted prediction: x264's rate control and weightp gave
        # different bytes for the same frames from run to run; these do not.
        stream.options = {"preset": "veryfast", "qp": "28", "x264-params": "weightp=0:threads=1"}
        sound = _sound_stream(container) if spec.audio else None
        for i in range(n):
            t = i / spec.fps
            prompt, shot_label = spec.prompt, ""
            shot = _shot_at(spec.shots, t)
            if shot is not None:
                prompt = shot[1]
                shot_label = f"shot {shot[0] + 1}/{len(spec.shots)} · "
            lines = _wrap(prompt, chars, 2)
            lines.append(f"{shot_label}{spec.model}{_take_label(spec.take)} · {_timecode(t)} / {_timecode(spec.seconds)}")
            img = _caption(background.copy(), lines, (i + 1) / n)
            frame = av.VideoFrame.from_image(img)
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            _write_sound(container, sound, spec, n / spec.fps)
    return buf.getvalue()


def _sound_stream(container: Any) -> Any:
    from omniflow.media.audio import add_aac

    return add_aac(container)


def _write_sound(container: Any, stream: Any, spec: VideoSpec, seconds: float) -> None:
    """The clip's native sound, exactly as long as its frames last."""
    from omniflow.emulator.sound import clip_audio
    from omniflow.media.audio import RATE, AudioWriter

    writer = AudioWriter(container, stream, RATE)
    writer.write(clip_audio(take_seed(spec.seed, spec.take), spec.prompt, seconds, RATE))
    writer.close()


def render_image(spec: ImageSpec) -> bytes:
    """A PNG keyframe showing the prompt (over the reference image when there is one)."""
    size = (spec.width, spec.height)
    seed = take_seed(spec.seed, spec.take)
    background = _background(size, seed + spec.index, spec.prompt, spec.reference, spec.take)
    chars = _chars_per_line(spec.width, spec.height)
    lines = _wrap(spec.prompt, chars, 2)
    label = spec.model + _take_label(spec.take) + ("" if spec.index == 0 else f" · #{spec.index + 1}")
    lines.append(label)
    img = _caption(background, lines, None)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)  # Pillow writes no time chunk
    return buf.getvalue()
