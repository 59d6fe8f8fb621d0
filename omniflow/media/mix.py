"""``mix``: lay audio over a video into an MP4 (H.264 + AAC) exactly as long as the video.

The picture is copied packet for packet (no re-encode: no quality loss, and
the chapters ``concat`` wrote are kept). The sound is rebuilt from samples:

- the video's own sound: ``original: keep`` as is, ``mute`` dropped, ``duck``
  lowered to :data:`DUCK_GAIN` (−12 dB) wherever a voice entry plays, with
  :data:`DUCK_RAMP` s ramps, so a voice-over stays intelligible;
- each ``audio`` entry placed at ``at`` seconds, scaled by ``volume`` (0–2),
  faded in and out over ``fade`` seconds, cut at the end of the video.
  An entry with ``bed: true`` (a music bed) is ducked like the original and
  does not itself cause ducking; every other entry counts as a voice.

The sum is clipped to [-1, 1]. The output has one stereo AAC track of
exactly the video's duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.errors import MediaError
from omniflow.store._atomic import atomic_path

DUCK_GAIN = 0.25
DUCK_RAMP = 0.15  # seconds
ORIGINAL = ("keep", "mute", "duck")


@dataclass(frozen=True)
class Track:
    """One ``audio`` entry, resolved to a file."""

    path: Path
    at: float = 0.0
    volume: float = 1.0
    fade: float = 0.0
    bed: bool = False


def mix(video: Path, tracks: Sequence[Track], dest: Path, *, original: str = "keep") -> Path:
    import av
    import numpy as np

    from omniflow.media import audio

    if original not in ORIGINAL:
        raise MediaError(f"mix: original must be keep, mute or duck, not {original!r}")
    video, dest = Path(video), Path(dest)
    seconds = audio.media_duration(video)
    rate = audio.RATE
    n = max(1, round(seconds * rate))
    own = audio.read_audio(video, rate) if original != "mute" else None
    base = audio.fit(own, n) if own is not None else audio.silence(n)
    voices = np.zeros(n, dtype=np.float32)  # where a voice plays (for ducking)
    beds = audio.silence(n)
    lines = audio.silence(n)
    for i, track in enumerate(tracks):
        placed, span = _place(track, i, n, rate)
        if track.bed:
            beds += placed
        else:
            lines += placed
            voices[span[0]:span[1]] = 1.0
    if original == "duck" or any(t.bed for t in tracks):
        gain = _duck_gain(voices, rate)
        if original == "duck":
            base = base * gain
        beds = beds * gain
    total = np.clip(base + beds + lines, -1.0, 1.0).astype(np.float32)
    with atomic_path(dest) as tmp:
        try:
            with av.open(str(video)) as src, av.open(str(tmp), "w", format="mp4", options={"fflags": "+bitexact"}) as out:
                if not src.streams.video:
                    raise MediaError(f"mix: {video.name} has no video stream")
                vin = src.streams.video[0]
                vout = out.add_stream_from_template(vin)
                writer = audio.AudioWriter(out, audio.add_aac(out), rate)
                for packet in src.demux(vin):
                    if packet.dts is None:
                        continue
                    packet.stream = vout
                    out.mux(packet)
                writer.write(total)
                writer.close()
                out.set_chapters(src.chapters())
        except av.FFmpegError as exc:
            raise MediaError(f"mix: {video.name}: {exc}") from None
    return dest


def _place(track: Track, i: int, n: int, rate: int) -> tuple[Any, tuple[int, int]]:
    """The entry's samples on the video's timeline, and the span they cover."""
    import numpy as np

    from omniflow.media import audio

    if not 0 <= track.volume <= 2:
        raise MediaError(f"mix: audio[{i}].volume must be between 0 and 2, not {track.volume:g}")
    if track.at < 0 or track.fade < 0:
        raise MediaError(f"mix: audio[{i}]: at and fade must be 0 or more seconds")
    samples = audio.read_audio(track.path, rate)
    if samples is None:
        raise MediaError(f"mix: audio[{i}]: {track.path.name} has no audio stream")
    start = round(track.at * rate)
    if start >= n:
        raise MediaError(f"mix: audio[{i}] starts at {track.at:g} s, after the video's end ({n / rate:.2f} s)")
    length = min(samples.shape[1], n - start)
    piece = samples[:, :length] * np.float32(track.volume)
    fade = min(round(track.fade * rate), length // 2)
    if fade:
        ramp = np.linspace(0, 1, fade, dtype=np.float32)
        piece[:, :fade] *= ramp
        piece[:, length - fade:] *= ramp[::-1]
    out = audio.silence(n)
    out[:, start:start + length] = piece
    return out, (start, start + length)


def _duck_gain(voices: Any, rate: int) -> Any:
    """1 where no voice plays, DUCK_GAIN under voices, moving between them over DUCK_RAMP s."""
    import numpy as np

    width = max(1, round(DUCK_RAMP * rate))
    # widen the voice spans by the ramp on both sides, then smooth with a moving average
    padded = np.concatenate([np.zeros(width), voices, np.zeros(width)])
    c = np.cumsum(padded)
    widened = (c[2 * width:] - c[:-2 * width]) > 0
    w = widened.astype(np.float32)
    c2 = np.concatenate([[0.0], np.cumsum(w)])
    half = width // 2
    lo = np.clip(np.arange(len(w)) - half, 0, len(w))
    hi = np.clip(np.arange(len(w)) + half + 1, 0, len(w))
    smooth = (c2[hi] - c2[lo]) / (hi - lo)
    return (1.0 - (1.0 - DUCK_GAIN) * smooth).astype(np.float32)
