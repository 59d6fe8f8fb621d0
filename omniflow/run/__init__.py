"""Running a pipeline: plan, check the budget, execute, summarize.

``run_pipeline`` is what ``omniflow run`` and ``Pipeline.run`` call. It takes
the project lock (two runs on one project never interleave), opens the cache
and journal, plans, refuses over-budget plans (a sharded run: the whole
sweep's) and plans that differ from the saved plan given (``run --plan``)
before anything is sent, runs the executor on one event loop, and returns a
:class:`RunResult`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omniflow.config import Config, load_config
from omniflow.core.states import DONE_STEP_STATES, RowState, StepState
from omniflow.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    OmniflowError,
    PlanMismatch,
    UsageError,
)
from omniflow.language.model import Pipeline
from omniflow.planning import cost as costing
from omniflow.planning.budget import check_budget
from omniflow.planning.force import force_steps
from omniflow.planning.plan import Plan, make_plan, unknown_keys
from omniflow.planning.saved import (
    DEFAULT_MAX_AGE,
    SavedPlan,
    refuse_unapproved,
    refuse_unless_same,
)
from omniflow.run.executor import Executor
from omniflow.run.failures import reason_of
from omniflow.run.policy import PollSchedule
from omniflow.run.preflight import check_models
from omniflow.run.reporter import Reporter, make_reporter
from omniflow.run.retry import RetryPolicy
from omniflow.run.targets import Selection, resolve_targets, select, select_targets
from omniflow.run.units import Outcome

S = StepState
COMPLETED = S.COMPLETED


@dataclass(frozen=True)
class RunResult:
    plan: Plan
    outcomes: Mapping[str, Outcome]
    interrupted: bool = False
    still_running: tuple[str, ...] = ()  # task ids left running remotely (journal keeps them)
    cost: float | None = None
    generated_seconds: Mapping[str, float] = field(default_factory=dict)
    retries: int = 0  # requests sent again (creates refused with proof no task was made, transient GETs)
    problems: tuple[str, ...] = ()  # tasks of earlier runs that could not be collected
    run_id: int | None = None  # its row in the journal's runs table (omniflow log)

    def count(self, state: str) -> int:
        return sum(1 for o in self.outcomes.values() if o.state == state)

    @property
    def exit_code(self) -> int:
        """0 only when every step is cached or completed and every earlier task was collected."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        unfinished = any(o.state not in DONE_STEP_STATES for o in self.outcomes.values())
        return EXIT_FAILED if unfinished or self.problems else EXIT_OK

    def failures(self) -> list[tuple[str, Outcome]]:
        """(label, outcome) of every step that did not end cached or completed."""
        out = []
        for variant in self.plan.variants:
            for top in variant.steps:
                for ps in top.members():  # each candidate of a step with takes
                    o = self.outcomes.get(ps.step.key)
                    if o is not None and o.state not in DONE_STEP_STATES:
                        label = ps.step.id if not variant.name else f"{ps.step.id}@{variant.name}"
                        out.append((label + (f" take {ps.step.take}" if top.candidates else ""), o))
        return out


