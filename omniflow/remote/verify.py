"""``omniflow remote verify``: every remote object against its name, every entry against the objects.

Objects: each ``objects/<sha[:2]>/<sha>`` is downloaded and re-hashed (the
only way to catch rot below the store's API; costs the bucket's size in
downloads). ``quick`` judges each from a HEAD as ``push`` does and
downloads only those the HEAD cannot decide (integrity.py).

Entries: each ``index/<key[:2]>/<key>.json`` must parse, record its own key,
and name only objects the remote has, at the size the entry records.

Every problem is one line; nothing is changed (``push`` from a machine with
the good copies repairs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from omniflow.errors import RemoteCorruptError
from omniflow.remote.integrity import DOUBT, GOOD, judge_bytes, judge_head
from omniflow.remote.s3 import RemoteCache, parse_entry
from omniflow.store.entries import is_hex64


@dataclass(frozen=True)
class VerifyReport:
    objects: int          # objects checked
    entries: int          # entries checked
    bytes_read: int       # downloaded to re-hash
    problems: tuple[str, ...]


@dataclass(frozen=True)
class _Checked:
    problem: str | None
    shas: tuple[str, ...] = ()  # the objects an entry names
    read: int = 0


def verify_remote(remote: RemoteCache, *, quick: bool = False) -> VerifyReport:
    """Check the whole remote; a report whose ``problems`` is empty means all is sound."""
    remote.check()
    problems: list[str] = []
    sizes: dict[str, int] = {}
    for rel, size in sorted(remote.listing("objects").items()):
        folder, _, sha = rel.partition("/")
        if is_hex64(sha) and folder == sha[:2]:
            sizes[sha] = size
        else:
            problems.append(f"{remote.location.key('objects', rel)}: not an object name "
                            "(objects/<sha256[:2]>/<sha256>)")
    keys: list[str] = []
    for rel in sorted(remote.listing("index")):
        folder, _, file = rel.partition("/")
        key = file.removesuffix(".json")
        if file.endswith(".json") and is_hex64(key) and folder == key[:2]:
            keys.append(key)
        else:
            problems.append(f"{remote.location.key('index', rel)}: not an index entry name "
                            "(index/<key[:2]>/<key>.json)")

    shas = sorted(sizes)
    objects = dict(zip(shas, remote.fan_out(lambda s: _check_object(remote, s, sizes[s], quick), shas),
                       strict=True))
    corrupt = {sha for sha, c in objects.items() if c.problem}
    named_by: dict[str, list[str]] = {}
    entries = remote.fan_out(lambda k: _check_entry(remote, k, sizes, corrupt), keys)
    for key, checked in zip(keys, entries, strict=True):
        for sha in checked.shas:
            named_by.setdefault(sha, []).append(key)
    for sha, checked in objects.items():
        if checked.problem:
            users = named_by.get(sha, [])
            used = (f"; named by {len(users)} entr{'y' if len(users) == 1 else 'ies'} ({', '.join(users[:3])}"
                    f"{', ...' if len(users) > 3 else ''})") if users else "; no entry names it"
            problems.append(f"object {sha}: {checked.problem}{used}")
    problems += [c.problem for c in entries if c.problem]
    return VerifyReport(len(shas), len(keys), sum(c.read for c in objects.values()), tuple(problems))


def _check_object(remote: RemoteCache, sha: str, size: int, quick: bool) -> _Checked:
    name = remote.object_key(sha)
    if quick:
        head = remote.head_object(name)
        if head is None:
            return _Checked(None)  # deleted since the listing: nothing left to be wrong
        verdict = judge_head(head, sha, size)
        if verdict.state != DOUBT:
            return _Checked(None if verdict.state == GOOD else verdict.reason)
    got = remote.read_object(name)
    if got is None:
        return _Checked(None)
    verdict = judge_bytes(got, sha, got.size)  # the listing's size is the object's: only the hash can be wrong
    return _Checked(None if verdict.state == GOOD else verdict.reason, read=got.size)


def _check_entry(remote: RemoteCache, key: str, sizes: Mapping[str, int], corrupt: set[str]) -> _Checked:
    where = f"entry {key}"
    raw = remote.read_entry_bytes(key)
    if raw is None:
        return _Checked(None)  # deleted since the listing
    try:
        entry = parse_entry(key, raw)
    except RemoteCorruptError as exc:
        return _Checked(f"{where}: {str(exc).removeprefix(f'key {key}: ').removesuffix('; refused')}")
    shas = tuple(o.sha256 for o in entry.outputs)
    for out in entry.outputs:
        if out.sha256 not in sizes:
            return _Checked(f"{where}: names object {out.sha256}, which the remote does not have", shas)
        if out.sha256 not in corrupt and sizes[out.sha256] != out.bytes:
            return _Checked(f"{where}: records {out.bytes} bytes for object {out.sha256}, "
                            f"the remote holds {sizes[out.sha256]}", shas)
    return _Checked(None, shas)
