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
compare against the lock), and its parsed form is memoised under the sha256
of its bytes. A lock is parsed with libyaml when available; any problem falls
back to :func:`omniflow.store.read_lock`, which reports located errors.

Both files are pickles in the project's own ``.omniflow/memo/`` folder; the
trust assumption is the one of :mod:`omniflow.language.memo`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
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


def read_lock_memo(path: Path, state: Path, data: bytes | None = None) -> Any:
    """``read_lock(path)``, from a memo keyed by the lock's bytes when one matches.

    ``data`` is the lock's bytes when the caller has read them already.
    """
    from omniflow.store import read_lock

    if data is None:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            return read_lock(path)  # reports the error its own way
    use_memo = _memo.enabled() and Path(state).is_dir()
    memo_file = None
    if use_memo:
        memo_file = _lock_memo_file(data, state)
        try:
            lock = pickle.loads(memo_file.read_bytes())  # noqa: S301 - our own file (module doc)
            if type(lock).__name__ == "LockFile":
                return lock
        except Exception:  # noqa: BLE001 - a miss
            pass
    lock = _parse_fast(data) or read_lock(path)
    if memo_file is not None and lock is not None:
        from omniflow.store._atomic import write_atomic

        try:
            for old in memo_file.parent.glob("lock-*.pickle"):
                if old.stat().st_mtime < time.time() - 7 * 86400:
                    old.unlink()  # locks of long ago: one per run would pile up
            write_atomic(memo_file, pickle.dumps(lock, protocol=pickle.HIGHEST_PROTOCOL), tmp_dir=memo_file.parent)
        except Exception:  # noqa: BLE001 - only a speed-up
            pass
    return lock


