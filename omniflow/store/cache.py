"""The content-addressed cache under ``.omniflow/`` (design.md §2).

Layout of the state folder (the ``.omniflow`` folder of a project)::

    objects/<sha[:2]>/<sha>        the bytes, named by their sha256, read-only, no extension
    index/<key[:2]>/<key>.json     step key -> Entry (canonical JSON, sorted keys)
    tmp/                           temp files (same filesystem, so renames are atomic)
    quarantine/<sha>               objects found corrupt (by `verify` or when read), set aside

Every write is atomic (temp file + fsync + rename + fsync of the folder), so a
crash never leaves a half-written object or index entry where a reader looks.
The cache knows bytes and keys, not media: the caller supplies the media type
and, when it knows them, duration and size.

Two distrusts (docs/cache.md): no folder the cache writes in may be a symlink
leading out of the project (:func:`omniflow.store.root.check_inside`), and an
object's bytes are re-hashed whenever they are read to leave the cache (copied
to outputs/, published): a mismatch quarantines the object, so its step is no
longer cached and runs again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from pathlib import Path

from omniflow.core.keys import canonical_json
from omniflow.errors import CacheError
from omniflow.store._atomic import (
    copy_atomic,
    describe_oserror,
    fsync_dir,
    fsync_file,
    write_atomic,
)
from omniflow.store.entries import (  # noqa: F401  (re-exported: the store's public values)
    Entry,
    ObjectInfo,
    _check_hex64,
    ext_for,
    is_hex64,
)
from omniflow.store.root import check_inside, project_of

_CHUNK = 1 << 20


def hash_file(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class Cache:
    """The objects and the index under one ``.omniflow`` folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.index = self.root / "index"
        self.tmp = self.root / "tmp"
        self.quarantine = self.root / "quarantine"
        self.project = project_of(self.root)  # symlinks leading out of it are never written through

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------

    def _writable(self, folder: Path) -> Path:
        """``folder``, made if missing, after refusing any symlink on the way that leads out of the project."""
        check_inside(self.project, folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create {folder}: {describe_oserror(exc)}") from exc
        return folder

    def check_writable(self, *also: Path) -> None:
        """Before a run sends anything: objects/, index/, tmp/, quarantine/ (and ``also``) lead nowhere outside.

        Only looks (nothing is created), so a refused layout costs nothing paid.
        """
        for folder in (self.objects, self.index, self.tmp, self.quarantine, *also):
            check_inside(self.project, folder)

    def temp_dir(self) -> Path:
        """A folder on the cache's filesystem, for downloads that end in :meth:`put_file`."""
        return self._writable(self.tmp)

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh, not yet existing path inside :meth:`temp_dir`."""
        return self.temp_dir() / f"dl-{os.getpid()}-{os.urandom(8).hex()}{suffix}"

    def object_path(self, sha256: str) -> Path:
        _check_hex64(sha256, "sha256")
        return self.objects / sha256[:2] / sha256

    def index_path(self, key: str) -> Path:
        _check_hex64(key, "key")
        return self.index / key[:2] / f"{key}.json"

    def has_object(self, sha256: str) -> bool:
        _check_hex64(sha256, "sha256")
        # plain strings, not Path objects: a plan asks this 10,000 times
        return os.path.isfile(os.path.join(self.objects, sha256[:2], sha256))

    # -- objects -------------------------------------------------------------

    def put_file(
        self,
        src: Path,
        media_type: str,
        *,
        duration: float | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> ObjectInfo:
        """Move a finished file into the store (atomic) and describe it.

        ``src`` should be in :meth:`temp_dir` so the move is a rename; from
        another filesystem it is copied atomically instead. If the object is
        already stored, the new copy is dropped.
        """
        src = Path(src)
        try:
            sha, size = hash_file(src)
            dest = self.object_path(sha)
            if dest.is_file() and dest.stat().st_size == size:
                src.unlink()
            else:
                check_inside(self.project, dest.parent)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(src, 0o444)  # objects are never edited in place
                try:
                    fsync_file(src)  # the bytes are on disk before the name is
                    os.replace(src, dest)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:  # another filesystem: copy instead
                        raise
                    with open(src, "rb") as f:
                        write_atomic(dest, iter(lambda: f.read(_CHUNK), b""), tmp_dir=self.tmp, mode=0o444)
                    src.unlink()
                fsync_dir(dest.parent)
        except OSError as exc:
            raise CacheError(f"cannot store {src} in {self.objects}: {describe_oserror(exc)}") from exc
        return ObjectInfo(sha, size, media_type, ext_for(media_type), duration, width, height)

    def put_bytes(
        self,
        data: bytes,
        media_type: str,
        *,
        duration: float | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> ObjectInfo:
        """Store ``data`` (atomic) and describe it."""
        sha = hashlib.sha256(data).hexdigest()
        dest = self.object_path(sha)
        if not (dest.is_file() and dest.stat().st_size == len(data)):
            check_inside(self.project, dest.parent)
            write_atomic(dest, data, tmp_dir=self.temp_dir(), mode=0o444)
        return ObjectInfo(sha, len(data), media_type, ext_for(media_type), duration, width, height)

    def iter_objects(self) -> Iterator[Path]:
        """Every file under ``objects/``, sorted, whatever its name."""
        if not self.objects.is_dir():
            return
        for sub in sorted(self.objects.iterdir()):
            if sub.is_dir():
                yield from sorted(p for p in sub.iterdir() if p.is_file())
            elif sub.is_file():
                yield sub

    def copy_object(self, sha256: str, dest: Path, *, mtime_ns: int | None = None) -> None:
        """Copy an object to ``dest`` (atomic), hashing it as it is copied (its one read).

        Bytes that no longer match their name never land: the object is
        quarantined and a CacheError says so (its step runs again next time).
        """
        src = self.object_path(sha256)

        def check(digest: str) -> None:
            if digest != sha256:
                raise self._corrupt(sha256)

        copy_atomic(src, dest, mtime_ns=mtime_ns, check=check)

    def check_object(self, sha256: str) -> Path:
        """The object's path after re-hashing it (before it is published); quarantined if its bytes changed."""
        path = self.object_path(sha256)
        try:
            digest = hash_file(path)[0]
        except FileNotFoundError:
            raise CacheError(self.missing_reason(sha256)) from None
        except OSError as exc:
            raise CacheError(f"cannot read {path}: {describe_oserror(exc)}") from exc
        if digest != sha256:
            raise self._corrupt(sha256)
        return path

    def missing_reason(self, sha256: str) -> str:
        """Why an object an entry names is not in objects/ (quarantined, or simply gone)."""
        if (self.quarantine / sha256).is_file():
            return (f"cache object {sha256[:12]} was found corrupt and is in {self.quarantine / sha256}; "
                    "its step runs again on the next run")
        return f"cache object {sha256[:12]} is missing from {self.objects}; its step runs again on the next run"

    def _corrupt(self, sha256: str) -> CacheError:
        """Quarantine a corrupt object and describe it (the error to raise)."""
        where = self._quarantine(self.object_path(sha256))
        return CacheError(
            f"cache object {sha256[:12]} is corrupt (its bytes no longer match their sha256): moved to {where}; "
            "its step runs again on the next run"
        )

    def _quarantine(self, path: Path) -> Path:
        """Move a bad object out of objects/ (so the steps naming it count as not cached)."""
        dest = self._writable(self.quarantine) / path.name
        try:
            os.replace(path, dest)
        except FileNotFoundError:
            pass  # another reader quarantined it first
        except OSError as exc:
            raise CacheError(f"cannot quarantine {path}: {describe_oserror(exc)}") from exc
        fsync_dir(self.quarantine)
        return dest

    def quarantined(self) -> list[Path]:
        """Objects set aside as corrupt, sorted (``cache ls`` lists them)."""
        if not self.quarantine.is_dir():
            return []
        return sorted(p for p in self.quarantine.iterdir() if p.is_file())

    # -- index ---------------------------------------------------------------

    def get_entry(self, key: str) -> Entry | None:
        """The entry for ``key``, or None; a corrupt index file is a CacheError naming it."""
        return self._read_entry(key, self.index_path(key))

    def _read_entry(self, key: str, path: Path) -> Entry | None:
        """The entry in index file ``path`` (None when absent); CacheError naming it when unusable."""
        if not is_hex64(key):
            raise CacheError(f"{path}: not a cache index entry (bad file name)")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheError(f"cannot read {path}: {describe_oserror(exc)}") from exc
        try:
            entry = Entry.from_json(json.loads(raw.decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CacheError(
                f"{path}: corrupt cache index entry ({exc}); delete the file to forget that step"
            ) from exc
        if entry.key != key:
            raise CacheError(f"{path}: corrupt cache index entry (it records key {entry.key})")
        return entry

    def put_entry(self, entry: Entry) -> None:
        """Record ``entry`` under its key (atomic; replaces an older entry)."""
        data = canonical_json(entry.to_json()) + b"\n"
        path = self.index_path(entry.key)
        check_inside(self.project, path.parent)
        write_atomic(path, data, tmp_dir=self.temp_dir())

    def _index_files(self) -> Iterator[tuple[str, Path]]:
        if not self.index.is_dir():
            return
        for sub in sorted(self.index.iterdir()):
            if sub.is_dir():
                for path in sorted(sub.glob("*.json")):
                    yield path.name[: -len(".json")], path

    def entries(self) -> Iterator[Entry]:
        """Every index entry, sorted by key; stops with a CacheError at a corrupt file."""
        for key, path in self._index_files():
            entry = self._read_entry(key, path)
            if entry is not None:  # else removed meanwhile
                yield entry

    def index_problems(self) -> list[str]:
        """One message per unreadable index file (for ``cache verify``)."""
        problems = []
        for key, path in self._index_files():
            try:
                self._read_entry(key, path)
            except CacheError as exc:
                problems.append(str(exc))
        return problems

    # -- freshness -----------------------------------------------------------

    def complete_entry(self, key: str) -> Entry | None:
        """The entry for ``key`` if every object it names is in the store, else None."""
        entry = self.get_entry(key)
        if entry is None or not all(self.has_object(o.sha256) for o in entry.outputs):
            return None
        return entry

    def stale_reason(self, key: str, upstream: Mapping[str, str]) -> str | None:
        """Why ``key`` does not count as cached, or None when it does (design §2)."""
        entry = self.get_entry(key)
        if entry is None:
            return "not in the cache"
        for out in entry.outputs:
            if not self.has_object(out.sha256):
                return f"output {out.sha256[:12]} is missing from the cache"
        recorded, given = dict(entry.upstream), dict(upstream)
        for up in sorted(set(recorded) | set(given)):
            if recorded.get(up) != given.get(up):
                return f"upstream {up[:12]} output changed since it was cached"
        return None

    def is_fresh(self, key: str, upstream: Mapping[str, str]) -> bool:
        """True when ``key``'s objects all exist and it consumed exactly these upstream outputs."""
        return self.stale_reason(key, upstream) is None

    # -- maintenance ---------------------------------------------------------

    def verify(self, *, quarantine: bool = False) -> list[str]:
        """Re-hash every object; return the names (sha256s) whose bytes do not match.

        With ``quarantine``, bad objects are moved to ``quarantine/`` so that the
        steps that produced them count as not cached and are regenerated.
        """
        bad = []
        for path in self.iter_objects():
            name = path.name
            try:
                ok = is_hex64(name) and path.parent.name == name[:2] and hash_file(path)[0] == name
            except OSError as exc:
                raise CacheError(f"cannot read {path}: {describe_oserror(exc)}") from exc
            if ok:
                continue
            bad.append(name)
            if quarantine:
                self._quarantine(path)
        return bad

    def gc(
        self,
        keep: set[str],
        *,
        force: bool = False,
        dry_run: bool = False,
        tmp_max_age: float = 3600.0,
        now: float | None = None,
    ) -> list[str]:
        """Remove objects not in ``keep`` and the index entries left without objects.

        Returns what was (or, with ``dry_run``, would be) removed, as paths
        relative to the cache root, sorted. An empty ``keep`` removes nothing
        unless ``force``: an empty set is far more often a mistake (no lock
        found) than a wish to empty the cache. Temp files older than
        ``tmp_max_age`` seconds (left by crashed downloads) go too.
        """
        if not keep and not force:
            raise CacheError(
                "refusing to garbage-collect with nothing to keep (no lock references any object); "
                "use --force to empty the cache"
            )
        removed: list[Path] = []
        gone: set[str] = set()
        for path in self.iter_objects():
            if path.name in keep:
                continue
            removed.append(path)
            gone.add(path.name)
        for key, path in self._index_files():
            try:
                entry = self._read_entry(key, path)
            except CacheError:
                continue  # a corrupt index file is for `verify` to report, not for gc to guess
            if entry is None:
                continue
            if any(o.sha256 in gone or not self.has_object(o.sha256) for o in entry.outputs):
                removed.append(path)
        if self.tmp.is_dir():
            limit = (time.time() if now is None else now) - tmp_max_age
            for path in sorted(self.tmp.iterdir()):
                with suppress(OSError):
                    if path.stat().st_mtime < limit:
                        removed.append(path)
        if not dry_run:
            for path in removed:
                try:
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise CacheError(f"cannot remove {path}: {describe_oserror(exc)}") from exc
            for folder in (self.objects, self.index):
                if folder.is_dir():
                    for sub in folder.iterdir():
                        with suppress(OSError):
                            sub.rmdir()  # only succeeds when empty
        return sorted(str(p.relative_to(self.root)) for p in removed)
