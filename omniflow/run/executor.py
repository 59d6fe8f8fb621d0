"""The executor: one event loop that submits, polls, downloads and caches.

Money rules (design §3), in the order they bite:

1. The journal row is committed *before* each create POST and the task id
   right after, so a crash never loses a paid task.
2. A create is re-sent only when the answer proves no task was made
   (:mod:`omniflow.run.retry`). A lost answer makes the step *unknown*:
   reported, and re-sent only with ``--resubmit-unknown``.
3. Every task with an id — fresh, resumed from the journal, or an orphan of a
   step the pipeline no longer has — is collected by one path,
   :meth:`Executor._collect`: poll under the poll deadline, download under
   the download deadline, store.
4. Any exception inside a step ends that step: ``failed`` with a one-line
   reason, or ``unknown`` when a create may have been sent; its journal row
   is never left ``intent`` for a task that may exist.
5. After a failure (without ``--keep-going``) or Ctrl-C nothing new is
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

from omniflow.core import killpoints
from omniflow.core.keys import body_digest
from omniflow.core.states import DONE_STEP_STATES, FINAL_STEP_STATES, RowState, StepState
from omniflow.errors import BackendError, CacheError, UnknownCreateError
from omniflow.planning.plan import Plan, candidate_id
from omniflow.run.collect import CollectFailed, Collector, Job, Timing
from omniflow.run.failures import one_line, reason_of
from omniflow.run.inputs import Inputs
from omniflow.run.journaling import JournalWriter
from omniflow.run.outputs import LockWriter, materialize_all
from omniflow.run.policy import PollSchedule
from omniflow.run.reporter import Reporter
from omniflow.run.retry import RetryPolicy, create_may_retry, describe_retry
from omniflow.run.units import REMOTE_KINDS, Outcome, Slot, Unit, build_units
from omniflow.store._atomic import utc_iso
from omniflow.store.cache import Cache, Entry, ObjectInfo
from omniflow.store.entries import make_entry
from omniflow.store.journal import Journal

S = StepState


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
        download_deadline: float = 3600.0,
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
        if poll is None and backend is not None:
            first, maximum = backend.poll_interval
            poll = PollSchedule(first=first, maximum=maximum)
        self.poll = poll or PollSchedule()
        self.retry = retry or RetryPolicy()
        self.deadline = deadline
        self.download_deadline = download_deadline
        self.max_download_bytes = max_download_bytes
        self.clock = clock
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.prune_lock = prune_lock
        self.units: dict[str, Unit] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.events: dict[str, asyncio.Event] = {}
        self.stopping: str | None = None  # None | "failure" | "interrupt"
        self.retries = 0  # requests sent again, all kinds
        self.problems: list[str] = []  # tasks of earlier runs that could not be collected
        self.lock = LockWriter(self.pipeline.lock_path, self.pipeline.name)
        self.inputs = Inputs(cache, backend)
        self._inflight: set[asyncio.Future[Any]] = set()
        self._lock_writing = False
        self._global = asyncio.Semaphore(self.jobs)
        self._per_model: dict[str, asyncio.Semaphore] = {}
        self._build_units()

    # -- set-up -----------------------------------------------------------------

    def _build_units(self) -> None:
        self.units, self.outcomes = build_units(self.plan)
        for key, unit in self.units.items():
            self.events[key] = asyncio.Event()
            label = unit.step.id if not unit.step.variant else f"{unit.step.id}@{unit.step.variant}"
            if unit.step.takes > 1:
                label += f" take {unit.step.take}"
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
        self.collector = Collector(
            backend=self.backend, journal=self.journal, writer=self._journal_writer, cache=self.cache,
            inputs=self.inputs, reporter=self.reporter, record=self._record, on_retry=self._on_retry,
            backend_name=self.pipeline.backend,
            timing=Timing(self.poll, self.retry, self.rng, self.clock, self.sleep, self.deadline,
                          self.download_deadline, self.max_download_bytes))
        try:
            resumed = self._resumable()
            orphans = [row for key, row in resumed.items()
                       if key not in self.units or self.outcomes[key].state != S.PENDING]
            tasks = [asyncio.create_task(self._unit(u, resumed.get(u.key))) for u in self.units.values()]
            tasks += [asyncio.create_task(self._orphan(row)) for row in orphans]
            self._tasks = tasks
            await asyncio.gather(*tasks)  # each one ends its own failures (_unit, _orphan)
            # Creates are shielded from Ctrl-C: wait for their answers so their
            # task ids reach the journal before the loop closes.
            while self._inflight:
                await asyncio.wait(list(self._inflight))
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
            if row.state == RowState.INTENT:
                # The create may or may not have reached the server: never guess.
                self.journal.finish(row.id, RowState.UNKNOWN, "the run stopped while this create was being sent")
                continue
            if row.task_id:
                rows[row.key] = row
        if rows:
            self.reporter.note(f"resuming {len(rows)} task(s) submitted by an earlier run")
        return rows

    def _finish_lock(self) -> None:
        for key, unit in self.units.items():
            if self.outcomes[key].state == S.CACHED:
                try:
                    entry = self.cache.get_entry(key)
                    if entry is not None:
                        materialize_all(self.cache, entry, self.root, self.pipeline.name, unit.places)
                except CacheError as exc:  # a corrupt (now quarantined) object, a link out of the project
                    self._set(key, S.FAILED, str(exc))  # no exception out of here: the journal closes below
                    continue
                if entry is not None:
                    self.lock.set_entry(entry, unit.places)
        if self.prune_lock and self.stopping is None and self.plan.variants and len(self.plan.variants) == len(self.pipeline.variants):
            keep: dict[str, list[str]] = {}
            for v in self.pipeline.variants:
                keep[v.name] = [s.id for s in v.steps]
                keep[v.name] += [candidate_id(s.id, c.take) for s in v.steps for c in s.candidates]
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

    # -- one unit ---------------------------------------------------------------

    async def _unit(self, unit: Unit, resumed: Any) -> None:
        """One step from start to end; no exception leaves it (design: any failure ends the step)."""
        key = unit.key
        try:
            if self.outcomes[key].state in (S.CACHED, S.BLOCKED):
                self.reporter.update(key, self.outcomes[key].state, detail=self.outcomes[key].reason)
                return
            for dep in unit.deps:
                if dep in self.events:
                    await self.events[dep].wait()
            bad = [d for d in unit.deps if d in self.outcomes and self.outcomes[d].state not in DONE_STEP_STATES]
            if bad:
                names = sorted({self.units[d].step.id for d in bad})
                self._set(key, S.BLOCKED, f"upstream did not complete: {', '.join(names)}")
                return
            if self.stopping and resumed is None:
                self._set(key, S.SKIPPED, "not started: the run is stopping")
                return
            if unit.step.kind in REMOTE_KINDS:
                await self._remote(unit, resumed)
            else:
                await self._local(unit)
        except asyncio.CancelledError:
            self._interrupted(key)
        except Exception as exc:  # noqa: BLE001 - any failure inside a step ends that step, never the run
            await self._crashed(key, exc)
        finally:
            self.events[key].set()

    def _interrupted(self, key: str) -> None:
        if self.outcomes[key].state in FINAL_STEP_STATES:
            return
        job = self.collector.jobs.get(key)
        task_id = job.task_id if job is not None else None
        if task_id:
            self._set(key, S.INTERRUPTED, f"still running remotely as {task_id}; run again to collect it", task_id)
        elif job is not None:
            # its create is shielded: _create settles the step when the answer comes
            self._set(key, S.INTERRUPTED, "interrupted while its create was being sent")
        else:
            self._set(key, S.SKIPPED, "not started: interrupted")

    async def _crashed(self, key: str, exc: BaseException) -> None:
        """An exception nobody handled: the step ends failed, or unknown if a create may be out."""
        reason = reason_of(exc)
        job = self.collector.jobs.get(key)
        if job is not None and job.task_id is None:
            await self.collector.settle(job, RowState.UNKNOWN, reason)
            self._set(key, S.UNKNOWN, f"{reason}; a create may have been sent, so it is not re-sent: "
                      "run again with --resubmit-unknown to send it")
            return
        if job is not None:  # the task exists and is paid: the next run collects it
            await self.collector.note_error(job, reason)
            self._fail(key, f"{reason}; task {job.task_id} stays in the journal and the next run collects it",
                       job.task_id)
            return
        self._fail(key, reason)

    def _set(self, key: str, state: StepState, reason: str = "", task_id: str | None = None) -> None:
        out = self.outcomes[key]
        out.state, out.reason = state, reason
        if task_id:
            out.task_id = task_id
        self.reporter.update(key, state, detail=reason, task_id=task_id)

    def _fail(self, key: str, reason: str, task_id: str | None = None) -> None:
        self._set(key, S.FAILED, reason, task_id)
        if not self.keep_going and self.stopping is None:
            self.stopping = "failure"
            self.reporter.note("a step failed: no new tasks will be submitted (use --keep-going to go on)")

    # -- journal rows -------------------------------------------------------------

    async def _j(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A journal write: committed (group commit) before this returns."""
        return await self._journal_writer.call(fn, *args, **kwargs)

    # -- remote steps -----------------------------------------------------------

    def _semaphores(self, model: str | None) -> list[asyncio.Semaphore]:
        sems = [self._global]
        if model and model in self.model_limits:
            sems.append(self._per_model.setdefault(model, asyncio.Semaphore(max(1, self.model_limits[model]))))
        return sems

    def _forgetful(self) -> bool:
        """True for the in-process emulator, whose tasks die with the process that made them."""
        return bool(self.backend.forgets_tasks)

    async def _remote(self, unit: Unit, resumed: Any) -> None:
        key = unit.key
        slot = Slot(self._semaphores(unit.step.model))
        await slot.acquire()
        try:
            if resumed is not None:
                job = Job(resumed.id, key, resumed.kind, dict(resumed.request), unit.step.model, resumed.task_id,
                          self.clock(), resumed.ratios)
                self.collector.jobs[key] = job
                self._set(key, S.QUEUED, "resumed", job.task_id)
                try:
                    await self.collector.collect(job, unit=unit, slot=slot, since=self.clock())
                    self._completed(unit, job)
                    return
                except CollectFailed as exc:
                    if not (exc.lost and self._forgetful()):
                        self._fail(key, str(exc), job.task_id)
                        return
                    # The in-process emulator forgets its tasks when its process ends;
                    # nothing was paid, so the step is simply submitted again.
            if self.stopping:
                self._set(key, S.SKIPPED, "not started: the run is stopping")
                return
            job = await self._submit(unit)
            if job is None:
                return
            self._set(key, S.QUEUED, "", job.task_id)
            try:
                await self.collector.collect(job, unit=unit, slot=slot, since=job.submitted_at)
            except CollectFailed as exc:
                reason = f"the server lost task {job.task_id} right after creating it" if exc.lost else str(exc)
                self._fail(key, reason, job.task_id)
                return
            self._completed(unit, job)
        finally:
            slot.release()

    def _completed(self, unit: Unit, job: Job) -> None:
        self.outcomes[unit.key].generated_seconds = unit.step.seconds or 0.0
        self._set(unit.key, S.COMPLETED, "", job.task_id)

    async def _submit(self, unit: Unit) -> Job | None:
        """Resolve the inputs, commit the intent, send the create; the job once it has a task id."""
        step, key = unit.step, unit.key
        body = await self.inputs.resolve(step)
        if self.stopping:
            self._set(key, S.SKIPPED, "not started: the run is stopping")
            return None
        self.reporter.update(key, S.SUBMITTING)
        label = step.id if not step.variant else f"{step.id}@{step.variant}"
        row_id = await self._j(self.journal.intent, key, step.kind, body_digest(body), body,
                               step=label, seconds=step.seconds, cost=unit.cost)
        job = Job(row_id, key, step.kind, body, step.model)
        self.collector.jobs[key] = job  # from here a task may exist
        create = asyncio.ensure_future(self._create(job))
        self._inflight.add(create)
        create.add_done_callback(self._inflight.discard)
        await asyncio.shield(create)
        return job if job.task_id else None

    async def _create(self, job: Job) -> None:
        """Send the create (retried only on proof that no task was made) and bind its task id.

        Shielded from Ctrl-C, and never raises: whatever happens, the row ends
        with the task id, or ``unknown``/``failed``, never ``intent``.
        """
        key = job.key
        try:
            try:
                task_id = await self.retry.call(
                    lambda: self._send_create(job), may_retry=create_may_retry, sleep=self.sleep,
                    rng=self.rng, on_retry=self._on_retry(key, S.SUBMITTING),
                    give_up=lambda: self.stopping == "interrupt")
            except UnknownCreateError as exc:
                await self.collector.settle(job, RowState.UNKNOWN, str(exc))
                self._set(key, S.UNKNOWN, f"create answer lost ({one_line(exc.message)}); not re-sent. "
                          "Run again with --resubmit-unknown to send it again")
                return
            except BackendError as exc:  # refused: the pre-charge is released (API §5.4)
                await self.collector.settle(job, RowState.FAILED, str(exc), refunded=True)
                self._fail(key, f"create refused: {one_line(str(exc))}")
                return
            except Exception as exc:  # noqa: BLE001 - the answer could not be read: a task may exist
                reason = reason_of(exc)
                await self.collector.settle(job, RowState.UNKNOWN, reason)
                self._set(key, S.UNKNOWN, f"the create's answer could not be read ({reason}); a task may exist, "
                          "so it is not re-sent: run again with --resubmit-unknown to send it")
                return
            job.submitted_at = self.clock()  # the task exists from here: the poll deadline counts from it
            job.ratios = self.backend.ratios_of(task_id)
            other = await self._j(self.journal.bind, job.row_id, key, task_id, job.ratios)
            if other is not None:
                reason = (f"the server answered task id {one_line(task_id, 200)}, already bound to step key "
                          f"{other[:12]}: refusing to take its output")
                await self.collector.settle(job, RowState.FAILED, reason)
                self._fail(key, reason)
                return
            job.task_id = task_id
            if self.stopping == "interrupt":
                self._set(key, S.INTERRUPTED, f"still running remotely as {task_id}; run again to collect it",
                          task_id)
        except Exception as exc:  # noqa: BLE001 - e.g. the journal cannot be written: the row stays intent
            self._set(key, S.UNKNOWN, f"{reason_of(exc)}; a create may have been sent: the next run reports it "
                      "as unknown")
            self.collector.jobs.pop(key, None)

    def _send_create(self, job: Job) -> Awaitable[str]:
        killpoints.reached("create")  # crash tests: die with the intent committed, the POST unsent
        unit = self.units.get(job.key)
        take = unit.step.take if unit is not None else 1
        if take != 1:  # the take is not in the body (X-Omniflow-Take, docs/takes); take 1 sends as it always did
            return self.backend.create(job.kind, job.body, take=take)
        return self.backend.create(job.kind, job.body)

    def _on_retry(self, key: str | None, state: StepState | None) -> Callable[[BackendError, float], None]:
        """Count a retry and show it on the step's line (in ``state``; None: the state it is in)."""
        def note(exc: BackendError, delay: float) -> None:
            self.retries += 1
            if key is not None:
                shown = state or self.reporter.steps[key].state
                self.reporter.update(key, shown, detail=describe_retry(exc, delay))

        return note

    # -- tasks of earlier runs whose step is gone or cached ----------------------

    async def _orphan(self, row: Any) -> None:
        """A paid task from an earlier run whose step is gone or cached: collect it into the cache."""
        job = Job(row.id, row.key, row.kind, dict(row.request), row.request.get("model"), row.task_id,
                  ratios=row.ratios)
        try:
            await self.collector.collect(job, unit=None, slot=None, since=self.clock())
            self.reporter.note(f"collected task {row.task_id} from an earlier run into the cache")
        except asyncio.CancelledError:
            pass
        except CollectFailed as exc:
            if exc.lost and self._forgetful():
                return  # the in-process emulator's tasks die with their process; nothing was paid
            self._problem(row.task_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - as for a step: this task's collection ends, the run goes on
            reason = reason_of(exc)
            await self.collector.note_error(job, reason)
            self._problem(row.task_id, reason)

    def _problem(self, task_id: str, reason: str) -> None:
        text = f"could not collect task {task_id} of an earlier run: {reason}"
        self.problems.append(text)
        self.reporter.note(text)

    # -- local steps ------------------------------------------------------------

    async def _local(self, unit: Unit) -> None:
        from omniflow.media import OPS

        step, key = unit.step, unit.key
        op = OPS[step.kind]
        inputs = self.inputs.local_paths(step.id, unit.data_deps)
        self.reporter.update(key, S.RUNNING)
        dest = self.cache.temp_dir() / f"{key}.{op.ext}"
        started = self.clock()
        try:  # every file the op makes (subtitles: .srt, .vtt, a burned .mp4), the primary first
            paths = await asyncio.to_thread(op.run_all, dict(step.request), inputs, dest)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        # the others into the cache first; the primary's _record writes the entry naming them all
        extras = [await asyncio.to_thread(self.inputs.store, p) for p in paths[1:]]
        await self._record(paths[0], lambda info: make_entry(
            key, step.kind, (info, *extras), step.request, upstream=self.inputs.upstream_shas(unit.data_deps),
            backend=self.pipeline.backend, submitted_at=utc_iso(started), completed_at=utc_iso(self.clock()),
        ), unit.places)
        self._set(key, S.COMPLETED)
