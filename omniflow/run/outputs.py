"""What a finished step leaves for people: its lock entry and its file under outputs/.

Both are written right after each step (not at the end of the run), so a
crash keeps what finished. Files in outputs/ are copies of cache objects
(a hard link would let an edit of the output corrupt the cache), written to a
temp name and renamed, so a reader never sees half a file, and hashed as they
are copied, so a corrupt object never reaches outputs/.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from pathlib import Path

from omniflow.errors import CacheError
from omniflow.run.experiments import EXPERIMENTS
from omniflow.store.cache import Cache, Entry
from omniflow.store.lock import DEFAULT_VARIANT, LockFile, LockStep, read_lock, write_lock
from omniflow.store.root import check_inside


def output_path(root: Path, pipeline: str, variant: str, step: str, ext: str) -> Path:
    """``outputs/<pipeline>/[<variant>/]<step>.<ext>`` (design §2)."""
    base = root / "outputs" / pipeline
    if variant:
        base = base / variant
    return base / f"{step}{ext}"


def output_files(dest_no_ext: Path, exts: list[str]) -> list[Path]:
    """The files a step's outputs are copied to, one per output, in order (``omniflow clean`` reads it too)."""
    out = []
    for i, ext in enumerate(exts):
        # several outputs of one step (subtitles: .mp4, .srt, .vtt) are <step>.<ext> each; only
        # outputs sharing an extension are told apart by -2, -3
        suffix = "" if i == 0 or exts.count(ext) == 1 else f"-{i + 1}"
        out.append(dest_no_ext.with_name(dest_no_ext.name + suffix + ext))
    return out


def materialize(cache: Cache, entry: Entry, dest_no_ext: Path, *, project: Path | None = None) -> list[Path]:
    """Copy the entry's objects to ``dest`` (+ext) unless the copy made earlier is still there.

    A copy carries its object's mtime, so "same size and mtime" recognises an
    untouched copy without re-hashing every output on every run; a file edited
    or replaced by hand has another mtime and is copied again, its object
    hashed as it is copied (:meth:`Cache.copy_object`: a corrupt object is
    quarantined, never copied). With ``project``, a symlink on the way that
    leads out of it is refused before anything is written.
    """
    written = []
    for obj, dest in zip(entry.outputs, output_files(dest_no_ext, [o.ext for o in entry.outputs]), strict=True):
        if project is not None:
            check_inside(project, dest.parent)
        src = cache.object_path(obj.sha256)
        try:
            src_stat = src.stat()
        except FileNotFoundError:
            raise CacheError(f"{dest.name}: {cache.missing_reason(obj.sha256)}") from None
        try:
            here = os.lstat(dest)  # a link in dest's place is not our copy: it is replaced, never followed
        except FileNotFoundError:
            here = None
        if (here is not None and stat.S_ISREG(here.st_mode) and here.st_size == obj.bytes
                and here.st_mtime_ns == src_stat.st_mtime_ns):
            written.append(dest)
            continue
        cache.copy_object(obj.sha256, dest, mtime_ns=src_stat.st_mtime_ns)
        written.append(dest)
    return written


class LockWriter:
    """The lock, kept in memory during a run and written atomically now and then.

    It is written after each batch of finished steps: when a step finishes
    and at least ``interval`` seconds have passed since the last write, the
    interval stretching to thirty times the last write's duration (one whole
    dump of a 1,000-step lock takes about a second, so intermediate dumps stay
    under ~3 % of a run), and always at the end (``flush``). Rewriting a large lock after every
    one of thousands of steps would cost O(n^2). A crash loses at most one
    batch of lock; the next run rebuilds those entries from the cache, where
    each step's entry was written the moment it finished.
    """

    def __init__(self, path: Path, pipeline: str, *, interval: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.path = path
        pipeline = pipeline.partition(f"/{EXPERIMENTS}/")[0]  # an experiment's lock names its pipeline
        self.lock = read_lock(path) or LockFile(pipeline)
        if self.lock.pipeline != pipeline:
            self.lock = replace(self.lock, pipeline=pipeline)
        self._dirty = False
        self._interval = interval
        self._clock = clock
        self._last = clock()
        self._cost = 0.0

    def set(self, variant: str, step: str, lock_step: LockStep) -> None:
        if self.lock.step(variant, step) != lock_step:
            self.lock = self.lock.with_step(variant, step, lock_step)
            self._dirty = True

    def set_entry(self, entry: Entry, places: list[tuple[str, str]]) -> None:
        """Every (variant, step) that stands for ``entry`` gets its lock entry."""
        lock_step = LockStep.from_entry(entry)
        for variant, step in places:
            self.set(variant, step, lock_step)

    def prune(self, keep: Mapping[str, Collection[str]]) -> None:
        pruned = self.lock.pruned(keep)
        if pruned != self.lock:
            self.lock = pruned
            self._dirty = True

    def due(self) -> bool:
        return self._dirty and self._clock() - self._last >= max(self._interval, 30 * self._cost)

    def snapshot(self) -> LockFile | None:
        """The lock to write now (immutable, so safe to hand to a thread), or None if clean."""
        if not self._dirty:
            return None
        self._dirty = False
        return self.lock

    def write(self, lock: LockFile) -> None:
        started = time.monotonic()
        write_lock(self.path, lock)
        self._cost = time.monotonic() - started
        self._last = self._clock()

    def flush(self) -> None:
        lock = self.snapshot()
        if lock is not None:
            self.write(lock)
        self._last = self._clock()


def materialize_all(cache: Cache, entry: Entry, root: Path, pipeline: str, places: list[tuple[str, str]]) -> None:
    for variant, step in places:
        materialize(cache, entry, output_path(root, pipeline, variant, step, ""), project=root)


def referenced_outputs(root: Path, pipeline: str, lock: LockFile) -> set[Path]:
    """Every file under ``outputs/<pipeline>/`` that an entry of ``lock`` stands for (``omniflow clean`` keeps them)."""
    keep: set[Path] = set()
    for vlabel, steps in lock.variants.items():
        variant = "" if vlabel == DEFAULT_VARIANT else vlabel
        for step, lock_step in steps.items():
            dest = output_path(root, pipeline, variant, step, "")
            keep.update(output_files(dest, [o.ext for o in lock_step.outputs]))
    return keep
