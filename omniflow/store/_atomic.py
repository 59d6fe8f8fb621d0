"""Atomic file writes: temp file in the same filesystem, fsync, rename, fsync the folder.

A reader (or a process that crashed half-way) only ever sees the old file or
the complete new one, never a prefix: ``os.replace`` is atomic within one
filesystem, and the two fsyncs make the rename survive a power cut too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from pathlib import Path

from omniflow.errors import CacheError

_CHUNK = 1 << 20


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the rename already happened
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Make a finished file's bytes durable before a rename publishes it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def describe_oserror(exc: OSError) -> str:
    """One line for a person: the reason, without Python's repr noise."""
    return exc.strerror or str(exc)


def write_atomic(
    target: Path,
    data: bytes | Iterable[bytes],
    *,
    tmp_dir: Path | None = None,
    mode: int = 0o644,
) -> None:
    """Write ``data`` to ``target`` so that it appears whole or not at all.

    ``tmp_dir`` must be on the same filesystem as ``target`` (default: its
    folder). Any OSError becomes a :class:`CacheError` naming ``target``; the
    temp file is removed on every failure, including KeyboardInterrupt.
    """
    target = Path(target)
    tmp_dir = Path(tmp_dir) if tmp_dir is not None else target.parent
    name: str | None = None
    try:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix=f".{target.name[:40]}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            for chunk in [data] if isinstance(data, bytes | bytearray) else data:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(name, mode)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(name, target)
        name = None
        fsync_dir(target.parent)
    except OSError as exc:
        raise CacheError(f"cannot write {target}: {describe_oserror(exc)}") from exc
    finally:
        if name is not None:
            with suppress(OSError):
                os.unlink(name)


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temp path beside ``dest``; when the block succeeds, rename it onto ``dest``.

    For files a library writes by path (PyAV, Pillow). No fsync: the ops write
    into the cache's temp folder and ``Cache.put_file`` syncs before its own
    rename; report files can be made again.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def copy_atomic(src: Path, dest: Path, *, mtime_ns: int | None = None,
                check: Callable[[str], None] | None = None) -> None:
    """Copy ``src`` to ``dest`` through a temp name, so a reader sees the old file or the whole new one.

    No fsync: for copies that can be made again from the cache (outputs/, reports).
    ``mtime_ns`` stamps the copy (outputs/ recognise an untouched copy by size and mtime).
    With ``check``, the bytes are hashed (sha256) as they are copied, the one read
    they get, and ``check(hex digest)`` runs before the copy is renamed into place:
    if it raises, ``dest`` is left as it was. The temp file is made with
    ``mkstemp`` (O_EXCL), so a link planted at a guessable temp name is never followed.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    name: str | None = None
    try:
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name[:40]}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            if check is None:
                shutil.copyfileobj(f, out, _CHUNK)
            else:
                digest = hashlib.sha256()
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        if check is not None:
            check(digest.hexdigest())
        os.chmod(name, 0o644)  # mkstemp makes 0600; a copy in outputs/ is the user's to read and share
        if mtime_ns is not None:
            os.utime(name, ns=(mtime_ns, mtime_ns))
        os.replace(name, dest)
        name = None
    except OSError as exc:
        raise CacheError(f"cannot write {dest}: {describe_oserror(exc)}") from None
    finally:
        if name is not None:
            with suppress(OSError):
                os.unlink(name)


def utc_iso(timestamp: float) -> str:
    """ISO-8601 UTC with a ``Z``, to the second: the only time format the store writes."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
