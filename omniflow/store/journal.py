"""The submission journal (``.omniflow/journal.sqlite``).

Why a journal: a create POST costs money and cannot be taken back. Each
submission is one row, written in this order::

    intent ──► submitted ──► running ──► completed ──► downloaded
       │           │            │     └─► failed
       └───────────┴────────────┴──────► unknown

- ``intent`` is committed *before* the create POST is sent;
- ``submitted`` (with the task id) right after the answer arrives;
- ``running`` / progress while polling; ``completed`` when the remote task
  finished (its bytes are not in the cache yet); ``downloaded`` once they are;
- ``failed`` when the task failed; ``unknown`` when the create was sent but its
  answer was lost, so a task may or may not exist;
- ``lost`` when the server no longer knows a task it once accepted (the
  in-process emulator forgets its tasks with its process); ``abandoned`` when
  the server proved an ``intent``'s create never arrived, so the step may be
  sent again (only the emulator can prove that; the run engine decides).

**The resume rule.** A new run first reads :meth:`Journal.pending`. A row in
``submitted``/``running`` has a task id: poll it instead of submitting again.
A row still in ``intent`` was left by a crash between the commit and the
answer: the POST may or may not have gone out, so whoever resumes must treat
it as ``unknown`` (``finish(row, "unknown")``) and report it, never re-send it
silently (re-sending is the user's call: ``--resubmit-unknown``). Rows in
``completed`` need only their download (:meth:`Journal.undownloaded`).

One process, one asyncio loop: methods are synchronous, quick and commit on
every call (WAL, ``synchronous=FULL``, so a committed row survives a crash or a
power cut). A ``threading.Lock`` makes them safe from worker threads too.

**Runs and money.** Each ``omniflow run`` is a row of ``runs`` (started,
finished, pipeline, backend, what ran/was cached/failed, cost, exit code);
each submission records its run, step label, model, seconds, the estimated
cost, the billing multipliers of the create's answer and whether the charge
was released (refused create, failed or timed-out task: API §5.4). That is
what ``omniflow ledger`` and ``omniflow log`` read (omniflow.planning.ledger).
A journal of the first schema gets the new columns and table when it is
opened (``PRAGMA user_version`` 2); its rows keep their values.

:func:`project_lock` keeps a second omniflow run off the same project.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.core import killpoints
from omniflow.core.keys import canonical_json
from omniflow.core.states import FINAL_ROW_STATES, PENDING_ROW_STATES, RowState
from omniflow.errors import CacheError
from omniflow.store._atomic import describe_oserror, utc_iso

STATES = tuple(RowState)
PENDING_STATES = PENDING_ROW_STATES
# lost: the server no longer knows the task (the in-process emulator forgets
# its tasks with its process); abandoned: the server proved the create never
# arrived (only the emulator can tell), so the step may be sent again.
FINAL_STATES = FINAL_ROW_STATES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body_digest TEXT NOT NULL,
    request     TEXT NOT NULL,
    state       TEXT NOT NULL,
    task_id     TEXT,
    progress    INTEGER,
    error       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_key ON submissions(key);
CREATE INDEX IF NOT EXISTS submissions_state ON submissions(state);
CREATE INDEX IF NOT EXISTS submissions_task ON submissions(task_id);
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started     TEXT NOT NULL,
    finished    TEXT,
    pipeline    TEXT NOT NULL,
    backend     TEXT NOT NULL,
    ran         INTEGER,
    cached      INTEGER,
    failed      INTEGER,
    cost        REAL,
    exit_code   INTEGER
);
"""
# Columns added after the first schema (journals made before open with them
# added, their old rows NULL there): the run that sent the create, the step
# label, model, generated seconds and estimated cost (omniflow.planning.cost)
# of the request, the billing multipliers the create's answer carried
# (X-New-Api-Other-Ratios, API §4) and whether the charge was released (§5.4).
_ADDED = (
    ("run_id", "INTEGER"),
    ("step", "TEXT"),
    ("model", "TEXT"),
    ("seconds", "REAL"),
    ("cost", "REAL"),
    ("ratios", "TEXT"),
    ("refunded", "INTEGER NOT NULL DEFAULT 0"),
)
SCHEMA_VERSION = 2  # PRAGMA user_version: 0 = the first schema (no runs table, none of _ADDED)
_COLUMNS = ("id, key, kind, body_digest, request, state, task_id, progress, error, created_at, updated_at, "
            + ", ".join(name for name, _ in _ADDED))
