"""Sound as numbers: decode any file's audio to float samples, encode samples to AAC or a file.

Every local op that touches sound (``concat``, ``mix``, burned ``subtitles``)
works on one shape: float32 arrays of shape (2, n) at :data:`RATE`, so
mixing, fading and aligning are array arithmetic and the output always has
one stereo AAC track. PyAV and numpy are imported when a function runs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from omniflow.errors import MediaError

RATE = 48_000  # every track omniflow writes
CHANNELS = 2
AAC_BITRATE = 128_000
_CHUNK = 48_000  # samples handed to the encoder at a time (PyAV re-frames them to 1024)

# response_format -> (container format, codec, media type); wav and pcm are 16-bit
FORMATS = {
    "mp3": ("mp3", "libmp3lame", "audio/mpeg"),
    "opus": ("ogg", "libopus", "audio/ogg"),
    "aac": ("adts", "aac", "audio/aac"),
    "flac": ("flac", "flac", "audio/flac"),
    "wav": ("wav", "pcm_s16le", "audio/wav"),
    "pcm": ("s16le", "pcm_s16le", "audio/pcm"),
}


def silence(n: int) -> Any:
    import numpy as np

    return np.zeros((CHANNELS, max(0, n)), dtype=np.float32)


def fit(samples: Any, n: int) -> Any:
    """``samples`` cut or padded with silence to exactly ``n`` samples."""
    import numpy as np

    have = samples.shape[1]
    if have == n:
        return samples
    if have > n:
        return samples[:, :n]
    return np.concatenate([samples, silence(n - have)], axis=1)


def has_audio(path: Path) -> bool:
    import av

    try:
        with av.open(str(path)) as c:
            return bool(c.streams.audio)
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: unreadable media: {exc}") from None


def read_audio(path: Path | bytes, rate: int = RATE) -> Any | None:
    """The first audio stream as float32 (2, n) at ``rate``, from time 0; None without audio.

    A stream that starts late (its first sample at t > 0) is preceded by
    silence, so sample i always sits at i / rate seconds of the file.
    """
    import av
    import numpy as np

    source = io.BytesIO(path) if isinstance(path, bytes) else str(path)
    try:
        with av.open(source) as c:
            if not c.streams.audio:
                return None
            stream = c.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
            parts: list[Any] = []
            first: float | None = None
            for frame in c.decode(stream):
                if first is None:
                    first = max(0.0, float(frame.time or 0.0))
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray())
            for out in resampler.resample(None):
                parts.append(out.to_ndarray())
    except av.FFmpegError as exc:
        raise MediaError(f"{path if not isinstance(path, bytes) else 'audio'}: unreadable audio: {exc}") from None
    body = np.concatenate(parts, axis=1).astype(np.float32) if parts else silence(0)
    lead = round((first or 0.0) * rate)
    return np.concatenate([silence(lead), body], axis=1) if lead else body


def media_duration(path: Path) -> float:
    """Seconds of a file: its video stream when it has one, else its audio, else the container."""
    import av

    try:
        with av.open(str(path)) as c:
            for streams in (c.streams.video, c.streams.audio):
                if streams and streams[0].duration is not None and streams[0].time_base is not None:
                    return float(streams[0].duration * streams[0].time_base)
            return (c.duration or 0) / 1_000_000
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: unreadable media: {exc}") from None


def add_aac(container: Any, rate: int = RATE) -> Any:
    """A stereo AAC stream on an output container, with deterministic settings."""
    import av

    stream = container.add_stream("aac", rate=rate, layout="stereo")
    stream.bit_rate = AAC_BITRATE
    stream.codec_context.flags |= av.codec.context.Flags.bitexact
    return stream


class AudioWriter:
    """Feeds consecutive sample blocks to an audio stream with running timestamps."""

    def __init__(self, container: Any, stream: Any, rate: int = RATE) -> None:
        self.container, self.stream, self.rate = container, stream, rate
        self.written = 0

    def write(self, samples: Any) -> None:
        import av
        import numpy as np

        for i in range(0, samples.shape[1], _CHUNK):
            block = np.ascontiguousarray(samples[:, i : i + _CHUNK], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate = self.rate
            frame.pts = self.written
            self.written += block.shape[1]
            self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))


def encode(samples: Any, fmt: str, rate: int, *, mono: bool = True) -> bytes:
    """Samples (2, n) as a whole audio file in ``fmt`` (a key of :data:`FORMATS`)."""
    import av
    import numpy as np

    container_format, codec, _ = FORMATS[fmt]
    layout = "mono" if mono else "stereo"
    data = samples[:1] if mono else samples
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_format, options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        frame_format = "s16" if codec == "pcm_s16le" else "fltp"
        block = np.ascontiguousarray(data, dtype=np.float32)
        if frame_format == "s16":
            block = (np.clip(block, -1, 1) * 32767).astype(np.int16).reshape(1, -1) if mono else \
                (np.clip(block.T, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format=frame_format, layout=layout)
        frame.sample_rate = rate
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()
