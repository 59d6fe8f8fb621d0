"""The states a step and a journal row can be in: one vocabulary for plan, run, report and journal.

Each is a ``StrEnum`` whose values are the strings omniflow always wrote
(``plan --json``, the lock, the journal, the run summary), so a member
compares equal to, and serialises as, the old string: nothing on disk or in
a script's output changes.

A step's life in a run::

    plan:  cached | to-run | blocked
    run:   pending ─► submitting ─► queued ─► in_progress ─► downloading ─► completed
           (local steps: pending ─► running ─► completed)
    ends:  completed | cached | failed | unknown | blocked | skipped | interrupted

A journal row's life is in :mod:`omniflow.store.journal`.
"""

from __future__ import annotations

from enum import StrEnum


class StepState(StrEnum):
    # what the plan says
    CACHED = "cached"
    TO_RUN = "to-run"
    BLOCKED = "blocked"
    # under way in a run
    WAITING = "waiting"  # (reporter) nothing has happened to the step yet
    PENDING = "pending"  # to run, not started
    SUBMITTING = "submitting"  # resolving inputs, create in flight
    QUEUED = "queued"  # the task exists, not yet started remotely
    IN_PROGRESS = "in_progress"  # the task runs remotely
    RUNNING = "running"  # a local operation runs
    DOWNLOADING = "downloading"
    # how it ended
    COMPLETED = "completed"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a create may have been sent and its answer was lost: a task may exist
    SKIPPED = "skipped"  # not started: the run stopped (a failure or Ctrl-C)
    INTERRUPTED = "interrupted"  # submitted, still running remotely when Ctrl-C came


#: states a step ends a run in
FINAL_STEP_STATES = frozenset({
    StepState.COMPLETED, StepState.CACHED, StepState.FAILED, StepState.UNKNOWN, StepState.BLOCKED,
    StepState.SKIPPED, StepState.INTERRUPTED,
})
#: states that leave the step's output in the cache
DONE_STEP_STATES = frozenset({StepState.COMPLETED, StepState.CACHED})


class RowState(StrEnum):
    """A journal row (one create) — see :mod:`omniflow.store.journal` for the order."""

    INTENT = "intent"
    SUBMITTED = "submitted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    UNKNOWN = "unknown"
    DOWNLOADED = "downloaded"
    LOST = "lost"
    ABANDONED = "abandoned"


PENDING_ROW_STATES = (RowState.INTENT, RowState.SUBMITTED, RowState.RUNNING)
FINAL_ROW_STATES = (RowState.COMPLETED, RowState.FAILED, RowState.UNKNOWN, RowState.DOWNLOADED, RowState.LOST,
                    RowState.ABANDONED)
