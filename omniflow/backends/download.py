"""Streaming a finished task's output to a temp file, verifying it on the way.

sha256 is computed while the bytes arrive; a size cap aborts early (before
reading anything when ``Content-Length`` already says too much); the media
type is decided by the bytes, not the server's ``Content-Type``; a body
shorter than its ``Content-Length`` is a truncation. On any failure the temp
file is deleted; a local disk failure (ENOSPC, a read-only folder) is a
:class:`~omniflow.errors.CacheError` naming the folder. The caller moves the
file into the cache. The overall deadline is the caller's (``asyncio.timeout``
around this), so cancellation here also deletes the temp file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from omniflow.backends.base import Download
from omniflow.backends.classify import parse_error_body
from omniflow.core import killpoints
from omniflow.errors import BackendError, CacheError
from omniflow.media.sniff import AUDIO_TYPES, SNIFF_BYTES, describe_head, sniff_media_type

#: what each remote kind may deliver
ALLOWED_TYPES = {
    "video": frozenset({"video/mp4"}),
    "image": frozenset({"image/png", "image/jpeg", "image/webp"}),
    "speech": AUDIO_TYPES,  # the speech answer itself (backends/audio.py)
    "music": AUDIO_TYPES,  # a Suno clip's audio_url
}


async def save_stream(response: Any, kind: str, dest_dir: Path, *, max_bytes: int, label: str) -> Download:
    """Stream an httpx response with status 200 into a temp file in ``dest_dir``."""
    allowed = ALLOWED_TYPES[kind]
    declared = _content_length(response)
    if declared is not None and declared > max_bytes:
        raise BackendError(f"{label}: {declared} bytes announced, over the limit of {max_bytes}")
    tmp: Path | None = None
    ok = False
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        # our own name, never one from the URL or the server's headers
        fd, name = tempfile.mkstemp(dir=dest_dir, prefix=".omniflow-download-", suffix=".part")
        tmp = Path(name)
        digest = hashlib.sha256()
        size = 0
        head = b""
        media_type: str | None = None
        with os.fdopen(fd, "wb") as f:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise BackendError(f"{label}: more than {max_bytes} bytes, over the limit; aborted")
                if media_type is None:
                    head += chunk
                    if len(head) < SNIFF_BYTES:
                        continue
                    media_type = _check_type(head, allowed, response, label)
                    chunk, head = head, b""
                digest.update(chunk)
                f.write(chunk)
                killpoints.reached("download", when=len(chunk) == size, flush=f)  # crash tests: die on the first chunk
            if media_type is None:  # the whole body was shorter than SNIFF_BYTES
                media_type = _check_type(head, allowed, response, label)
                digest.update(head)
                f.write(head)
        # no fsync here, on the event loop: Cache.put_file syncs the file in a
        # worker thread before the rename that makes it an object
        received = response.num_bytes_downloaded
        if declared is not None and received != declared:
            raise BackendError(
                f"{label}: truncated, received {received} of {declared} bytes", retryable=True
            )
        ok = True
        return Download(tmp, digest.hexdigest(), size, media_type)
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            raise
        raise CacheError(f"{label}: cannot write into {dest_dir}: {exc.strerror or exc}") from None
    finally:
        if not ok and tmp is not None:
            tmp.unlink(missing_ok=True)


def _content_length(response: Any) -> int | None:
    value = response.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _check_type(head: bytes, allowed: frozenset[str], response: Any, label: str) -> str:
    sniffed = sniff_media_type(head)
    if sniffed in allowed:
        return sniffed  # type: ignore[return-value]
    said = response.headers.get("content-type", "none")
    want = " or ".join(sorted(allowed))
    found = sniffed or describe_head(head)
    words = ""
    if sniffed is None and head.lstrip()[:1] in (b"{", b"<"):
        words = ": " + parse_error_body(head, said).message
    raise BackendError(f"{label}: expected {want}, got {found} (Content-Type: {said}){words}")