_RUN_COLUMNS = "id, started, finished, pipeline, backend, ran, cached, failed, cost, exit_code"


@dataclass(frozen=True)
class JournalRow:
    """One submission."""

    id: int
    key: str
    kind: str
    body_digest: str
    request: Mapping[str, Any]
    state: str
    task_id: str | None
    progress: int | None
    error: str | None
    created_at: str
    updated_at: str
    run_id: int | None = None  # the run that sent the create (None in rows older than the runs table)
    step: str | None = None  # ``step`` or ``step@variant`` (one of the places sharing the key)
    model: str | None = None
    seconds: float | None = None
    cost: float | None = None  # the estimate (omniflow.planning.cost) when it was sent; None without a price
    ratios: Mapping[str, float] | None = None  # X-New-Api-Other-Ratios of the create's answer, if any
    refunded: bool = False  # the charge was released: the create was refused or the task failed (API §5.4)


@dataclass(frozen=True)
class RunRow:
    """One ``omniflow run``: written at its start, completed at its end (None while running or if it died)."""

    id: int
    started: str
    finished: str | None
    pipeline: str
    backend: str
    ran: int | None
    cached: int | None
    failed: int | None
    cost: float | None
    exit_code: int | None


class Journal:
    """The submissions of a project, in SQLite (WAL)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self._clock = clock
        self._mutex = threading.RLock()
        self.run_id: int | None = None  # set by start_run: every intent from then on belongs to that run
        refuse_unreadable_journal(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot open the journal {self.path}: {_reason(exc)}") from exc

    def _migrate(self) -> None:
        """Add the columns a journal of an older schema lacks; its rows stay as they were."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")  # a second opener waits, then finds the columns there
        try:
            have = {r[1] for r in self._db.execute("PRAGMA table_info(submissions)")}
            for name, decl in _ADDED:
                if name not in have:
                    self._db.execute(f"ALTER TABLE submissions ADD COLUMN {name} {decl}")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    # -- writes (each one commits) -------------------------------------------

    @contextmanager
    def group(self) -> Iterator[None]:
        """Several writes in one transaction: one fsync for all (group commit).

        Every write inside is durable once the block exits; if the commit
        fails, none of them is (and the error says so).
        """
        with self._mutex:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise CacheError(f"cannot write the journal {self.path}: {_reason(exc)}") from exc
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise CacheError(f"cannot write the journal {self.path}: {_reason(exc)}") from exc

    def _write(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        killpoints.reached("journal")  # crash tests: die right before this write (OMNIFLOW_KILL_AT)
        with self._mutex:
            try:
                return self._db.execute(sql, args)  # autocommit: durable when this returns
            except sqlite3.Error as exc:
                raise CacheError(f"cannot write the journal {self.path}: {_reason(exc)}") from exc

    def _now(self) -> str:
        return utc_iso(self._clock())

    def intent(self, key: str, kind: str, body_digest: str, request: Mapping[str, Any], *,
               step: str | None = None, seconds: float | None = None, cost: float | None = None) -> int:
        """Record that a create is about to be sent; returns the row id. Call BEFORE the POST.

        ``cost`` is the plan's estimate (omniflow.planning.cost), passed through, never computed here.
        """
        now = self._now()
        model = request.get("model")
        cur = self._write(
            "INSERT INTO submissions (key, kind, body_digest, request, state, created_at, updated_at,"
            " run_id, step, model, seconds, cost) VALUES (?, ?, ?, ?, 'intent', ?, ?, ?, ?, ?, ?, ?)",
            (key, kind, body_digest, canonical_json(dict(request)).decode("utf-8"), now, now,
             self.run_id, step, model if isinstance(model, str) else None, seconds, cost),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def submitted(self, row_id: int, task_id: str, ratios: Mapping[str, float] | None = None) -> None:
        """Record the task id the create answered with (and its billing multipliers). Call right after the POST."""
        if ratios is None:
            self._set(row_id, "state = 'submitted', task_id = ?", (task_id,))
        else:
            self._set(row_id, "state = 'submitted', task_id = ?, ratios = ?",
                      (task_id, canonical_json(dict(ratios)).decode("utf-8")))

    def bind(self, row_id: int, key: str, task_id: str, ratios: Mapping[str, float] | None = None) -> str | None:
        """Record ``task_id`` for the row unless another step key already holds it.

        Returns that other key (and records nothing) when the server answered
        an id the journal binds to a different step: taking it would give this
        step another step's output. Check and write under one lock, so two
        creates answered with the same id cannot both pass.
        """
        with self._mutex:
            other = self.key_of_task(task_id, besides=key)
            if other is not None:
                return other
            self.submitted(row_id, task_id, ratios)
            return None

    def update(
        self, row_id: int, state: str, progress: int | None = None, error: str | None = None
    ) -> None:
        """Record polling state (and progress / error text when given)."""
        _check_state(state)
        sets, args = ["state = ?"], [state]
        if progress is not None:
            sets.append("progress = ?")
            args.append(int(progress))
        if error is not None:
            sets.append("error = ?")
            args.append(error)
        self._set(row_id, ", ".join(sets), tuple(args))

    def finish(self, row_id: int, state: str, error: str | None = None, *, refunded: bool = False) -> None:
        """Move a row to a final state: completed, failed, unknown or downloaded.

        ``refunded``: the charge was released (a refused create, a task that
        failed or timed out: API §5.4); only the caller knows which failure it was.
        """
        if state not in FINAL_STATES:
            raise ValueError(f"finish() takes one of {', '.join(FINAL_STATES)}, not {state!r}")
        if state in (RowState.COMPLETED, RowState.DOWNLOADED):
            self._set(row_id, "state = ?, progress = 100", (state,))
        elif refunded:
            self._set(row_id, "state = ?, error = ?, refunded = 1", (state, error))
        else:
            self._set(row_id, "state = ?, error = ?", (state, error))

    # -- settling an unknown row by hand (omniflow adopt / forget) -------------

    def adopt(self, row_id: int, task_id: str) -> str | None:
        """Bind an unknown row to a task id the user found: the next run polls it instead of creating.

        Returns the other step key that task id is already bound to (and
        records nothing), else None.
        """
        with self._mutex:
            row = self.get(row_id)
            if row is None:
                raise CacheError(f"the journal {self.path} has no submission {row_id}")
            other = self.key_of_task(task_id, besides=row.key)
            if other is not None:
                return other
            self._set(row_id, "state = 'submitted', task_id = ?, error = ?",
                      (task_id, "adopted by hand: the create's answer was lost"))
            return None

    def forget(self, row_id: int) -> None:
        """Record the user's word that an unknown row's create made no task: the step may be sent again."""
        self._set(row_id, "state = ?, error = ?",
                  (RowState.ABANDONED, "forgotten by hand: no task was made"))

    # -- runs ------------------------------------------------------------------

    def start_run(self, pipeline: str, backend: str) -> int:
        """A run's row, written at its start; intents from now on carry its id."""
        cur = self._write("INSERT INTO runs (started, pipeline, backend) VALUES (?, ?, ?)",
                          (self._now(), pipeline, backend))
        assert cur.lastrowid is not None
        self.run_id = cur.lastrowid
        return cur.lastrowid

    def end_run(self, run_id: int, *, ran: int | None, cached: int | None, failed: int | None,
                cost: float | None, exit_code: int) -> None:
        """Complete a run's row with what it did."""
        self._write("UPDATE runs SET finished = ?, ran = ?, cached = ?, failed = ?, cost = ?, exit_code = ?"
                    " WHERE id = ?", (self._now(), ran, cached, failed, cost, exit_code, run_id))

    def runs(self) -> list[RunRow]:
        """Every run, oldest first."""
        with self._mutex:
            try:
                raw = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id").fetchall()
            except sqlite3.Error as exc:
                raise CacheError(f"cannot read the journal {self.path}: {_reason(exc)}") from exc
        return [RunRow(*r) for r in raw]

    def _set(self, row_id: int, sets: str, args: tuple[Any, ...]) -> None:
        cur = self._write(
            f"UPDATE submissions SET {sets}, updated_at = ? WHERE id = ?", (*args, self._now(), row_id)
        )
        if cur.rowcount != 1:
            raise CacheError(f"the journal {self.path} has no submission {row_id}")

    # -- reads ---------------------------------------------------------------

    def _rows(self, where: str, args: tuple[Any, ...] = ()) -> list[JournalRow]:
        with self._mutex:
            try:
                cur = self._db.execute(f"SELECT {_COLUMNS} FROM submissions {where} ORDER BY id", args)
                raw = cur.fetchall()
            except sqlite3.Error as exc:
                raise CacheError(f"cannot read the journal {self.path}: {_reason(exc)}") from exc
        return [_row(r) for r in raw]

    def get(self, row_id: int) -> JournalRow | None:
        rows = self._rows("WHERE id = ?", (row_id,))
        return rows[0] if rows else None

    def pending(self) -> list[JournalRow]:
        """Rows in intent / submitted / running: what a new run must resume or report."""
        return self._rows("WHERE state IN (?, ?, ?)", PENDING_ROW_STATES)

    def undownloaded(self) -> list[JournalRow]:
        """Rows whose task completed but whose bytes never reached the cache."""
        return self._rows("WHERE state = ?", (RowState.COMPLETED,))

    def unknown(self) -> list[JournalRow]:
        """Rows whose create was sent but whose answer was lost."""
        return self._rows("WHERE state = ?", (RowState.UNKNOWN,))

    def failed(self) -> list[JournalRow]:
        """Rows whose create was refused or whose task failed."""
        return self._rows("WHERE state = ?", (RowState.FAILED,))

    def by_key(self, key: str) -> list[JournalRow]:
        """Every submission for a step key, oldest first."""
        return self._rows("WHERE key = ?", (key,))

    def key_of_task(self, task_id: str, *, besides: str | None = None) -> str | None:
        """The step key a task id is bound to (one other than ``besides`` when given); None if none."""
        where, args = "WHERE task_id = ?", (task_id,)
        if besides is not None:
            where, args = "WHERE task_id = ? AND key != ?", (task_id, besides)
        with self._mutex:
            try:
                row = self._db.execute(f"SELECT key FROM submissions {where} ORDER BY id LIMIT 1", args).fetchone()
            except sqlite3.Error as exc:
                raise CacheError(f"cannot read the journal {self.path}: {_reason(exc)}") from exc
        return row[0] if row else None

    def latest(self, key: str) -> JournalRow | None:
        rows = self.by_key(key)
        return rows[-1] if rows else None

    def all(self) -> list[JournalRow]:
        return self._rows("")


def _check_state(state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown journal state {state!r} (one of {', '.join(STATES)})")


def _row(r: tuple[Any, ...]) -> JournalRow:
    return JournalRow(
        id=r[0], key=r[1], kind=r[2], body_digest=r[3], request=json.loads(r[4]), state=r[5],
        task_id=r[6], progress=r[7], error=r[8], created_at=r[9], updated_at=r[10],
        run_id=r[11], step=r[12], model=r[13], seconds=r[14], cost=r[15],
        ratios=json.loads(r[16]) if r[16] else None, refunded=bool(r[17]),
    )  # fmt: skip


_SQLITE_HEADER = b"SQLite format 3\x00"


def refuse_unreadable_journal(path: Path) -> None:
    """A journal that exists but is empty or not SQLite is a CacheError, never silently recreated.

    It may have held tasks submitted and paid for by an earlier run; a fresh
    journal would forget them (and a resumed run would pay for them again).
    The file is kept as it is. Recovery: restore it from a backup, or, when no
    run was in flight, move it aside; the next run then starts a new journal.
    A journal that does not exist yet is created as always.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CacheError(f"cannot open the journal {path}: {describe_oserror(exc)}") from exc
    if head == _SQLITE_HEADER:
        return
    what = "is empty (0 bytes)" if not head else "is not a SQLite database"
    raise CacheError(
        f"the journal {path} {what}; it may have listed tasks already paid for, so omniflow does not "
        f"recreate it: restore it from a backup, or if no run was in flight, move it aside "
        f"(mv {path} {path}.broken) and run again"
    )


def _reason(exc: BaseException) -> str:
    return describe_oserror(exc) if isinstance(exc, OSError) else str(exc)
