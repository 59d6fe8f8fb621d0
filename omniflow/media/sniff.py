"""What a file really is, from its first bytes (never from a name or a server header).

Shared by the downloader (servers can lie in ``Content-Type``) and ``probe``.
Pure bytes, no heavy imports.
"""

from __future__ import annotations

import re

# media type -> file extension we write
EXTENSIONS = {
    "video/mp4": "mp4",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/wav": "wav",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "audio/aac": "aac",
    "text/vtt": "vtt",
    "application/x-subrip": "srt",
}
_SRT_TIME = re.compile(rb"\d+:\d")  # an SRT file opens with "1", then its first cue's "00:00:..."
AUDIO_TYPES = frozenset(t for t in EXTENSIONS if t.startswith("audio/"))
SUBTITLE_TYPES = frozenset({"text/vtt", "application/x-subrip"})

#: bytes needed to recognise every type below
SNIFF_BYTES = 16

# ISO-BMFF boxes that may open an MP4 written without (or before) its ftyp box.
_MP4_FIRST_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def sniff_media_type(head: bytes) -> str | None:
    """The media type the leading bytes announce, or None when we do not know them."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in (b"M4A ", b"M4B "):
        return "audio/mp4"
    if len(head) >= 8 and head[4:8] in _MP4_FIRST_BOXES:
        return "video/mp4"
    return _sniff_sound_or_text(head)


def _sniff_sound_or_text(head: bytes) -> str | None:
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # frame sync: layer bits 00 are ADTS (AAC), anything else an MPEG audio frame
        return "audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    text = head.removeprefix(b"\xef\xbb\xbf")
    if text.startswith(b"WEBVTT"):
        return "text/vtt"
    first, _, rest = text.partition(b"\n")
    if first.strip().isdigit() and _SRT_TIME.match(rest):
        return "application/x-subrip"
    return None


def describe_head(head: bytes) -> str:
    """A short, printable hint of what unrecognised bytes look like (for error messages)."""
    text = head[:SNIFF_BYTES].lstrip()
    if text[:1] in (b"{", b"["):
        return "JSON"
    if text[:1] == b"<":
        return "HTML/XML"
    if not head:
        return "empty"
    return "bytes " + head[:8].hex()
