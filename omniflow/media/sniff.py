"""What a file really is, from its first bytes (never from a name or a server header).

Shared by the downloader (servers can lie in ``Content-Type``) and ``probe``.
Pure bytes, no heavy imports.
"""

from __future__ import annotations

# media type -> file extension we write
EXTENSIONS = {
    "video/mp4": "mp4",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
}

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
    if len(head) >= 8 and head[4:8] in _MP4_FIRST_BOXES:
        return "video/mp4"
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
