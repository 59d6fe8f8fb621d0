"""The shared remote cache on S3-compatible storage (design §6).

Bucket layout under ``s3://bucket/prefix``, mirroring the local cache::

    <prefix>/objects/<sha[:2]>/<sha>        output bytes, named by their sha256, immutable
    <prefix>/index/<key[:2]>/<key>.json     step key -> Entry (the same JSON as the local index)

Rules that keep a shared bucket consistent without any locking:

- an object is uploaded before the index entry that names it, so an entry
  seen remotely always has its bytes (a crash between leaves only an orphan
  object, harmless);
- objects are named by content, so a good one is never re-uploaded (HEAD
  first); one whose bytes do not match its name is replaced by a push from a
  machine holding the good copy (``push.py``, judged as ``integrity.py`` says);
- an index entry is written only when the key is missing remotely, or when
  the remote one is broken: the first good push of a key wins and later ones
  keep theirs locally (see docs/scaling.md);
- every download is hashed on the way to a temp file in the cache and
  compared with its name; a mismatch is refused and never enters the cache.

All calls are blocking boto3 calls fanned out on a bounded thread pool; the
async run engine can call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from omniflow.core.keys import canonical_json
from omniflow.errors import RemoteCorruptError, RemoteError
from omniflow.remote._s3 import (
    S3Location,
    check_bucket,
    guarded,
    guarded_or_none,
    make_client,
    parse_s3_url,
)
from omniflow.remote.integrity import SINGLE_PUT_LIMIT, Digests, hash_chunks, stamp
from omniflow.remote.push import PushReport, push_keys
from omniflow.store.cache import Cache, Entry, is_hex64

T = TypeVar("T")
R = TypeVar("R")

_CHUNK = 1 << 20
#: up to this many keys, ``has_many`` HEADs each index entry; above, it lists
#: the index folders the keys fall in (measured in docs/scaling.md).
HEAD_LIMIT = 256


@dataclass(frozen=True)
class PullReport:
    """What a pull did, key by key; ``corrupt`` maps a key to why it was refused."""

    fetched: tuple[str, ...] = ()
    present: tuple[str, ...] = ()          # already complete in the local cache
    missing_remote: tuple[str, ...] = ()
    corrupt: dict[str, str] = field(default_factory=dict)
    objects_downloaded: int = 0
    bytes_downloaded: int = 0


@dataclass(frozen=True)
class _KeyPull:
    state: str  # fetched | present | missing | corrupt
    reason: str = ""
    objects: int = 0
    bytes: int = 0


class RemoteCache:
    """A cache shared through a bucket: ``push`` / ``pull`` / ``has_many`` / ``fetch``.

    ``url`` is ``s3://bucket/prefix``; ``endpoint_url`` points at an
    S3-compatible store (MinIO, R2, a local moto server). Credentials come
    from the standard AWS environment and files.
    """

    def __init__(self, url: str, endpoint_url: str | None = None, *, workers: int = 16,
                 max_attempts: int = 3, head_limit: int = HEAD_LIMIT):
        self.location = parse_s3_url(url)
        self.url = str(self.location)
        self.endpoint_url = endpoint_url or None
        self.workers = max(1, workers)
        self.head_limit = head_limit
        self._max_attempts = max_attempts
        self._client: Any = None
        self._bucket_ok = False

    def __repr__(self) -> str:
        return f"RemoteCache({self.url!r}, endpoint_url={self.endpoint_url!r})"

    # -- plumbing ------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 client, made (and the bucket checked) on first use."""
        if self._client is None:
            self._client = make_client(self.endpoint_url, max_attempts=self._max_attempts, pool=self.workers * 2)
        if not self._bucket_ok:
            check_bucket(self._client, self.location, self.endpoint_url)
            self._bucket_ok = True
        return self._client

    def check(self) -> None:
        """Make the client and check the bucket now: a clear RemoteError if it cannot be used."""
        _ = self.client

    def object_key(self, sha256: str) -> str:
        return self.location.key("objects", sha256[:2], sha256)

    def index_key(self, key: str) -> str:
        return self.location.key("index", key[:2], f"{key}.json")

    def _call(self, fn: Callable[[], T]) -> T:
        return guarded(fn, self.location, self.endpoint_url)

    def _call_or_none(self, fn: Callable[[], T]) -> T | None:
        return guarded_or_none(fn, self.location, self.endpoint_url)

    def _exists(self, name: str) -> bool:
        return self._call_or_none(lambda: self.client.head_object(Bucket=self.location.bucket, Key=name)) is not None

    def fan_out(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(i) for i in items]`` on the thread pool, in order."""
        items = list(items)
        if len(items) <= 1:
            return [fn(i) for i in items]
        _ = self.client  # make the client and check the bucket once, before the threads
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(fn, items))

    # -- queries -------------------------------------------------------------

    def has(self, key: str) -> bool:
        """True when the remote holds an index entry for ``key`` (hence its objects)."""
        _check_key(key)
        return self._exists(self.index_key(key))

    def has_many(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` the remote holds, in a bounded number of requests.

        Few keys: one HEAD each on the thread pool. Many keys: one paginated
        LIST per index folder (``index/<key[:2]>/``) the keys fall in, at most
        256 folders, so the cost grows with the remote's size / 1000, not with
        the number of keys asked.
        """
        wanted = sorted(set(keys))
        for key in wanted:
            _check_key(key)
        if not wanted:
            return set()
        if len(wanted) <= self.head_limit:
            found = self.fan_out(self.has, wanted)
            return {k for k, ok in zip(wanted, found, strict=True) if ok}
        folders = sorted({k[:2] for k in wanted})
        listed: set[str] = set()
        for names in self.fan_out(self._list_index_folder, folders):
            listed.update(names)
        return listed & set(wanted)

    def _list_index_folder(self, folder: str) -> set[str]:
        return {name[: -len(".json")] for name in self.listing(f"index/{folder}") if name.endswith(".json")}

    def read_entry_bytes(self, key: str) -> bytes | None:
        """The raw remote index entry of ``key``, or None when there is none."""
        _check_key(key)
        return self._call_or_none(
            lambda: self.client.get_object(Bucket=self.location.bucket, Key=self.index_key(key))["Body"].read())

    def get_entry(self, key: str) -> Entry | None:
        """The remote index entry for ``key``, or None; a malformed one is RemoteCorruptError."""
        raw = self.read_entry_bytes(key)
        return None if raw is None else parse_entry(key, raw)

    # -- objects and entries, one request each (push.py and verify.py decide) --------

    def head_object(self, name: str) -> dict[str, Any] | None:
        """The HEAD of object ``name`` with its stored checksum, or None when it is not there."""
        return self._call_or_none(lambda: self.client.head_object(
            Bucket=self.location.bucket, Key=name, ChecksumMode="ENABLED"))

    def read_object(self, name: str, limit: int | None = None) -> Digests | None:
        """Download ``name`` only to hash it (nothing is kept); None when it is not there."""
        def read() -> Digests:
            body = self.client.get_object(Bucket=self.location.bucket, Key=name)["Body"]
            try:
                return hash_chunks(body.iter_chunks(_CHUNK), limit)
            finally:
                body.close()  # stopped early for a long object: drop the rest of the stream

        return self._call_or_none(read)

    def upload_object(self, path: Path, name: str, media_type: str, digests: Digests) -> None:
        """Upload a local file whose ``digests`` were just computed, stamped and checksummed.

        Up to 5 GiB it is one PUT with ``ChecksumAlgorithm=SHA256``: the store
        verifies the bytes on arrival and keeps a full-object checksum, and
        its ETag is the md5 stamped beside it (integrity.py).
        """
        from boto3.s3.transfer import TransferConfig

        single = digests.size <= SINGLE_PUT_LIMIT
        metadata = stamp(digests) if single else {"sha256": digests.sha256}  # multipart: no plain md5 ETag
        config = TransferConfig(multipart_threshold=SINGLE_PUT_LIMIT, multipart_chunksize=64 << 20,
                                use_threads=not single)
        extra = {"ContentType": media_type, "Metadata": metadata, **self._checksum()}
        self._call(lambda: self.client.upload_file(str(path), self.location.bucket, name, ExtraArgs=extra,
                                                   Config=config))

    def _checksum(self) -> dict[str, str]:
        # A store without S3's additional checksums (GCS, older MinIO...) needs the standard
        # AWS_REQUEST_CHECKSUM_CALCULATION=when_required: then none is asked for, and the md5
        # stamp against the ETag is what lets a HEAD vouch for the bytes.
        if getattr(self.client.meta.config, "request_checksum_calculation", None) == "when_required":
            return {}
        return {"ChecksumAlgorithm": "SHA256"}

    def stamp_object(self, name: str, head: dict[str, Any], digests: Digests) -> bool:
        """Stamp an object just re-hashed as good, by a server-side copy onto itself (no bytes move).

        Conditional on its ETag: if someone replaced it since the HEAD, nothing
        is stamped (False) and the next push judges the new bytes.
        """
        from botocore.exceptions import ClientError

        from omniflow.remote._s3 import error_code, explain

        bucket = self.location.bucket
        try:
            self.client.copy_object(
                Bucket=bucket, Key=name, CopySource={"Bucket": bucket, "Key": name},
                CopySourceIfMatch=head.get("ETag", ""), MetadataDirective="REPLACE", Metadata=stamp(digests),
                ContentType=head.get("ContentType") or "application/octet-stream", **self._checksum())
        except ClientError as exc:
            if error_code(exc) in ("PreconditionFailed", "412"):
                return False
            raise explain(exc, self.location, self.endpoint_url) from None
        return True

    def put_entry(self, entry: Entry) -> None:
        """Write the remote index entry of ``entry.key`` (its objects must be there already)."""
        body = canonical_json(entry.to_json()) + b"\n"
        self._call(lambda: self.client.put_object(Bucket=self.location.bucket, Key=self.index_key(entry.key),
                                                  Body=body, ContentType="application/json"))

    def listing(self, folder: str) -> dict[str, int]:
        """Every name under ``<prefix>/<folder>/`` (relative to it) with its size, paginated."""
        prefix = self.location.key(folder) + "/"
        paginator = self.client.get_paginator("list_objects_v2")
        found: dict[str, int] = {}

        def walk() -> None:
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    found[item["Key"][len(prefix):]] = int(item.get("Size", 0))

        self._call(walk)
        return found

    # -- push ----------------------------------------------------------------

    def push(self, cache: Cache, keys: Iterable[str]) -> PushReport:
        """Upload the entries of ``keys`` and their objects the remote lacks, and repair broken ones.

        See ``omniflow/remote/push.py``: objects first (a corrupt remote copy
        is replaced by this machine's verified one), then entries.
        """
        wanted = sorted(set(keys))
        for key in wanted:
            _check_key(key)
        return push_keys(self, cache, wanted)

    # -- pull ----------------------------------------------------------------

    def pull(self, cache: Cache, keys: Iterable[str]) -> PullReport:
        """Download the entries of ``keys`` (and their objects) the local cache lacks.

        A corrupt remote object or entry is reported in ``corrupt`` and never
        enters the cache; the other keys are still pulled.
        """
        wanted = sorted(set(keys))
        for key in wanted:
            _check_key(key)
        results = self.fan_out(lambda k: self._pull_one(cache, k), wanted)
        by_state: dict[str, list[str]] = {"fetched": [], "present": [], "missing": [], "corrupt": []}
        corrupt: dict[str, str] = {}
        for key, r in zip(wanted, results, strict=True):
            by_state[r.state].append(key)
            if r.state == "corrupt":
                corrupt[key] = r.reason
        return PullReport(
            fetched=tuple(by_state["fetched"]),
            present=tuple(by_state["present"]),
            missing_remote=tuple(by_state["missing"]),
            corrupt=corrupt,
            objects_downloaded=sum(r.objects for r in results),
            bytes_downloaded=sum(r.bytes for r in results),
        )

    def _pull_one(self, cache: Cache, key: str) -> _KeyPull:
        if cache.complete_entry(key) is not None:
            return _KeyPull("present")
        try:
            got = self._copy_in(cache, key)
        except RemoteCorruptError as exc:
            return _KeyPull("corrupt", str(exc))
        if got is None:
            return _KeyPull("missing")
        _, count, size = got
        return _KeyPull("fetched", objects=count, bytes=size)

    def fetch(self, key: str, cache: Cache) -> Entry | None:
        """Pull one key with its objects into ``cache``; None when the remote lacks it.

        For the run engine: call it before creating a task. Raises
        RemoteCorruptError (nothing enters the cache) when the remote copy is bad.
        """
        _check_key(key)
        local = cache.complete_entry(key)
        if local is not None:
            return local
        got = self._copy_in(cache, key)
        return got[0] if got is not None else None

    def _copy_in(self, cache: Cache, key: str) -> tuple[Entry, int, int] | None:
        """The remote entry of ``key`` and its objects into ``cache``: (entry, objects, bytes) downloaded."""
        entry = self.get_entry(key)
        if entry is None:
            return None
        count, size = self._download_objects(cache, entry)
        cache.put_entry(entry)  # last: the local entry appears only with all its objects
        return entry, count, size

    def _download_objects(self, cache: Cache, entry: Entry) -> tuple[int, int]:
        count = size = 0
        for out in entry.outputs:
            if cache.has_object(out.sha256):
                continue
            self._download_object(cache, entry.key, out.sha256, out.bytes, out.media_type,
                                  duration=out.duration, width=out.width, height=out.height)
            count += 1
            size += out.bytes
        return count, size

    def _download_object(self, cache: Cache, key: str, sha: str, expected_size: int, media_type: str,
                         **media: Any) -> None:
        tmp = cache.temp_path(".part")

        def download() -> tuple[int, str]:
            answer = self.client.get_object(Bucket=self.location.bucket, Key=self.object_key(sha))
            digest = hashlib.sha256()
            got = 0
            with open(tmp, "wb") as f:
                for chunk in answer["Body"].iter_chunks(_CHUNK):
                    got += len(chunk)
                    if got > expected_size:
                        break  # refuse early: no unbounded download for a bad object
                    digest.update(chunk)
                    f.write(chunk)
            return got, digest.hexdigest()

        try:
            done = self._call_or_none(download)
            if done is None:
                raise RemoteCorruptError(
                    f"key {key}: the remote index names object {sha} but the remote has no such object; refused")
            got, actual = done
            if got != expected_size or actual != sha:
                raise RemoteCorruptError(
                    f"key {key}: remote object {sha} is corrupt (got {got} bytes with sha256 {actual[:12]}..., "
                    f"expected {expected_size} bytes); refused, not cached"
                )
            info = cache.put_file(tmp, media_type, **media)
            if info.sha256 != sha:  # pragma: no cover - the bytes were hashed on the way
                raise RemoteCorruptError(f"key {key}: object {sha} changed while being stored; refused")
        finally:
            with suppress(FileNotFoundError):
                tmp.unlink()


def parse_entry(key: str, raw: bytes) -> Entry:
    """The entry stored under ``key``; RemoteCorruptError when it does not parse or names another key."""
    try:
        entry = Entry.from_json(json.loads(raw.decode("utf-8")))
    except ValueError as exc:  # JSON, UTF-8 and field errors alike
        raise RemoteCorruptError(f"key {key}: the remote index entry is corrupt ({exc}); refused") from None
    if entry.key != key:
        raise RemoteCorruptError(f"key {key}: the remote index entry records key {entry.key}; refused")
    return entry


def _check_key(key: str) -> None:
    # keys become object names: refuse anything that is not a key before touching the bucket
    if not is_hex64(key):
        raise RemoteError(f"not a step key: {key!r} (expected 64 lowercase hex characters)")


__all__ = ["HEAD_LIMIT", "PullReport", "PushReport", "RemoteCache", "RemoteCorruptError", "RemoteError",
           "S3Location"]
