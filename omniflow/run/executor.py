"""The executor: one event loop that submits, polls, downloads and caches.

Money rules (design §3), in the order they bite:

1. The journal row is committed *before* each create POST and the task id
   right after, so a crash never loses a paid task.
2. A create is re-sent only when the answer proves no task was made
   (``BackendError.retryable``). A lost answer makes the step *unknown*:
   reported, and re-sent only with ``--resubmit-unknown``.
3. A new run first resumes every submitted-but-unfinished task in the
   journal, including tasks of steps the pipeline no longer has.
4. After a failure (without ``--keep-going``) or Ctrl-C nothing new is
   submitted; tasks already paid for are still awaited and cached (a failure),
   or left running remotely with the journal kept (Ctrl-C).

Each distinct step key is one unit of work, however many variants share it.
Time is injected (``clock``, ``sleep``), so tests never wait for real.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from omniflow.core.keys import body_digest
from omniflow.errors import BackendError, OmniflowError, UnknownCreateError
from omniflow.planning.plan import CACHED, Plan
from omniflow.run.inputs import Inputs
from omniflow.run.journaling import JournalWriter
from omniflow.run.outputs import LockWriter, materialize_all
from omniflow.run.policy import PollSchedule, RetryPolicy
from omniflow.run.polling import Durations, GaveUp, QueryRefused, TaskLost, wait_for_task
from omniflow.run.reporter import Reporter
from omniflow.run.units import (
    BLOCKED,
    COMPLETED,
    FAILED,
    INTERRUPTED,
    REMOTE_KINDS,
    SKIPPED,
    UNKNOWN,
    Outcome,
    Slot,
    Submissions,
    Unit,
    awaited_keys,
    build_units,
)
from omniflow.store._atomic import utc_iso
from omniflow.store.cache import Cache, Entry, ObjectInfo
from omniflow.store.journal import Journal


class Executor:
    def __init__(
        self,
        plan: Plan,
        *,
        backend: Any,
        cache: Cache,
        journal: Journal,
        reporter: Reporter,
        root: Path,
        jobs: int = 8,
        model_limits: Mapping[str, int] | None = None,
        keep_going: bool = False,
        resubmit_unknown: bool = False,
        poll: PollSchedule | None = None,
        retry: RetryPolicy | None = None,
        deadline: float = 6 * 3600.0,
        max_download_bytes: int = 2 * 1024**3,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        seed: int | None = None,
        prune_lock: bool = True,
    ):
        self.plan = plan
        self.pipeline = plan.pipeline
        self.backend = backend
        self.cache = cache
        self.journal = journal
        self.reporter = reporter
        self.root = root
        self.jobs = max(1, jobs)
        self.model_limits = dict(model_limits or {})
        self.keep_going = keep_going
        self.resubmit_unknown = resubmit_unknown
        first, maximum = getattr(backend, "poll_interval", (2.0, 15.0))
        self.poll = poll or PollSchedule(first=first, maximum=maximum)
        self.retry = retry or RetryPolicy()
        self.deadline = deadline
        self.max_download_bytes = max_download_bytes
        self.clock = clock
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.prune_lock = prune_lock
        self.units: dict[str, Unit] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.events: dict[str, asyncio.Event] = {}
        self.stopping: str | None = None  # None | "failure" | "interrupt"
        self.lock = LockWriter(self.pipeline.lock_path, self.pipeline.name)
        self.inputs = Inputs(cache, backend)
        self._inflight: set[asyncio.Future[Any]] = set()
        self.durations = Durations()
        self._answered: dict[str, float] = {}
        self._lock_writing = False
        self._global = asyncio.Semaphore(self.jobs)
        self._per_model: dict[str, asyncio.Semaphore] = {}
        self._submissions = Submissions()
        self._build_units()

    # -- set-up -----------------------------------------------------------------

    def _build_units(self) -> None:
        self.units, self.outcomes = build_units(self.plan)
        self._awaited = awaited_keys(self.units, self.outcomes)  # their downloads never give way
        for key, unit in self.units.items():
            self.events[key] = asyncio.Event()
            label = unit.step.id if not unit.step.variant else f"{unit.step.id}@{unit.step.variant}"
            if len(unit.places) > 1:
                label += f" (+{len(unit.places) - 1} variants)"
            self.reporter.add(key, label, unit.step.kind, unit.step.model)

    # -- the run ----------------------------------------------------------------

    async def run(self) -> dict[str, Outcome]:
        self.reporter.start()
        loop = asyncio.get_running_loop()
        # file work (hashing, fsync, copies, probing): a few threads, so they leave
        # the event loop's thread (and the GIL) free for the requests
        loop.set_default_executor(ThreadPoolExecutor(max_workers=4, thread_name_prefix="omniflow-io"))
        self._journal_writer = JournalWriter(self.journal)
        try:
            resumed = self._resumable()
            orphans = [row for key, row in resumed.items() if key not in self.units or self.outcomes[key].state == CACHED]
            tasks = [asyncio.create_task(self._unit(u, resumed.get(u.key))) for u in self.units.values()]
            tasks += [asyncio.create_task(self._orphan(row)) for row in orphans]
            self._tasks = tasks
            await asyncio.gather(*tasks, return_exceptions=True)
            # Creates are shielded from Ctrl-C: wait for their answers so their
            # task ids reach the journal before the loop closes.
            while self._inflight:
                await asyncio.gather(*list(self._inflight), return_exceptions=True)
        finally:
            self._finish_lock()
            self.reporter.stop()
            self._journal_writer.close()
        return self.outcomes

    def interrupt(self) -> None:
        """Ctrl-C: stop submitting, stop waiting; what runs remotely stays in the journal."""
        if self.stopping == "interrupt":
            return
        self.stopping = "interrupt"
        self.reporter.note("interrupted: no new tasks will be submitted")
        for t in getattr(self, "_tasks", []):
            t.cancel()

    def _resumable(self) -> dict[str, Any]:
        """Journal rows submitted but not finished, by key (the newest per key)."""
        rows: dict[str, Any] = {}
        for row in self.journal.pending():
            if row.state == "intent":
                # The create may or may not have reached the server: never guess.
                self.journal.finish(row.id, "unknown", "the run stopped while this create was being sent")
                continue
            if row.task_id:
                rows[row.key] = row
        if rows:
            self.reporter.note(f"resuming {len(rows)} task(s) submitted by an earlier run")
        return rows

    def _finish_lock(self) -> None:
        for key, unit in self.units.items():
            if self.outcomes[key].state == CACHED:
                entry = self.cache.get_entry(key)
                if entry is not None:
                    materialize_all(self.cache, entry, self.root, self.pipeline.name, unit.places)
                    self.lock.set_entry(entry, unit.places)
        if self.prune_lock and self.stopping is None and self.plan.variants and len(self.plan.variants) == len(self.pipeline.variants):
            keep: dict[str, list[str]] = {}
            for v in self.pipeline.variants:
                keep[v.name] = [s.id for s in v.steps]
            self.lock.prune(keep)
        self.lock.flush()

    async def _record(self, path: Path, entry_for: Callable[[ObjectInfo], Entry],
                      places: list[tuple[str, str]]) -> Entry:
        """A finished file into the cache with its entry and outputs/ copies (one worker call), then the lock."""
        entry = await asyncio.to_thread(self._store, path, entry_for, places)
        self.lock.set_entry(entry, places)
        if self.lock.due() and not self._lock_writing:
            # dump and write in a thread; one writer at a time so an older
            # snapshot never lands after a newer one
            self._lock_writing = True
            try:
                snapshot = self.lock.snapshot()
                if snapshot is not None:
                    await asyncio.to_thread(self.lock.write, snapshot)
            finally:
                self._lock_writing = False
        return entry

    def _store(self, path: Path, entry_for: Callable[[ObjectInfo], Entry], places: list[tuple[str, str]]) -> Entry:
        """Worker thread: probe, hash and move the file, write its entry, copy it to outputs/."""
        entry = entry_for(self.inputs.store(path))
        self.cache.put_entry(entry)
        materialize_all(self.cache, entry, self.root, self.pipeline.name, places)
        return entry

    async def _j(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A journal write: committed (group commit) before this returns."""
        return await self._journal_writer.call(fn, *args, **kwargs)

    # -- one unit ---------------------------------------------------------------

    async def _unit(self, unit: Unit, resumed: Any) -> None:
        key = unit.key
        try:
            if self.outcomes[key].state in (CACHED, BLOCKED):
                self.reporter.update(key, self.outcomes[key].state, detail=self.outcomes[key].reason)
                return
            for dep in unit.deps:
                if dep in self.events:
                    await self.events[dep].wait()
            bad = [d for d in unit.deps if d in self.outcomes and self.outcomes[d].state not in (CACHED, COMPLETED)]
            if bad:
                names = sorted({self.units[d].step.id for d in bad})
                self._set(key, BLOCKED, f"upstream did not complete: {', '.join(names)}")
                return
            if self.stopping and resumed is None:
                self._set(key, SKIPPED, "not started: the run is stopping")
                return
            if unit.step.kind in REMOTE_KINDS:
                await self._remote(unit, resumed)
            else:
                await self._local(unit)
        except asyncio.CancelledError:
            out = self.outcomes[key]
            task_id = out.task_id or self.reporter.steps[key].task_id
            if out.state in ("pending",) and task_id:
                self._set(key, INTERRUPTED, f"still running remotely as {task_id}; run again to collect it", task_id)
            elif out.state == "pending":
                self._set(key, SKIPPED, "not started: interrupted")
        except OmniflowError as exc:
            self._fail(key, str(exc))
        finally:
            self.events[key].set()

    def _set(self, key: str, state: str, reason: str = "", task_id: str | None = None) -> None:
        out = self.outcomes[key]
        out.state, out.reason = state, reason
        if task_id:
            out.task_id = task_id
        self.reporter.update(key, state, detail=reason, task_id=task_id)

    def _fail(self, key: str, reason: str, task_id: str | None = None) -> None:
        self._set(key, FAILED, reason, task_id)
        if not self.keep_going and self.stopping is None:
            self.stopping = "failure"
            self.reporter.note("a step failed: no new tasks will be submitted (use --keep-going to go on)")

    # -- remote steps -----------------------------------------------------------

    def _semaphores(self, model: str | None) -> list[asyncio.Semaphore]:
        sems = [self._global]
        if model and model in self.model_limits:
            sems.append(self._per_model.setdefault(model, asyncio.Semaphore(max(1, self.model_limits[model]))))
        return sems

    async def _remote(self, unit: Unit, resumed: Any) -> None:
        step, key = unit.step, unit.key
        slot = Slot(self._semaphores(step.model))
        await slot.acquire()
        try:
            if resumed is not None:
                row_id, task_id, body = resumed.id, resumed.task_id, dict(resumed.request)
                submitted_at = self.clock()
                self._set(key, "queued", "resumed", task_id)
                try:
                    state = await self._wait(key, row_id, step.kind, task_id)
                except TaskLost:
                    await self._j(self.journal.finish, row_id, "lost", "the server does not know this task")
                    if not self._forgetful():
                        self._fail(key, f"the server no longer knows task {task_id} (another key or account?)", task_id)
                        return
                    # The in-process emulator forgets its tasks when its process ends;
                    # nothing was paid, so the step is simply submitted again.
                    resumed = None
                else:
                    await self._finish_remote(unit, row_id, task_id, state, body, submitted_at, slot)
                    return
            if resumed is None:
                with self._submissions.submitting():  # until the create's answer, downloads give way
                    if self.stopping:
                        self._set(key, SKIPPED, "not started: the run is stopping")
                        return
                    body = await self.inputs.resolve(unit.step)
                    if self.stopping:
                        self._set(key, SKIPPED, "not started: the run is stopping")
                        return
                    self.reporter.update(key, "submitting")
                    row_id = await self._j(self.journal.intent, key, step.kind, body_digest(body), body)
                    submitted_at = self.clock()
                    create = asyncio.ensure_future(self._create(key, row_id, step.kind, body))
                    self._inflight.add(create)
                    create.add_done_callback(self._inflight.discard)
                    task_id = await asyncio.shield(create)
                if task_id is None:
                    return
                self._set(key, "queued", "", task_id)
                try:
                    state = await self._wait(key, row_id, step.kind, task_id, model=step.model, fresh=True)
                except TaskLost:
                    await self._j(self.journal.finish, row_id, "lost", "the server does not know this task")
                    self._fail(key, f"the server lost task {task_id} right after creating it", task_id)
                    return
                await self._finish_remote(unit, row_id, task_id, state, body, submitted_at, slot)
        finally:
            slot.release()

    def _forgetful(self) -> bool:
        """True for the in-process emulator, whose tasks die with the process that made them."""
        return bool(getattr(self.backend, "forgets_tasks", False))

    async def _finish_remote(self, unit: Unit, row_id: int, task_id: str, state: Any, body: Mapping[str, Any],
                             submitted_at: float, slot: Slot | None = None) -> None:
        key, step = unit.key, unit.step
        if state is None:
            return
        if state.status == "failed":
            await self._j(self.journal.finish, row_id, "failed", state.error)
            self._fail(key, f"task failed: {state.error or 'no reason given'}", task_id)
            return
        if slot is not None:
            slot.release()  # -j bounds tasks in flight remotely: this one is done, the next may start
            if key not in self._awaited:
                await self._submissions.give_way()
        path = await self._download(unit, task_id, state)
        await self._record(path, lambda info: Entry(
            key=key, kind=step.kind, outputs=(info,), upstream=self.inputs.upstream_shas(unit.data_deps),
            task_id=task_id, model=step.model, request=self.inputs.for_lock(body), backend=self.pipeline.backend,
            submitted_at=utc_iso(submitted_at), completed_at=utc_iso(self.clock()), generated_seconds=step.seconds,
        ), unit.places)
        await self._j(self.journal.finish, row_id, "downloaded")
        self.outcomes[key].generated_seconds = step.seconds or 0.0
        self._set(key, COMPLETED, "", task_id)

    async def _create(self, key: str, row_id: int, kind: str, body: Mapping[str, Any]) -> str | None:
        """Send the create; retry only on answers that prove no task was made."""
        attempt = 0
        while True:
            try:
                task_id = await self.backend.create(kind, body)
            except UnknownCreateError as exc:
                await self._j(self.journal.finish, row_id, "unknown", str(exc))
                self._set(key, UNKNOWN, f"create answer lost ({exc.message}); not re-sent. "
                          "Run again with --resubmit-unknown to send it again")
                return None
            except BackendError as exc:
                attempt += 1
                if exc.retryable and attempt < self.retry.attempts and self.stopping != "interrupt":
                    self.reporter.update(key, "submitting", detail=f"retrying: {exc}")
                    await self.sleep(self.retry.backoff(attempt - 1, self.rng, exc.retry_after))
                    continue
                await self._j(self.journal.finish, row_id, "failed", str(exc))
                self._fail(key, f"create refused: {exc}")
                return None
            self._answered[key] = self.clock()  # the task exists from here: polling times count from it
            await self._j(self.journal.submitted, row_id, task_id)
            return task_id

    async def _wait(self, key: str, row_id: int, kind: str, task_id: str, *, model: str | None = None,
                    fresh: bool = False) -> Any:
        """Poll until the task is terminal; None when the step failed here (the task stays in the journal)."""

        seen: set[str] = set()

        async def progress(state: Any) -> None:
            if state.status not in seen:  # the journal records status changes, not every percent
                seen.add(state.status)
                await self._j(self.journal.update, row_id, "running", progress=state.progress)
            self.reporter.update(key, state.status if state.status != "unknown" else "queued",
                                 progress=state.progress, task_id=task_id)

        try:
            return await wait_for_task(
                self.backend, kind, task_id, schedule=self.poll, rng=self.rng, clock=self.clock, sleep=self.sleep,
                deadline=self.deadline, durations=self.durations if fresh else None, model=model,
                on_progress=progress, since=self._answered.get(key) if fresh else None)
        except QueryRefused as exc:
            await self._j(self.journal.update, row_id, "running", error=str(exc))
            self._fail(key, f"cannot query task: {exc}", task_id)
        except GaveUp as exc:
            self._fail(key, f"{exc}; the task {task_id} stays in the journal and the next run resumes it", task_id)
        return None

    async def _download(self, unit: Unit, task_id: str, state: Any) -> Path:
        self.reporter.update(unit.key, "downloading", task_id=task_id)
        dl = await self.backend.download(unit.step.kind, task_id, state, self.cache.temp_dir(),
                                         max_bytes=self.max_download_bytes)
        return dl.path

    # -- local steps ------------------------------------------------------------

    async def _local(self, unit: Unit) -> None:
        from omniflow.media import OPS

        step, key = unit.step, unit.key
        op = OPS[step.kind]
        inputs = self.inputs.local_paths(step.id, unit.data_deps)
        self.reporter.update(key, "running")
        dest = self.cache.temp_dir() / f"{key}.{op.ext}"
        started = self.clock()
        try:
            await asyncio.to_thread(op, dict(step.request), inputs, dest)
        except OmniflowError as exc:
            dest.unlink(missing_ok=True)
            self._fail(key, str(exc))
            return
        await self._record(dest, lambda info: Entry(
            key=key, kind=step.kind, outputs=(info,), upstream=self.inputs.upstream_shas(unit.data_deps), task_id=None,
            model=None, request=dict(step.request), backend=self.pipeline.backend,
            submitted_at=utc_iso(started), completed_at=utc_iso(self.clock()), generated_seconds=None,
        ), unit.places)
        self._set(key, COMPLETED)

    # -- tasks of steps the pipeline no longer has ------------------------------

    async def _orphan(self, row: Any) -> None:
        """A paid task from an earlier run whose step is gone or cached: collect it into the cache."""
        try:
            state = None
            while state is None or state.status not in ("completed", "failed"):
                await self.sleep(self.poll.interval(0, self.rng))
                try:
                    state = await self.backend.get(row.kind, row.task_id)
                except BackendError as exc:
                    if not exc.retryable:
                        await self._j(self.journal.finish, row.id, "failed", str(exc))
                        return
            if state.status == "failed":
                await self._j(self.journal.finish, row.id, "failed", state.error)
                return
            if self.cache.get_entry(row.key) is None:
                dl = await self.backend.download(row.kind, row.task_id, state, self.cache.temp_dir(),
                                                 max_bytes=self.max_download_bytes)
                await self._record(dl.path, lambda info: Entry(
                    key=row.key, kind=row.kind, outputs=(info,), task_id=row.task_id, model=row.request.get("model"),
                    request=dict(row.request), backend=self.pipeline.backend, completed_at=utc_iso(self.clock()),
                ), [])  # no step of this pipeline stands for it: cache only
            await self._j(self.journal.finish, row.id, "downloaded")
            self.reporter.note(f"collected task {row.task_id} from an earlier run into the cache")
        except asyncio.CancelledError:
            pass
        except OmniflowError as exc:
            self.reporter.note(f"could not collect task {row.task_id}: {exc}")
