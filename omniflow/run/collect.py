"""The one path that collects a task: poll, download, store — fresh, resumed and orphan alike.

A task with an id (answered by a create of this run, resumed from the journal,
or an orphan: a paid task of an earlier run whose step is gone or cached) is
polled to its end under the poll deadline (``[run] poll_deadline``, counted
from the create's answer or the resume), downloaded under the download
deadline (``[run] download_deadline``, real seconds for every try of the
transfer together), then stored in the cache and recorded. Status polls and
downloads are retried by the run's one :class:`~omniflow.run.retry.RetryPolicy`.

Also the journal bookkeeping of the rows being worked on: a row ends in a
final state (:meth:`Collector.settle`) or stays pending with the reason this
run could not finish it (:meth:`Collector.note_error`), so the next run
resumes it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.backends.base import TaskState
from omniflow.core.states import RowState, StepState
from omniflow.errors import BackendError
from omniflow.run.failures import one_line, reason_of
from omniflow.run.inputs import Inputs
from omniflow.run.journaling import JournalWriter
from omniflow.run.policy import PollSchedule
from omniflow.run.polling import GaveUp, QueryFailed, TaskLost, wait_for_task
from omniflow.run.reporter import Reporter
from omniflow.run.retry import RetryPolicy, get_may_retry
from omniflow.run.units import Slot, Unit
from omniflow.store._atomic import utc_iso
from omniflow.store.cache import Cache, Entry, ObjectInfo
from omniflow.store.entries import make_entry
from omniflow.store.journal import Journal

S = StepState
OnRetry = Callable[[str | None, StepState | None], Callable[[BackendError, float], None]]
Record = Callable[[Path, Callable[[ObjectInfo], Entry], list[tuple[str, str]]], Awaitable[Entry]]


@dataclass
class Job:
    """One journal row being worked on: its create, then its task."""

    row_id: int
    key: str
    kind: str
    body: Mapping[str, Any]
    model: str | None
    task_id: str | None = None  # None: an intent whose create may be in flight
    submitted_at: float = 0.0
    ratios: Mapping[str, float] | None = None  # billing multipliers of its create's answer (the lock keeps them)


class CollectFailed(Exception):
    """A task could not be collected; the message is the step's reason."""

    def __init__(self, reason: str, *, lost: bool = False):
        super().__init__(reason)
        self.lost = lost  # the server does not know the task


@dataclass(frozen=True)
class Timing:
    """When to poll, retry and give up (one value for the whole run)."""

    poll: PollSchedule
    retry: RetryPolicy
    rng: random.Random
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    deadline: float  # poll deadline, run-clock seconds
    download_deadline: float  # real seconds
    max_download_bytes: int


