"""Synthetic sound for emulator outputs: a clip's native audio, a TTS line, a Suno song.

Pure functions of (seed, request text, length): the same request renders the
same samples, so cached outputs and their keys stay stable. Nothing here
pretends to be speech or music; each sound only has to be real, decodable,
of the documented length, and recognisably different per request:

- clip audio: a soft two-tone chord pulsing once a second (audio_generation);
- speech: one voiced burst per word, at a pitch set by the voice, with gaps;
  its length is ``len(input) / (CHARS_PER_SECOND * speed)`` seconds (§16.7 item 1);
- music: a pentatonic melody over a bass note, ``music_seconds`` long.

Arrays are float32 (2, n), the shape omniflow.media.audio encodes.
"""

from __future__ import annotations

import hashlib
from typing import Any

CHARS_PER_SECOND = 15.0  # speech at speed 1: about 150 words a minute
MIN_SPEECH_SECONDS = 0.5
SPEECH_RATE = 24_000  # what OpenAI's TTS returns
MUSIC_RATE = 44_100
_PENTATONIC = (0, 2, 4, 7, 9, 12, 14, 16)


def _rng(seed: int, *parts: object) -> Any:
    import numpy as np

    digest = hashlib.sha256("\x1f".join([str(seed), *map(str, parts)]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _stereo(mono: Any) -> Any:
    import numpy as np

    return np.vstack([mono, mono]).astype(np.float32)


def speech_seconds(text: str, speed: float) -> float:
    """The emulator's length of a TTS line (emulator-defined, documented)."""
    speed = speed if speed > 0 else 1.0
    return round(max(MIN_SPEECH_SECONDS, len(text) / (CHARS_PER_SECOND * speed)), 3)


def clip_audio(seed: int, text: str, seconds: float, rate: int) -> Any:
    """A video clip's native sound: a chord whose notes depend on the request."""
    import numpy as np

    rng = _rng(seed, "clip", text)
    n = max(1, round(seconds * rate))
    t = np.arange(n) / rate
    root = 180.0 + float(rng.integers(0, 220))
    pulse = 0.55 + 0.45 * np.cos(2 * np.pi * t) ** 2  # once a second, so cuts are audible
    wave = np.sin(2 * np.pi * root * t) + 0.6 * np.sin(2 * np.pi * root * 1.5 * t)
    noise = rng.standard_normal(n) * 0.02
    return _stereo(0.18 * pulse * wave + noise)


def speech_audio(seed: int, text: str, voice: str, speed: float, rate: int = SPEECH_RATE, salt: str = "") -> Any:
    """A TTS line: a burst per word over the line's length, pitched by the voice (``salt``: model, instructions)."""
    import numpy as np

    seconds = speech_seconds(text, speed)
    n = max(1, round(seconds * rate))
    out = np.zeros(n, dtype=np.float64)
    words = text.split() or [""]
    weights = np.array([len(w) + 1 for w in words], dtype=np.float64)
    bounds = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()]) * n
    base = 110.0 + int(hashlib.sha256(voice.encode()).hexdigest()[:4], 16) % 120
    rng = _rng(seed, "speech", voice, text, salt)
    for i in range(len(words)):
        a, b = int(bounds[i]), int(bounds[i + 1])
        voiced = max(1, int((b - a) * 0.8))  # the rest of the word's slot is a gap
        t = np.arange(voiced) / rate
        pitch = base * (1.0 + 0.25 * float(rng.random()))
        envelope = np.sin(np.pi * np.arange(voiced) / voiced)
        burst = np.sin(2 * np.pi * pitch * t) + 0.35 * np.sin(2 * np.pi * pitch * 2 * t)
        out[a : a + voiced] = 0.3 * envelope * burst
    return _stereo(out)


def music_audio(seed: int, text: str, seconds: float, index: int, rate: int = MUSIC_RATE) -> Any:
    """A song: a pentatonic melody (quarter notes at 120 bpm) over a bass, per request and clip."""
    import numpy as np

    rng = _rng(seed, "music", text, index)
    n = max(1, round(seconds * rate))
    t = np.arange(n) / rate
    key = 220.0 * 2 ** (float(rng.integers(0, 12)) / 12)
    note_len = rate // 2
    notes = rng.choice(_PENTATONIC, size=n // note_len + 1)
    freq = key * 2 ** (np.repeat(notes, note_len)[:n] / 12)
    phase = 2 * np.pi * np.cumsum(freq) / rate
    in_note = (np.arange(n) % note_len) / note_len
    melody = np.sin(phase) * np.exp(-3.0 * in_note)
    bass = 0.5 * np.sin(2 * np.pi * key / 2 * t)
    return _stereo(0.2 * melody + 0.12 * bass)
