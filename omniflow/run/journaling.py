"""Journal writes from the event loop: in order, on one thread, committed in groups.

Every write still commits before its caller goes on (an intent is durable
before its create POST), but writes that arrive while a commit is under way
share the next one: one fsync for many, instead of a queue of fsyncs that
would delay every create of a busy run.

The writer thread takes the queue itself and hands each batch's results back
with one callback, so a write costs its caller two turns of a busy event loop,
not five (a turn can take tens of milliseconds when a wave of tasks finishes).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_Write = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]


class JournalWriter:
    def __init__(self, journal: Any):
        self.journal = journal
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="omniflow-journal")
        self._mutex = threading.Lock()  # guards _queue and _busy between the loop and the writer thread
        self._queue: list[_Write] = []
        self._busy = False

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one journal write; returns once it is committed.

        A caller cancelled while waiting does not withdraw its write: once
        queued, it is applied and committed like the others.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._mutex:
            self._queue.append((fn, args, kwargs, future))
            start = not self._busy
            self._busy = True
        if start:
            self._thread.submit(self._drain, loop)
        return await future

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """Writer thread: apply and commit batches until the queue is empty."""
        while True:
            with self._mutex:
                batch, self._queue = self._queue, []
                if not batch:
                    self._busy = False
                    return
            try:
                results = self._apply(batch)
            except BaseException as exc:  # the commit itself failed: nothing in the batch is durable
                error = exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                results = [(False, error)] * len(batch)
            try:
                loop.call_soon_threadsafe(_settle, batch, results)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _apply(self, batch: list[_Write]) -> list[tuple[bool, Any]]:
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


def _settle(batch: list[_Write], results: list[tuple[bool, Any]]) -> None:
    """Event loop: give each caller its result (or error)."""
    for (*_, future), (ok, value) in zip(batch, results, strict=True):
        if future.done():  # its caller was cancelled
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
