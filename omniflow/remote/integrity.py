"""Is a remote object the bytes its name says? Judged from one HEAD, re-hashed only in doubt.

An object is named by the sha256 of its bytes, so "corrupt" means the bytes
do not hash to the name. Re-hashing needs the bytes (a download); most of
the time the HEAD that ``push`` already makes proves or disproves it:

- ``ContentLength`` different from the recorded size: corrupt;
- a full-object ``ChecksumSHA256``: S3 computed it from the bytes it stores
  (omniflow uploads with ``ChecksumAlgorithm=SHA256``, and S3 rejects an
  upload whose bytes do not match the checksum sent), so it decides alone;
- the ``sha256`` and ``md5`` metadata omniflow writes at upload, with an
  ``ETag`` equal to that md5: the store computed the ETag from the bytes it
  received, and any later write through the API replaces ETag, checksum and
  metadata together, so the bytes are still the ones omniflow hashed;
- anything else (uploaded by omniflow 0.1 or another tool, a store that keeps
  no checksum and whose ETag is not an md5): *in doubt* -- the caller
  downloads and re-hashes, then stamps the object in place (a server-side
  copy, no bytes move) so the next push decides from the HEAD again.

What a HEAD cannot see is rot below the API (a store's disk changing bytes
behind its own ETag). ``omniflow remote verify`` downloads and re-hashes
everything for that, and ``pull`` re-hashes every object it downloads, so a
bad object never enters a cache either way. The metadata is a claim written
by whoever has write access to the bucket: the checks guard against
accidents, not against someone who may also delete the bucket.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: S3's largest single PUT and CopyObject. Objects up to this size go up in
#: one request, so their checksum and ETag are full-object digests.
SINGLE_PUT_LIMIT = 5 * 1024**3

_CHUNK = 1 << 20
_MD5 = re.compile(r"[0-9a-f]{32}")

GOOD, BAD, DOUBT = "good", "bad", "doubt"


@dataclass(frozen=True)
class Digests:
    """What one read of some bytes tells: their sha256, md5 (hex) and size."""

    sha256: str
    md5: str
    size: int


@dataclass(frozen=True)
class Verdict:
    state: str  # good | bad | doubt
    reason: str = ""


def hash_chunks(chunks: Iterable[bytes], limit: int | None = None) -> Digests:
    """Digests of a stream; stops reading once more than ``limit`` bytes came (size = limit + 1)."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    for chunk in chunks:
        if limit is not None and size + len(chunk) > limit:
            size = limit + 1  # longer than it should be: no need to read the rest
            break
        sha.update(chunk)
        md5.update(chunk)
        size += len(chunk)
    return Digests(sha.hexdigest(), md5.hexdigest(), size)


def hash_path(path: Path) -> Digests:
    """Digests of a local file, read in chunks (one read for both digests)."""
    with open(path, "rb") as f:
        return hash_chunks(iter(lambda: f.read(_CHUNK), b""))


def sha256_b64(sha256_hex: str) -> str:
    """The hex digest as S3 writes a ``ChecksumSHA256`` (base64 of the raw digest)."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def stamp(digests: Digests) -> dict[str, str]:
    """The user metadata omniflow writes on an object (``x-amz-meta-sha256`` / ``-md5``)."""
    return {"sha256": digests.sha256, "md5": digests.md5}


def judge_head(head: Mapping[str, Any], sha256: str, size: int) -> Verdict:
    """What a ``head_object(..., ChecksumMode="ENABLED")`` answer says about object ``sha256``."""
    length = head.get("ContentLength")
    if length is not None and length != size:
        return Verdict(BAD, f"it is {length} bytes, its entry records {size}")
    checksum = head.get("ChecksumSHA256") or ""
    if checksum and "-" not in checksum:  # "-N" marks a checksum of part checksums
        if checksum == sha256_b64(sha256):
            return Verdict(GOOD)
        return Verdict(BAD, "its SHA-256 checksum, computed by the store from its bytes, is not its name")
    meta = {str(k).lower(): str(v) for k, v in (head.get("Metadata") or {}).items()}
    claimed = meta.get("sha256")
    if claimed is not None and claimed != sha256:
        return Verdict(BAD, f"its recorded sha256 is {claimed[:12]}..., not its name")
    etag = str(head.get("ETag") or "").strip('"').lower()
    if claimed == sha256 and meta.get("md5") == etag and _MD5.fullmatch(etag):
        return Verdict(GOOD)
    if claimed == sha256 and size > SINGLE_PUT_LIMIT and "md5" not in meta:
        # a multipart upload's ETag and checksum are digests of parts: trust size and the
        # recorded sha256 rather than download gigabytes on every push (remote verify re-hashes)
        return Verdict(GOOD)
    return Verdict(DOUBT, "no checksum or omniflow stamp to judge it by")


def judge_bytes(got: Digests, sha256: str, size: int) -> Verdict:
    """The verdict once the bytes themselves were read."""
    if got.size > size:
        return Verdict(BAD, f"it holds more than the {size} bytes its entry records")
    if got.size < size:
        return Verdict(BAD, f"it holds {got.size} bytes, its entry records {size}")
    if got.sha256 != sha256:
        return Verdict(BAD, f"its bytes hash to {got.sha256[:12]}..., not its name")
    return Verdict(GOOD)
