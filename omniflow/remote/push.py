"""``push``: share this machine's outputs, and repair what is broken on the remote.

Objects first, each distinct object once, then the index entries of the keys
whose objects are all good remotely (an entry visible remotely must always
have its bytes).

An object the remote already has is judged from the HEAD push makes anyway
(integrity.py); only when that cannot tell is it downloaded and re-hashed,
once, and then stamped so later pushes decide from the HEAD alone. A remote
object whose bytes do not match its name is replaced by this machine's copy,
after re-hashing that copy: a push never uploads bytes that do not match
their name. A remote entry that does not parse, records another key, or
names an object the remote lacks or holds corrupt is replaced by this
machine's entry. Otherwise the remote entry stays: the first good push of a
key wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from omniflow.errors import RemoteCorruptError
from omniflow.remote.integrity import (
    BAD,
    DOUBT,
    GOOD,
    SINGLE_PUT_LIMIT,
    Verdict,
    hash_path,
    judge_bytes,
    judge_head,
)

if TYPE_CHECKING:
    from omniflow.remote.s3 import RemoteCache
    from omniflow.store.cache import Cache, Entry, ObjectInfo


@dataclass(frozen=True)
class PushReport:
    """What a push did, key by key and object by object."""

    entries_uploaded: tuple[str, ...] = ()
    entries_present: tuple[str, ...] = ()   # already remote and sound: first push wins
    missing_local: tuple[str, ...] = ()     # no complete local entry to push
    objects_uploaded: int = 0               # new on the remote
    objects_present: int = 0                # already there and judged good
    bytes_uploaded: int = 0                 # new and repaired objects
    repaired: tuple[str, ...] = ()          # one line per remote object or entry replaced
    local_corrupt: Mapping[str, str] = field(default_factory=dict)  # key -> why it was not pushed
    objects_checked: int = 0                # downloaded and re-hashed: the HEAD could not tell
    bytes_checked: int = 0

    @property
    def objects_repaired(self) -> int:
        return sum(1 for line in self.repaired if line.startswith("object "))

    @property
    def entries_repaired(self) -> int:
        return sum(1 for line in self.repaired if line.startswith("entry "))


@dataclass(frozen=True)
class _Object:
    state: str  # uploaded | present | repaired | local-corrupt
    reason: str = ""
    uploaded: int = 0
    checked: int = -1  # bytes downloaded to judge it; -1: not downloaded


@dataclass(frozen=True)
class _Entry:
    state: str  # uploaded | present | repaired
    reason: str = ""


def push_keys(remote: RemoteCache, cache: Cache, keys: Sequence[str]) -> PushReport:
    """Push ``keys`` (already checked to be keys) from ``cache`` to ``remote``."""
    entries = {key: cache.complete_entry(key) for key in keys}
    objects: dict[str, ObjectInfo] = {}
    for entry in entries.values():
        for out in entry.outputs if entry is not None else ():
            objects.setdefault(out.sha256, out)
    shas = sorted(objects)
    done = dict(zip(shas, remote.fan_out(lambda sha: _push_object(remote, cache, objects[sha]), shas),
                    strict=True))

    ready: list[Entry] = []
    local_corrupt: dict[str, str] = {}
    for key, entry in entries.items():
        if entry is None:
            continue
        bad = [done[o.sha256].reason for o in entry.outputs if done[o.sha256].state == "local-corrupt"]
        if bad:
            local_corrupt[key] = f"key {key}: {bad[0]}; not pushed"
        else:
            ready.append(entry)
    pushed = dict(zip((e.key for e in ready), remote.fan_out(lambda e: _push_entry(remote, e), ready),
                      strict=True))

    repaired = [f"object {sha}: {r.reason}; replaced with this machine's good copy"
                for sha, r in done.items() if r.state == "repaired"]
    repaired += [f"entry {key}: {r.reason}; replaced with this machine's entry"
                 for key, r in pushed.items() if r.state == "repaired"]
    checked = [r.checked for r in done.values() if r.checked >= 0]
    return PushReport(
        entries_uploaded=tuple(k for k, r in pushed.items() if r.state in ("uploaded", "repaired")),
        entries_present=tuple(k for k, r in pushed.items() if r.state == "present"),
        missing_local=tuple(k for k, e in entries.items() if e is None),
        objects_uploaded=sum(1 for r in done.values() if r.state == "uploaded"),
        objects_present=sum(1 for r in done.values() if r.state == "present"),
        bytes_uploaded=sum(r.uploaded for r in done.values()),
        repaired=tuple(repaired),
        local_corrupt=local_corrupt,
        objects_checked=len(checked),
        bytes_checked=sum(checked),
    )


def _push_object(remote: RemoteCache, cache: Cache, info: ObjectInfo) -> _Object:
    sha, size = info.sha256, info.bytes
    name = remote.object_key(sha)
    head = remote.head_object(name)
    if head is None:
        return _upload(remote, cache, info, "uploaded")
    verdict = judge_head(head, sha, size)
    checked = -1
    if verdict.state == DOUBT:
        got = remote.read_object(name, limit=size)
        if got is None:  # deleted since the HEAD
            return _upload(remote, cache, info, "uploaded")
        checked = got.size
        verdict = judge_bytes(got, sha, size)
        if verdict.state == GOOD and size <= SINGLE_PUT_LIMIT:
            remote.stamp_object(name, head, got)
    if verdict.state == GOOD:
        return _Object("present", checked=checked)
    return _upload(remote, cache, info, "repaired", verdict, checked)


def _upload(remote: RemoteCache, cache: Cache, info: ObjectInfo, state: str,
            remote_verdict: Verdict | None = None, checked: int = -1) -> _Object:
    sha = info.sha256
    path = cache.object_path(sha)
    also = f" (and the remote copy is corrupt: {remote_verdict.reason})" if remote_verdict else ""
    try:
        local = hash_path(path)
    except OSError as exc:
        return _Object("local-corrupt", f"cannot read the local object {sha}: {exc.strerror or exc}{also}",
                       checked=checked)
    if local.sha256 != sha or local.size != info.bytes:
        return _Object("local-corrupt", f"the local object {sha} is corrupt (its bytes hash to "
                       f"{local.sha256[:12]}...; `omniflow cache verify --quarantine` sets it aside){also}",
                       checked=checked)
    remote.upload_object(path, remote.object_key(sha), info.media_type, local)
    reason = remote_verdict.reason if remote_verdict is not None else ""
    return _Object(state, reason, uploaded=local.size, checked=checked)


def _push_entry(remote: RemoteCache, entry: Entry) -> _Entry:
    try:
        theirs = remote.get_entry(entry.key)
    except RemoteCorruptError as exc:
        remote.put_entry(entry)
        return _Entry("repaired", str(exc).removeprefix(f"key {entry.key}: ").removesuffix("; refused"))
    if theirs is None:
        remote.put_entry(entry)
        return _Entry("uploaded")
    mine = {o.sha256 for o in entry.outputs}  # judged (and repaired) in the object pass
    for out in theirs.outputs:
        if out.sha256 in mine:
            continue
        head = remote.head_object(remote.object_key(out.sha256))
        if head is None:
            why = f"it names object {out.sha256}, which the remote does not have"
        elif (verdict := judge_head(head, out.sha256, out.bytes)).state == BAD:
            why = f"it names object {out.sha256}, which is corrupt ({verdict.reason})"
        else:
            continue  # good, or in doubt: the first push keeps its entry
        remote.put_entry(entry)
        return _Entry("repaired", why)
    return _Entry("present")
