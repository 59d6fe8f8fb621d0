"""``subtitles``: timed lines as SubRip (.srt) and WebVTT (.vtt), optionally burned into the picture.

Cues come from ``lines: [{text, at, until}]`` or from ``captions``: one text
(or null) per clip of a ``concat``, timed to that clip's place in the cut,
which ``concat`` records as MP4 chapters (a ``mix`` of it keeps them). With
a crossfade a caption starts where its clip starts to fade in and ends where
the next clip starts. Cues past the video's end are cut there.

``burn`` draws each cue onto the frames it covers (Pillow's bundled font,
white on a dark band at the bottom) and re-encodes the picture as H.264; the
sound and the chapters are copied unchanged.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.errors import MediaError
from omniflow.store._atomic import atomic_path

_X264_OPTIONS = {"preset": "veryfast", "crf": "20", "threads": "2"}


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str


def cues_from_lines(lines: Any, duration: float) -> list[Cue]:
    if not isinstance(lines, list) or not lines:
        raise MediaError("subtitles: lines must be a non-empty list of {text, at, until}")
    cues = []
    for i, line in enumerate(lines):
        if not isinstance(line, dict) or not isinstance(line.get("text"), str):
            raise MediaError(f"subtitles: lines[{i}] must be {{text, at, until}}")
        at, until = line.get("at"), line.get("until")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (at, until)):
            raise MediaError(f"subtitles: lines[{i}]: at and until must be seconds")
        if not 0 <= at < until:
            raise MediaError(f"subtitles: lines[{i}]: needs 0 <= at < until (at {at:g}, until {until:g})")
        if at < duration:
            cues.append(Cue(float(at), float(min(until, duration)), line["text"]))
    return sorted(cues, key=lambda c: (c.start, c.end))


def clip_places(video: Path) -> list[tuple[float, float]]:
    """(start, end) of every clip of a concat, from the chapters it wrote."""
    import av

    try:
        with av.open(str(video)) as c:
            chapters = c.chapters()
    except av.FFmpegError as exc:
        raise MediaError(f"subtitles: {video.name}: {exc}") from None
    return [(float(ch["start"] * ch["time_base"]), float(ch["end"] * ch["time_base"])) for ch in chapters]


def cues_from_captions(captions: Any, video: Path, duration: float) -> list[Cue]:
    if captions == "shots":
        raise MediaError("subtitles: captions: shots must be resolved by the loader into the concat inputs' "
                         "caption: texts (one per clip); write captions: [text, ...] meanwhile")
    if not isinstance(captions, list) or not all(c is None or isinstance(c, str) for c in captions):
        raise MediaError("subtitles: captions must be a list of texts (null for a clip without one)")
    places = clip_places(video)
    if not places:
        raise MediaError(f"subtitles: {video.name} records no clips (captions need the output of a concat, "
                         "or of a mix of one)")
    if len(places) != len(captions):
        raise MediaError(f"subtitles: {len(captions)} captions for {len(places)} clips in {video.name}")
    return [Cue(a, min(b, duration), text) for (a, b), text in zip(places, captions, strict=True)
            if text and a < duration]


def _stamp(t: float, sep: str) -> str:
    ms = round(t * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(cues: Sequence[Cue]) -> str:
    blocks = [f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{c.text}\n" for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def to_vtt(cues: Sequence[Cue]) -> str:
    blocks = [f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{c.text}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


_TIMING = re.compile(r"(\d+):(\d\d):(\d\d)[,.](\d{3})\s*-->\s*(\d+):(\d\d):(\d\d)[,.](\d{3})")


def parse(text: str) -> list[Cue]:
    """Cues of an SRT or WebVTT text (what omniflow writes, and the common subset of both)."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        for k, line in enumerate(lines):
            m = _TIMING.search(line)
            if m:
                g = [int(x) for x in m.groups()]
                start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
                end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
                cues.append(Cue(start, end, "\n".join(lines[k + 1:])))
                break
    return cues


def write_text(cues: Sequence[Cue], srt: Path, vtt: Path) -> None:
    from omniflow.store._atomic import write_atomic

    write_atomic(srt, to_srt(cues).encode("utf-8"))
    write_atomic(vtt, to_vtt(cues).encode("utf-8"))


def burn(video: Path, cues: Sequence[Cue], dest: Path) -> Path:
    """``video`` with the cues drawn onto its frames; sound and chapters copied."""
    import av

    video, dest = Path(video), Path(dest)
    with atomic_path(dest) as tmp:
        try:
            with av.open(str(video)) as src, av.open(str(tmp), "w", format="mp4", options={"fflags": "+bitexact"}) as out:
                vin = src.streams.video[0]
                rate = vin.average_rate or vin.guessed_rate or 24
                vout = out.add_stream("libx264", rate=rate, options=dict(_X264_OPTIONS))
                vout.width, vout.height, vout.pix_fmt = vin.width - vin.width % 2, vin.height - vin.height % 2, "yuv420p"
                vout.codec_context.flags |= av.codec.context.Flags.bitexact
                ain = src.streams.audio[0] if src.streams.audio else None
                aout = out.add_stream_from_template(ain) if ain is not None else None
                start = float(vin.start_time * vin.time_base) if vin.start_time is not None else 0.0
                for index, frame in enumerate(src.decode(vin)):
                    t = (frame.time or 0.0) - start
                    shown = [c.text for c in cues if c.start <= t + 1e-6 < c.end]
                    img = frame.to_image()
                    if shown:
                        img = _draw(img, "\n".join(shown))
                    new = av.VideoFrame.from_image(img.crop((0, 0, vout.width, vout.height))).reformat(format="yuv420p")
                    new.pts = index
                    new.time_base = 1 / rate
                    out.mux(vout.encode(new))
                out.mux(vout.encode(None))
                if ain is not None:
                    src.seek(0)
                    for packet in src.demux(ain):
                        if packet.dts is None:
                            continue
                        packet.stream = aout
                        out.mux(packet)
                out.set_chapters(src.chapters())
        except av.FFmpegError as exc:
            raise MediaError(f"subtitles: {video.name}: {exc}") from None
    return dest


def _draw(img: Any, text: str) -> Any:
    from PIL import Image, ImageDraw, ImageFont

    w, h = img.size
    size = max(8, h // 14)
    font = ImageFont.load_default(size=size)  # bundled: the same glyphs on every machine
    width = max(10, int(w / (size * 0.55)))
    lines = [part for para in text.split("\n") for part in (textwrap.wrap(para, width) or [""])]
    band = (size + 4) * len(lines) + 6
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(overlay)
    d.rectangle((0, h - band, w, h), fill=(0, 0, 0, 160))
    out = Image.alpha_composite(img.convert("RGBA"), overlay)
    d = ImageDraw.Draw(out)
    y = h - band + 3
    for line in lines:
        tw = d.textlength(line, font=font)
        d.text(((w - tw) / 2, y), line, font=font, fill=(255, 255, 255, 255))
        y += size + 4
    return out.convert("RGB")