def run_pipeline(
    pipeline: Pipeline,
    *,
    targets: Iterable[str] = (),
    backend: Any = None,
    jobs: int = 8,
    keep_going: bool = False,
    resubmit_unknown: bool = False,
    max_cost: float | None = None,
    max_seconds: float | None = None,
    reporter: Reporter | None = None,
    config: Config | None = None,
    poll: PollSchedule | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    emulator_config: Any = None,
    shard_targets: Mapping[str, set[str]] | None = None,
    remote: bool = True,
    push: bool = True,
    force: Iterable[str] = (),
    until: Iterable[str] = (),
    saved_plan: SavedPlan | None = None,
    expect_digest: str | None = None,
    plan_max_age: Any = DEFAULT_MAX_AGE,
    now: Any = None,
    experiment: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run ``pipeline`` (or the ``targets``) and return what happened to every step.

    ``force``: ``step[@variant]`` to send again even when cached. ``until``: run
    up to those steps (the same as naming them as targets). ``saved_plan``
    (:func:`omniflow.planning.saved.read_saved_plan`): refuse (PlanMismatch, exit 3,
    nothing sent) unless the run plans exactly that purchase, younger than
    ``plan_max_age`` (a timedelta or seconds; None: no limit) at ``now`` (a UTC
    datetime; default the clock); ``expect_digest``: refuse unless it is the saved
    plan's digest (what the person approved is what runs). ``experiment``: the
    ``--set`` overrides the pipeline was loaded with; when given, outputs and lock
    go to ``outputs/<name>/experiments/<label>/`` and the committed lock and
    outputs stay as they are (:mod:`omniflow.run.experiments`).
    """
    from omniflow.store import Cache, Journal, project_lock, state_dir

    if expect_digest is not None:
        if saved_plan is None:
            raise UsageError("expect_digest needs a saved_plan")
        if expect_digest != saved_plan.digest:
            raise PlanMismatch(f"the saved plan's digest is {saved_plan.digest}, not the {expect_digest} "
                               "approved; nothing was sent")
    root = pipeline.root
    config = config or load_config(root)
    reporter = reporter or make_reporter()
    state = state_dir(root)
    chosen = select(pipeline, targets, until=until, force=force, shard_targets=shard_targets)
    with project_lock(root):
        cache = Cache(state)
        cache.check_writable(root / "outputs" / pipeline.name)  # a link leading out: refused before anything is sent
        journal = Journal(state / "journal.sqlite")
        run_id = journal.start_run(run_name(pipeline), pipeline.backend)  # omniflow log / ledger
        exit_code = EXIT_FAILED
        try:
            ctx = _Context(pipeline, cache, journal, reporter, root, config, backend, emulator_config)
            ctx.use_remote, ctx.push_results = remote, push
            ctx.saved, ctx.max_age, ctx.now = saved_plan, plan_max_age, now
            if experiment:
                from omniflow.run.experiments import as_experiment, experiment_label

                ctx.write_as = as_experiment(pipeline, experiment_label(experiment))
            with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
                result = runner.run(ctx.main(
                    selection=chosen, jobs=jobs, keep_going=keep_going, resubmit_unknown=resubmit_unknown,
                    max_cost=max_cost, max_seconds=max_seconds, poll=poll, clock=clock, sleep=sleep))
            result = dataclasses.replace(result, run_id=run_id)
            exit_code = result.exit_code
            _end_run(journal, run_id, result)
            return result
        except OmniflowError as exc:
            exit_code = exc.exit_code
            raise
        except KeyboardInterrupt:
            exit_code = EXIT_INTERRUPTED
            raise
        finally:
            if exit_code != EXIT_OK and journal.run_id is not None:  # refused or crashed: still logged
                _end_run(journal, run_id, None, exit_code)
            journal.close()


def run_name(pipeline: Pipeline) -> str:
    """The pipeline file as the runs table names it: relative to the project root (the same in a clone)."""
    path = Path(pipeline.path).resolve()
    try:
        return path.relative_to(Path(pipeline.root).resolve()).as_posix()
    except ValueError:
        return str(path)


def _end_run(journal: Any, run_id: int, result: RunResult | None, exit_code: int | None = None) -> None:
    """The run's row completed: what ran, was cached, did not finish; its cost; its exit code."""
    if result is None:
        journal.end_run(run_id, ran=None, cached=None, failed=None, cost=None, exit_code=exit_code)
    else:
        done = result.count(S.COMPLETED) + result.count(S.CACHED)
        journal.end_run(run_id, ran=result.count(S.COMPLETED), cached=result.count(S.CACHED),
                        failed=len(result.outcomes) - done, cost=result.cost, exit_code=result.exit_code)
    journal.run_id = None


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (a dependency everywhere but Windows), else asyncio's.

    A large run is one event loop driving thousands of small HTTP exchanges;
    uvloop runs its sockets, timers and callbacks in C, which took about 7 %
    off the loop thread's CPU time in ``bench/run_scale.py``.
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class _Context:
    """One run's resources; the backend is made only when something needs it."""

    def __init__(self, pipeline: Pipeline, cache: Any, journal: Any, reporter: Reporter, root: Any, config: Config,
                 backend: Any, emulator_config: Any):
        self.pipeline, self.cache, self.journal, self.reporter = pipeline, cache, journal, reporter
        self.root, self.config, self.emulator_config = root, config, emulator_config
        self._backend = backend
        self._own = False
        self.use_remote = True
        self.push_results = True
        self.saved: SavedPlan | None = None  # run --plan: what was approved
        self.max_age: Any = DEFAULT_MAX_AGE
        self.now: Any = None
        self.fetched = 0
        self.write_as: Pipeline | None = None  # an experiment: where its outputs and lock are written

    def backend(self) -> Any:
        if self._backend is None:
            from omniflow.backends import make_backend

            publisher = None
            if self.pipeline.backend != "emulator" and self.config.publish_url:
                from omniflow.remote import make_publisher

                publisher = make_publisher(self.config)
            self._backend = make_backend(self.pipeline.backend, emulator_config=self.emulator_config,
                                         publisher=publisher)
            self._own = True
        return self._backend

    def remote(self) -> Any:
        if not self.use_remote or not self.config.remote_url:
            return None
        from omniflow.remote import remote_for

        return remote_for(self.config)

    async def prefetch(self, targets: Mapping[str, set[str]] | None) -> Any:
        """Outputs the shared remote already holds are fetched instead of regenerated."""
        remote = self.remote()
        if remote is None:
            return None
        from omniflow.remote.sync import prefetch

        try:
            report = await asyncio.to_thread(prefetch, remote, self.pipeline, self.cache, targets)
        except OmniflowError as exc:
            self.reporter.note(f"remote unavailable, going on without it: {exc}")
            return None
        self.fetched = len(report.fetched)
        if report.fetched:
            self.reporter.note(f"fetched {len(report.fetched)} output(s) from the remote {self.config.remote_url}")
        for key, why in sorted(report.corrupt.items()):
            self.reporter.note(f"refused a corrupt remote copy of {key[:12]}: {why}; the step runs again")
        return remote

    async def push(self, remote: Any, outcomes: Mapping[str, Outcome]) -> None:
        keys = [k for k, o in outcomes.items() if o.state in DONE_STEP_STATES]
        if remote is None or not keys:
            return
        try:
            report = await asyncio.to_thread(remote.push, self.cache, keys)
        except OmniflowError as exc:
            self.reporter.note(f"could not push to the remote: {exc}; run `omniflow push` later")
            return
        if report.entries_uploaded:
            self.reporter.note(f"pushed {len(report.entries_uploaded)} output(s) to the remote")

    async def reconcile(self) -> None:
        """Rows left in ``intent`` by a crash: ask the server (where it can answer) what became of them."""
        intents = [r for r in self.journal.pending() if r.state == RowState.INTENT]
        if not intents:
            return
        backend = self.backend()
        known = {r.task_id for r in self.journal.all() if r.task_id}
        for row in intents:
            try:
                ids = await backend.find_tasks(row.body_digest)
            except Exception as exc:  # noqa: BLE001 - no answer: the row becomes unknown, as if it could not tell
                self.reporter.note(f"could not ask the server about an interrupted create: {reason_of(exc)}")
                ids = None
            if ids is None:
                return  # the server cannot tell: those rows become unknown
            fresh = [i for i in ids if i not in known]
            if fresh:
                self.journal.submitted(row.id, fresh[0])
                known.add(fresh[0])
                self.reporter.note(f"found task {fresh[0]} made by an interrupted run; resuming it")
            else:
                self.journal.finish(row.id, RowState.ABANDONED, "the create never reached the server")

    def plan(self, targets: Mapping[str, set[str]] | None, forced: Mapping[str, set[str]],
             resubmit_unknown: bool) -> Plan:
        unknown = set() if resubmit_unknown else unknown_keys(self.journal, self.cache)
        plan = make_plan(self.pipeline, self.cache, _read_lock(self.pipeline), config=self.config,
                         unknown_keys=unknown, targets=targets)
        return force_steps(plan, forced)

    async def main(self, *, selection: Selection, jobs: int, keep_going: bool,
                   resubmit_unknown: bool, max_cost: float | None, max_seconds: float | None,
                   poll: PollSchedule | None, clock: Callable[[], float],
                   sleep: Callable[[float], Awaitable[None]] | None) -> RunResult:
        targets, forced = selection.targets, selection.forced
        try:
            await self.reconcile()
            if selection.sharded and (max_cost is not None or max_seconds is not None):
                # every shard sums the whole sweep (before any prefetch) and so refuses alike
                sweep = self.plan(selection.sweep, forced, resubmit_unknown)
                check_budget(sweep, max_cost=max_cost, max_seconds=max_seconds,
                             scope="the whole sweep (every shard)", where=" on this shard")
            approved = None
            if self.saved is not None:  # compared before the remote is asked for anything
                approved = self.plan(targets, forced, resubmit_unknown)
                refuse_unless_same(self.saved, approved, max_age=self.max_age, now=self.now)
            remote = await self.prefetch(targets)
            if approved is not None and not self.fetched:
                plan = approved
            else:
                plan = self.plan(targets, forced, resubmit_unknown)
            if self.saved is not None:
                refuse_unapproved(self.saved, plan)  # never a step the saved plan did not list
            check_budget(plan, max_cost=max_cost, max_seconds=max_seconds)
            to_run = plan.unique_steps(S.TO_RUN)
            pending = self.journal.pending()
            if not to_run and not pending:
                self.reporter.note("nothing to run: every step is cached")
            from omniflow.run.units import REMOTE_KINDS  # noqa: PLC0415 - the registry of step kinds

            backend = self.backend() if any(ps.step.kind in REMOTE_KINDS for ps in to_run) or pending else None
            await check_models(plan, backend, self.reporter)  # one GET /v1/models; not offered: stop here
            result = await self._execute(plan, backend, jobs, keep_going, resubmit_unknown, poll, clock, sleep)
            result = dataclasses.replace(result, retries=self.executor.retries, problems=tuple(self.executor.problems))
            if self.push_results:
                await self.push(remote, result.outcomes)
            return result
        finally:
            if self._own and self._backend is not None:
                await self._backend.aclose()

    async def _execute(self, plan: Plan, backend: Any, jobs: int, keep_going: bool, resubmit_unknown: bool,
                       poll: PollSchedule | None, clock: Callable[[], float],
                       sleep: Callable[[float], Awaitable[None]] | None) -> RunResult:
        config = self.config
        written = plan if self.write_as is None else dataclasses.replace(plan, pipeline=self.write_as)
        executor = Executor(
            written, backend=backend, cache=self.cache, journal=self.journal, reporter=self.reporter, root=self.root,
            jobs=jobs, model_limits=config.limits, keep_going=keep_going, resubmit_unknown=resubmit_unknown,
            poll=poll, retry=RetryPolicy(attempts=config.retry_attempts), deadline=config.poll_deadline,
            download_deadline=config.download_deadline, max_download_bytes=config.max_download_bytes, clock=clock,
            sleep=sleep or asyncio.sleep,
        )
        self.executor = executor
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, executor.interrupt)
            installed = True
        except (NotImplementedError, RuntimeError, ValueError):
            installed = False
        try:
            outcomes = await executor.run()
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGINT)
        still = tuple(r.task_id for r in self.journal.pending() if r.task_id)
        seconds: dict[str, float] = {}
        costs = plan.costs()  # priced once, by the plan (omniflow.planning.cost)
        spent: list[tuple[str | None, float | None]] = []
        for key, o in outcomes.items():
            if o.state != COMPLETED:
                continue
            model = executor.units[key].step.model
            if o.generated_seconds:
                seconds[model] = seconds.get(model, 0.0) + o.generated_seconds
            if model:
                spent.append((model, costs.get(key)))
        return RunResult(plan, outcomes, executor.stopping == "interrupt", still, costing.total(spent).cost, seconds)


