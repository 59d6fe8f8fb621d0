"""Journal writes from the event loop: in order, on one thread, committed in groups.

Every write still commits before its caller goes on (an intent is durable
before its create POST), but writes that arrive while a commit is under way
share the next one: one fsync for many, instead of a queue of fsyncs that
would delay every create of a busy run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class JournalWriter:
    def __init__(self, journal: Any):
        self.journal = journal
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="omniflow-journal")
        self._queue: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] = []
        self._busy = False

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one journal write; returns once it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((fn, args, kwargs, future))
        if not self._busy:
            self._busy = True
            loop.create_task(self._drain())
        # shielded: a cancelled caller must not lose a write that may already be committed
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await loop.run_in_executor(self._thread, self._apply, batch)
                except BaseException as exc:  # the commit itself failed: nothing in the batch is durable
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                    continue
                for (*_, future), (ok, value) in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._busy = False

    def _apply(self, batch: list[Any]) -> list[tuple[bool, Any]]:
        out: list[tuple[bool, Any]] = []
        with self.journal.group():
            for fn, args, kwargs, _ in batch:
                try:
                    out.append((True, fn(*args, **kwargs)))
                except Exception as exc:  # one bad write does not sink the others
                    out.append((False, exc))
        return out

    def close(self) -> None:
        self._thread.shutdown(wait=True)
