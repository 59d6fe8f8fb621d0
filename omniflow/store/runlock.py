"""The project run lock (``.omniflow/run.lock``): two runs on one project never interleave."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omniflow.errors import CacheError
from omniflow.store._atomic import describe_oserror
from omniflow.store.root import state_dir


@contextmanager
def project_lock(root: Path) -> Iterator[Path]:
    """Hold ``.omniflow/run.lock`` (fcntl.flock) for one run; a second holder gets a CacheError.

    ``root`` is the project root (or its ``.omniflow`` folder). The lock is
    released when the process dies, so a crash never leaves it stuck. The
    file stays (removing lock files races with the next holder); it holds the
    holder's pid for the message.
    """
    folder = state_dir(root)
    path = folder / "run.lock"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CacheError(f"cannot open {path}: {describe_oserror(exc)}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise CacheError(
                f"another omniflow run is using {folder.parent} (pid {holder}); "
                "wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
