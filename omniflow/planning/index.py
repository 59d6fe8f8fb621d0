"""What makes ``plan`` cheap at 10,000 steps: an index summary and a memo of the parsed lock.

*Index summary.* A plan asks the cache, per step key, for the entry's output
sha256s and the upstream outputs it consumed. Reading and validating 10,000
index files costs most of a second; a ``stat`` costs microseconds. So the
plan keeps, per pipeline file, ``.omniflow/memo/index-<file>.pickle``: key ->
(size, mtime_ns, inode of the index file; output sha256s; upstream). A key
whose index file has the same stat is answered from the summary; any other
is read from the index (and the summary updated). Index files are only ever
replaced by rename (new inode, new mtime), so a changed entry is always seen;
an entry whose mtime is within two seconds of the summary's making is read
again every time, because a rewrite in the same mtime tick would look equal.
Objects are never summarised: their presence is checked on every plan.

*Lock memo.* The lock is read only when some step is to run (its reasons
compare against the lock), by the store's one reader
(:func:`omniflow.store.loads_lock`), and its parsed form is memoised under the
sha256 of its bytes: unpickling a 10,000-step lock takes ~0.1 s, reading its
YAML ~1 s.

Both files are pickles in the project's own ``.omniflow/memo/`` folder; the
trust assumption is the one of :mod:`omniflow.language.memo`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omniflow.language import memo as _memo

_FORMAT = 1

Info = tuple[tuple[str, ...], Mapping[str, str]]  # output sha256s, upstream key -> sha256


class IndexSummary:
    """Answers "entry for key?" from a per-pipeline summary, falling back to the index."""

    def __init__(self, cache: Any, path: Path | None):
        self._cache = cache
        self._path = path
        self._index = str(cache.index)
        self._old: dict[str, tuple[tuple[int, int, int], Info]] = {}
        self._new: dict[str, tuple[tuple[int, int, int], Info]] = {}
        self._taken_ns = 0
        self._changed = False
        if path is not None:
            self._old, self._taken_ns = _read_summary(path)

    def lookup(self, key: str) -> Info | None:
        """(output sha256s, upstream) of the entry for ``key``, or None when there is none."""
        try:
            st = os.stat(f"{self._index}/{key[:2]}/{key}.json")
        except FileNotFoundError:
            if key in self._old:
                self._changed = True
            return None
        except OSError:
            st = None
        if st is not None:
            sig = (st.st_size, st.st_mtime_ns, st.st_ino)
            known = self._old.get(key)
            if known is not None and known[0] == sig and st.st_mtime_ns < self._taken_ns - _memo.RACY_NS:
                self._new[key] = known
                return known[1]
        entry = self._cache.get_entry(key)  # raises CacheError on a corrupt file, as before
        if entry is None:
            return None
        info: Info = (tuple(o.sha256 for o in entry.outputs), dict(entry.upstream))
        if st is not None:
            self._new[key] = ((st.st_size, st.st_mtime_ns, st.st_ino), info)
            self._changed = True
        return info

    def save(self) -> None:
        """Write the summary if anything differs (atomic; failures only cost speed)."""
        if self._path is None or not (self._changed or set(self._new) != set(self._old)):
            return
        from omniflow.store._atomic import write_atomic

        try:
            data = pickle.dumps({"format": _FORMAT, "taken_ns": time.time_ns(), "entries": self._new},
                                protocol=pickle.HIGHEST_PROTOCOL)
            write_atomic(self._path, data, tmp_dir=self._path.parent)
        except Exception:  # noqa: BLE001 - the summary is only a speed-up
            pass


def _read_summary(path: Path) -> tuple[dict[str, Any], int]:
    try:
        record = pickle.loads(path.read_bytes())  # noqa: S301 - our own file (module doc)
    except Exception:  # noqa: BLE001 - absent, torn or foreign: start afresh
        return {}, 0
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        return {}, 0
    return record.get("entries") or {}, int(record.get("taken_ns") or 0)


def summary_path(state: Path, pipeline_file: Path) -> Path | None:
    """Where the index summary of one pipeline file lives, or None when memos are off."""
    if not _memo.enabled() or not Path(state).is_dir():
        return None
    return Path(state) / _memo.MEMO_DIR / f"index-{_memo.file_prefix(str(pipeline_file))}.pickle"


# -- the lock ------------------------------------------------------------------


def read_lock_memo(path: Path, state: Path) -> Any:
    """``store.read_lock(path)``, from a memo keyed by the sha256 of the lock's bytes when one matches.

    The memo value is parsed from exactly the bytes that were hashed, so key
    and value always belong together. A lock that does not read is never
    memoised: the store's reader raises its located error every time.
    """
    from omniflow.store import loads_lock, read_lock

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return read_lock(path)  # reports the error its own way
    memo_file = _lock_memo_file(data, state) if _memo.enabled() and Path(state).is_dir() else None
    if memo_file is not None:
        try:
            lock = pickle.loads(memo_file.read_bytes())  # noqa: S301 - our own file (module doc)
            if type(lock).__name__ == "LockFile":
                return lock
        except Exception:  # noqa: BLE001 - a miss
            pass
    lock = loads_lock(data, path)
    if memo_file is not None:
        from omniflow.store._atomic import write_atomic

        try:
            for old in memo_file.parent.glob("lock-*.pickle"):
                if old.stat().st_mtime < time.time() - 7 * 86400:
                    old.unlink()  # locks of long ago: one per run would pile up
            write_atomic(memo_file, pickle.dumps(lock, protocol=pickle.HIGHEST_PROTOCOL), tmp_dir=memo_file.parent)
        except Exception:  # noqa: BLE001 - only a speed-up
            pass
    return lock


def refuse_conflicts(path: Path) -> None:
    """A lock left mid-merge is an error even when no step needs the lock: its located error, raised."""
    from omniflow.store import read_lock

    try:
        data = Path(path).read_bytes()
    except OSError:
        return  # absent, or the reader reports it when a step needs the lock
    if data.startswith(b"<<<<<<< ") or b"\n<<<<<<< " in data:
        read_lock(path)


def _lock_memo_file(data: bytes, state: Path) -> Path:
    h = hashlib.sha256(_lock_code_fingerprint())
    h.update(data)
    return Path(state) / _memo.MEMO_DIR / f"lock-{h.hexdigest()}.pickle"


def _lock_code_fingerprint() -> bytes:
    from omniflow.store import entries, lock, lockyaml

    return repr([(f, _memo.stat_sig(f)) for f in (lock.__file__, entries.__file__, lockyaml.__file__)]).encode()