class Collector:
    def __init__(self, *, backend: Any, journal: Journal, writer: JournalWriter, cache: Cache, inputs: Inputs,
                 reporter: Reporter, timing: Timing, record: Record, on_retry: OnRetry, backend_name: str):
        self.backend, self.journal, self.writer, self.cache = backend, journal, writer, cache
        self.inputs, self.reporter, self.t, self.record = inputs, reporter, timing, record
        self.on_retry, self.backend_name = on_retry, backend_name
        self.jobs: dict[str, Job] = {}  # step key -> its journal row still pending
        self._temp: Path | None = None

    # -- journal rows -------------------------------------------------------------

    async def settle(self, job: Job, state: RowState, error: str | None = None, *, refunded: bool = False) -> None:
        """The row's final state; it is no longer its step's pending row (``refunded``: API §5.4)."""
        try:
            await self.writer.call(self.journal.finish, job.row_id, state, one_line(error) if error else None,
                                   refunded=refunded)
        except Exception as exc:  # noqa: BLE001 - the journal itself failed: the next run sees the row as it was
            self.reporter.note(f"could not record row {job.row_id} as {state}: {reason_of(exc)}")
        if self.jobs.get(job.key) is job:
            del self.jobs[job.key]

    async def note_error(self, job: Job, reason: str) -> None:
        """The row stays pending (the next run resumes it), with why this run could not finish it."""
        try:
            await self.writer.call(self.journal.update, job.row_id, RowState.RUNNING, error=one_line(reason))
        except Exception as exc:  # noqa: BLE001
            self.reporter.note(f"could not record the error of row {job.row_id}: {reason_of(exc)}")

    # -- the path -------------------------------------------------------------------

    async def collect(self, job: Job, *, unit: Unit | None, slot: Slot | None, since: float) -> None:
        """Poll ``job``'s task to its end, download it, store it (the unit's places, or the cache only).

        ``unit`` is None for an orphan. Raises CollectFailed; the row then
        stays pending so the next run resumes it, except a failed or lost
        task, whose row is finished.
        """
        key, task_id, t = job.key, job.task_id, self.t
        assert task_id is not None
        report = key if unit is not None else None
        seen: set[str] = set()

        async def progress(state: Any) -> None:
            if state.status not in seen:  # the journal records status changes, not every percent
                seen.add(state.status)
                await self.writer.call(self.journal.update, job.row_id, RowState.RUNNING, progress=state.progress)
            if report is not None:
                shown = S.QUEUED if state.status in ("queued", "unknown") else S.IN_PROGRESS
                self.reporter.update(report, shown, progress=state.progress, task_id=task_id)

        def get() -> Awaitable[Any]:
            return t.retry.call(lambda: self.backend.get(job.kind, task_id), may_retry=get_may_retry,
                                sleep=t.sleep, rng=t.rng, on_retry=self.on_retry(report, None))

        try:
            state = await wait_for_task(get, schedule=self._schedule(job.kind), rng=t.rng, clock=t.clock, sleep=t.sleep,
                                        deadline=t.deadline, since=since, on_progress=progress)
        except TaskLost:
            await self.settle(job, RowState.LOST, "the server does not know this task")
            raise CollectFailed(f"the server no longer knows task {task_id} (another key or account?)",
                                lost=True) from None
        except (QueryFailed, GaveUp) as exc:
            await self._keep(job, str(exc))
        if state.status == "failed":  # failed or timed out at the server: the poller refunds it (API §5.4)
            await self.settle(job, RowState.FAILED, state.error, refunded=True)
            raise CollectFailed(f"task failed: {one_line(state.error or 'no reason given')}")
        if slot is not None:
            slot.release()  # -j bounds tasks in flight remotely: this one is done, the next may start
        if unit is None and self.cache.get_entry(key) is not None:
            await self.settle(job, RowState.DOWNLOADED)  # an earlier run or another step stored it
            return
        if report is not None:
            self.reporter.update(report, S.DOWNLOADING, task_id=task_id)
        others: list[TaskState] = []
        if job.kind == "music":  # the step's clip: is the output; the song's other clip is recorded after it
            from omniflow.backends.audio import choose_clip, other_clips

            others = other_clips(state, job.body.get("clip"))
        try:
            if job.kind == "music":
                state = choose_clip(state, job.body.get("clip"))
            path = await self._download(job, state, report)
        except BackendError as exc:
            await self._keep(job, str(exc))
        extras = [await self._extra(job, other, report) for other in others]
        await self.record(path, lambda info: self._entry(job, unit, info, [e for e in extras if e is not None]),
                          unit.places if unit else [])
        await self.settle(job, RowState.DOWNLOADED)

    def _schedule(self, kind: str) -> PollSchedule:
        """The run's poll schedule, or the backend's own for a kind (Suno's state changes on a 15 s tick)."""
        own = self.backend.poll_intervals.get(kind)
        if own is None:
            return self.t.poll
        import dataclasses

        return dataclasses.replace(self.t.poll, first=own[0], maximum=own[1])

    async def _keep(self, job: Job, why: str) -> None:
        """End this run's work on a task that exists: its row stays for the next run. Raises CollectFailed."""
        reason = f"{one_line(why)}; the task {job.task_id} stays in the journal and the next run resumes it"
        await self.note_error(job, reason)
        raise CollectFailed(reason)

    async def _download(self, job: Job, state: Any, report: str | None) -> Path:
        """The task's output in a temp file: every try within one overall deadline (real seconds)."""
        t = self.t
        started = time.monotonic()  # a transfer takes real time whatever the run's clock

        def left() -> float:
            return t.download_deadline - (time.monotonic() - started)

        if self._temp is None:  # made once: a mkdir on the loop thread per download adds up
            self._temp = self.cache.temp_dir()
        temp = self._temp

        async def once() -> Any:
            return await self.backend.download(job.kind, job.task_id, state, temp,
                                               max_bytes=t.max_download_bytes, deadline=max(0.0, left()))

        dl = await t.retry.call(once, may_retry=get_may_retry, sleep=t.sleep, rng=t.rng,
                                on_retry=self.on_retry(report, S.DOWNLOADING), give_up=lambda: left() <= 0)
        return dl.path

    async def _extra(self, job: Job, state: TaskState, report: str | None) -> ObjectInfo | None:
        """Another output of the task (a song's other clip) into the cache; a failure only loses it."""
        import asyncio

        try:
            path = await self._download(job, state, report)
            return await asyncio.to_thread(self.inputs.store, path)
        except Exception as exc:  # noqa: BLE001 - the step's output is the chosen clip; this one is a bonus
            self.reporter.note(f"{job.task_id}: the other clip was not kept ({reason_of(exc)})")
            return None

    def _entry(self, job: Job, unit: Unit | None, info: ObjectInfo, extras: list[ObjectInfo] | None = None) -> Entry:
        """The cache entry of a collected task (an orphan's from its journal row alone)."""
        now = utc_iso(self.t.clock())
        output: ObjectInfo | tuple[ObjectInfo, ...] = (info, *extras) if extras else info
        if unit is None:  # an orphan: its price is unknown here (the lock never holds it)
            return make_entry(job.key, job.kind, output, job.body, task_id=job.task_id, backend=self.backend_name,
                              completed_at=now, ratios=job.ratios)
        step = unit.step
        return make_entry(
            job.key, step.kind, output, self.inputs.for_lock(job.body), upstream=self.inputs.upstream_shas(unit.data_deps),
            task_id=job.task_id, backend=self.backend_name, seconds=step.seconds, cost=unit.cost,
            submitted_at=utc_iso(job.submitted_at), completed_at=now, ratios=job.ratios,
        )