def _read_lock(pipeline: Pipeline) -> Any:
    from omniflow.store import read_lock

    return read_lock(pipeline.lock_path)


def summarize(result: RunResult) -> list[str]:
    """The lines printed after a run."""
    lines = []
    unique = len(result.outcomes)
    ran = result.count(S.COMPLETED)
    cached = result.count(S.CACHED)
    lines.append(f"{ran} ran, {cached} cached, {result.count(S.FAILED)} failed, {result.count(S.UNKNOWN)} unknown, "
                 f"{result.count(S.BLOCKED)} blocked, {result.count(S.SKIPPED) + result.count(S.INTERRUPTED)} "
                 f"not finished ({unique} distinct steps)")
    if result.retries:
        lines.append(f"{result.retries} retries (answers that proved no task was made, transient status or "
                     "download errors)")
    if result.generated_seconds:
        secs = ", ".join(f"{m}: {s:g} s" for m, s in sorted(result.generated_seconds.items()))
        lines.append(f"generated: {secs}")
    if result.cost is not None:
        lines.append(f"cost: {result.cost:.2f}")
    for label, o in result.failures():
        lines.append(f"  {o.state:<11} {label}: {o.reason}")
    for problem in result.problems:
        lines.append(f"  {problem}")
    if result.still_running:
        lines.append(f"{len(result.still_running)} task(s) still running remotely; the journal keeps them: "
                     f"run `omniflow run {result.plan.pipeline.path}` again to collect them (nothing is submitted twice)")
    if any(o.state == S.UNKNOWN for o in result.outcomes.values()):
        lines.append("unknown steps: a create was sent but its answer was lost; the task may exist and be billed. "
                     "Re-run with --resubmit-unknown to send them again.")
    return lines


__all__ = ["RunResult", "Selection", "check_budget", "resolve_targets", "run_pipeline", "select",
           "select_targets", "summarize"]
