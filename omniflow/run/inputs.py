"""What flows into and out of a step: placeholders to URLs, cache objects to paths.

A rendered request holds ``omniflow:<key>`` (an upstream output) and
``omniflow:file:<sha256>`` (a local asset) instead of URLs. Just before a
create, each is published (the emulator's upload route, or a bucket with a
presigned URL) and replaced; the body recorded in the cache and the lock keeps
the URL without its query, since a presigned signature is a bearer secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omniflow.core.keys import FILE_PREFIX, UPSTREAM_PREFIX, upstream_key
from omniflow.errors import OmniflowError
from omniflow.store.cache import Cache, ObjectInfo


class Inputs:
    def __init__(self, cache: Cache, backend: Any):
        self.cache = cache
        self.backend = backend
        self._published: dict[str, str] = {}  # sha256 -> URL, for this run

    def _output(self, step_id: str, key: str) -> ObjectInfo:
        entry = self.cache.get_entry(key)
        if entry is None or not entry.outputs:
            raise OmniflowError(f"{step_id}: upstream output {key[:12]} is not in the cache")
        return entry.outputs[0]

    def local_paths(self, step_id: str, keys: Iterable[str]) -> list[Path]:
        """Cache paths of the upstream outputs a local step reads, in request order."""
        return [self.cache.object_path(self._output(step_id, k).sha256) for k in keys]

    def upstream_shas(self, keys: Iterable[str]) -> dict[str, str]:
        """upstream key -> sha256 of the output consumed (recorded so staleness is detectable)."""
        shas = {}
        for key in keys:
            entry = self.cache.get_entry(key)
            if entry is not None and entry.outputs:
                shas[key] = entry.outputs[0].sha256
        return shas

    async def resolve(self, step: Any) -> dict[str, Any]:
        """The body to send: every placeholder replaced by a URL the API can fetch."""

        async def url_for(text: str) -> str:
            key = upstream_key(text)
            if key is None:  # a local file, by sha256
                sha = text[len(FILE_PREFIX):]
                return await self.publish(sha, Path(step.files[sha]))
            obj = self._output(step.id, key)
            return await self.publish(obj.sha256, self.cache.object_path(obj.sha256), obj.media_type,
                                      cached=True)

        async def walk(node: Any) -> Any:
            if isinstance(node, str) and node.startswith(UPSTREAM_PREFIX):
                return await url_for(node)
            if isinstance(node, Mapping):
                return {k: await walk(v) for k, v in node.items()}
            if isinstance(node, (list, tuple)):
                return [await walk(v) for v in node]
            return node

        return await walk(step.request)

    async def publish(self, sha: str, path: Path, media_type: str | None = None, *, cached: bool = False) -> str:
        """The URL of ``path`` (published once per run); a ``cached`` object is re-hashed first.

        A cache object whose bytes changed is quarantined instead of sent to a
        third party (CacheError: the step fails, and the step that made the
        object runs again next time). The publisher reads the file again to
        upload it, from the page cache; once per object per run.
        """
        if sha not in self._published:
            if cached:
                await asyncio.to_thread(self.cache.check_object, sha)
            if media_type is None:
                from omniflow.media import probe

                media_type = probe(path).media_type
            self._published[sha] = await self.backend.publish(path, media_type)
        return self._published[sha]

    def for_lock(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The body as sent, minus the query of URLs we published (presigned tokens are bearer secrets)."""
        published = set(self._published.values())

        def walk(node: Any) -> Any:
            if isinstance(node, str) and node in published:
                return node.split("?", 1)[0]
            if isinstance(node, Mapping):
                return {k: walk(v) for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        return walk(dict(body))

    def store(self, path: Path) -> ObjectInfo:
        """Probe a finished file and move it into the cache (worker thread); deletes it on failure."""
        from omniflow.media import probe

        try:
            facts = probe(path)
            return self.cache.put_file(path, facts.media_type, duration=facts.duration, width=facts.width,
                                       height=facts.height)
        except BaseException:  # whatever went wrong (ENOSPC, a bad file), no temp file stays behind
            path.unlink(missing_ok=True)
            raise