class LockReader:
    """The lock as the plan reads it: only the steps whose reasons are asked for.

    ``variants[label].get(step_id)`` parses just that step's block of the lock
    text (the lock is written by one deterministic dumper: variants at indent 2,
    steps at indent 4). A lock seen before comes whole from the memo; one with
    quoted names, or a plan that needs many steps, is parsed whole (libyaml,
    then memoised). A block that does not parse cleanly also falls back to the
    whole read, so a broken lock is reported exactly as ``read_lock`` reports it.
    """

    WHOLE_AFTER = 200  # past this many step lookups, one whole parse is cheaper

    def __init__(self, path: Path, state: Path):
        self.path = Path(path)
        self.state = Path(state)
        self._data: bytes | None = None
        self._whole: Any = None
        self._whole_done = False
        self._headers: dict[str, dict[str, tuple[int, int]]] | None = None
        self._parsed: dict[tuple[str, str], Any] = {}
        self.was_read = False

    @property
    def variants(self) -> Mapping[str, Mapping[str, Any]]:
        return _Variants(self)

    def whole(self) -> Any:
        if not self._whole_done:
            self._whole = read_lock_memo(self.path, self.state, self._data)
            self._whole_done = self.was_read = True
        return self._whole

    def whole_steps(self, variant: str) -> Mapping[str, Any]:
        """One variant's steps from the whole lock ({} when there is no lock or no such variant)."""
        whole = self.whole()
        return {} if whole is None else whole.variants.get(variant, {})

    def step(self, variant: str, sid: str) -> Any:
        if self._whole_done or len(self._parsed) >= self.WHOLE_AFTER:
            return self.whole_steps(variant).get(sid)
        if (variant, sid) not in self._parsed:
            self._parsed[(variant, sid)] = self._step_from_text(variant, sid)
        got = self._parsed[(variant, sid)]
        if got is _WHOLE:
            return self.whole_steps(variant).get(sid)
        return got

    def _step_from_text(self, variant: str, sid: str) -> Any:
        if self._data is None:
            try:
                self._data = self.path.read_bytes()
            except OSError:
                return _WHOLE
            self._headers = _headers(self._data)
            if self._headers is None or _lock_memo_file(self._data, self.state).is_file():
                return _WHOLE
        assert self._headers is not None
        steps = self._headers.get(variant)
        if steps is None:
            # a plain name would have a header if the lock had it; any other is looked up whole
            return None if _PLAIN.fullmatch(variant.encode()) else _WHOLE
        span = steps.get(sid)
        if span is None:
            return None
        import textwrap

        import yaml

        from omniflow.store import LockStep

        block = textwrap.dedent(self._data[span[0]:span[1]].decode("utf-8"))
        try:
            data = yaml.load(block, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loader
            for ts in ("submitted_at", "completed_at"):
                if hasattr(data.get(ts), "isoformat"):  # as read_lock does
                    data[ts] = data[ts].isoformat().replace("+00:00", "Z")
            return LockStep.from_json(data)
        except Exception:  # noqa: BLE001 - let the whole read say what is wrong
            return _WHOLE

    def check_conflicts(self) -> None:
        """A lock left mid-merge is an error even when nothing needed it: read it whole then."""
        data = self._data
        if data is None:
            try:
                data = self.path.read_bytes()
            except OSError:
                return
        if not self._whole_done and (data.startswith(b"<<<<<<< ") or b"\n<<<<<<< " in data):
            self.whole()


_WHOLE = object()  # "answer from the whole lock"
_PLAIN = re.compile(rb"[A-Za-z0-9_][A-Za-z0-9_=,.+-]*")


def _headers(data: bytes) -> dict[str, dict[str, tuple[int, int]]] | None:
    """variant -> step id -> (start, end) byte span of its block; None if the layout is unexpected."""
    start = data.find(b"\nvariants:\n")
    if start < 0:
        return None
    out: dict[str, dict[str, tuple[int, int]]] = {}
    current: dict[str, tuple[int, int]] | None = None
    open_step: tuple[str, int] | None = None
    for m in re.finditer(rb"^( {2}| {4})(\S[^\n]*):\n", data[start + 1:], re.M):
        pos = start + 1 + m.start()
        if open_step is not None and current is not None:
            current[open_step[0]] = (open_step[1], pos)
            open_step = None
        name = m.group(2)
        if not _PLAIN.fullmatch(name):
            if len(m.group(1)) == 2:
                current = None  # a quoted variant: its steps are looked up in the whole lock
            continue
        if len(m.group(1)) == 2:
            current = out.setdefault(name.decode(), {})
        elif current is not None:
            open_step = (name.decode(), start + 1 + m.end())
    if open_step is not None and current is not None:
        current[open_step[0]] = (open_step[1], len(data))
    return out


class _Variants(Mapping[str, Mapping[str, Any]]):
    def __init__(self, reader: LockReader):
        self._reader = reader

    def __getitem__(self, variant: str) -> Mapping[str, Any]:
        return _Steps(self._reader, variant)

    def get(self, variant: str, default: Any = None) -> Any:  # type: ignore[override]
        return _Steps(self._reader, variant)

    def __iter__(self) -> Any:
        whole = self._reader.whole()
        return iter(() if whole is None else whole.variants)

    def __len__(self) -> int:
        whole = self._reader.whole()
        return 0 if whole is None else len(whole.variants)


class _Steps(Mapping[str, Any]):
    def __init__(self, reader: LockReader, variant: str):
        self._reader = reader
        self._variant = variant

    def __getitem__(self, sid: str) -> Any:
        got = self._reader.step(self._variant, sid)
        if got is None:
            raise KeyError(sid)
        return got

    def __iter__(self) -> Any:
        return iter(self._reader.whole_steps(self._variant))

    def __len__(self) -> int:
        return len(self._reader.whole_steps(self._variant))


def _lock_memo_file(data: bytes, state: Path) -> Path:
    h = hashlib.sha256(_lock_code_fingerprint())
    h.update(data)
    return Path(state) / _memo.MEMO_DIR / f"lock-{h.hexdigest()}.pickle"


def _lock_code_fingerprint() -> bytes:
    from omniflow.store import cache, lock

    return repr([(f, _memo.stat_sig(f)) for f in (lock.__file__, cache.__file__)]).encode()


def _parse_fast(data: bytes) -> Any:
    """The lock parsed from exactly the bytes the memo key hashed (libyaml), or None to fall back.

    ``store.read_lock`` reads the file again, which may have changed since it
    was hashed; parsing ``data`` keeps the memo key and its value together.
    Any doubt (no libyaml, a YAML error, an invalid lock) returns None so that
    ``read_lock`` produces its located error message.
    """
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", None)
    if loader_cls is None:
        return None
    try:
        from omniflow.store.lock import (
            lock_from_data,  # the one place that turns data into a LockFile
        )

        return lock_from_data(yaml.load(data.decode("utf-8"), Loader=loader_cls))  # noqa: S506 - a safe loader
    except Exception:  # noqa: BLE001 - the slow path says what is wrong
        return None
