"""The submission journal (SQLite, WAL) and the project run lock."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from omniflow.core.keys import body_digest
from omniflow.errors import CacheError
from omniflow.store import Journal, project_lock

KEY = "f" * 64
BODY = {"model": "Kling-3.0-omni-1080p", "prompt": "waves", "seconds": "5"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_submission_goes_from_intent_to_downloaded(project: Path) -> None:
    clock = Clock()
    with Journal(project / ".omniflow" / "journal.sqlite", clock=clock) as journal:
        row = journal.intent(KEY, "video", body_digest(BODY), BODY)
        assert [r.state for r in journal.pending()] == ["intent"]
        clock.now += 1
        journal.submitted(row, "task_1")
        journal.update(row, "running", progress=40)
        r = journal.get(row)
        assert (r.state, r.task_id, r.progress) == ("running", "task_1", 40)
        assert r.request == BODY and r.body_digest == body_digest(BODY)
        assert (r.created_at, r.updated_at) == ("2023-11-14T22:13:20Z", "2023-11-14T22:13:21Z")
        journal.finish(row, "completed")
        assert journal.pending() == [] and [x.id for x in journal.undownloaded()] == [row]
        journal.finish(row, "downloaded")
        assert journal.undownloaded() == []
        assert [x.state for x in journal.by_key(KEY)] == ["downloaded"]
        assert journal.latest(KEY).progress == 100


def test_failed_and_unknown_rows_keep_their_reason(project: Path) -> None:
    with Journal(project / ".omniflow" / "journal.sqlite") as journal:
        a = journal.intent(KEY, "video", "d1", BODY)
        b = journal.intent(KEY, "video", "d1", BODY)
        journal.finish(a, "unknown", error="read timeout after send")
        journal.submitted(b, "task_2")
        journal.finish(b, "failed", error="content policy")
        assert [(r.id, r.error) for r in journal.unknown()] == [(a, "read timeout after send")]
        assert [r.state for r in journal.by_key(KEY)] == ["unknown", "failed"]
        with pytest.raises(ValueError):
            journal.finish(a, "running")
        with pytest.raises(ValueError):
            journal.update(a, "bogus")
        with pytest.raises(CacheError, match="no submission 999"):
            journal.submitted(999, "task_x")


def test_the_journal_is_in_wal_mode(project: Path) -> None:
    path = project / ".omniflow" / "journal.sqlite"
    Journal(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_an_intent_row_survives_sigkill_before_the_post(project: Path) -> None:
    path = project / ".omniflow" / "journal.sqlite"
    script = textwrap.dedent(
        f"""
        import sys, time
        from omniflow.store import Journal
        j = Journal({str(path)!r})
        row = j.intent({KEY!r}, "video", "digest", {BODY!r})
        print(row, flush=True)
        time.sleep(60)  # "sending the POST" when the process dies
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        row_id = int(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with Journal(path) as journal:
        (row,) = journal.pending()
        assert (row.id, row.state, row.task_id, row.request) == (row_id, "intent", None, BODY)


def test_a_second_run_on_the_same_project_is_refused_with_the_holder_pid(project: Path) -> None:
    with project_lock(project) as lock_file:
        assert lock_file == project / ".omniflow" / "run.lock"
        with pytest.raises(CacheError) as err:
            with project_lock(project):
                pass
        assert str(err.value).startswith(f"another omniflow run is using {project} (pid {os.getpid()})")
    with project_lock(project / ".omniflow"):  # released: a new holder gets it
        pass


def test_the_project_lock_held_by_another_process_stops_us(project: Path) -> None:
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from omniflow.store import project_lock
        with project_lock(Path({str(project)!r})):
            print("held", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        with pytest.raises(CacheError, match=rf"another omniflow run is using .* \(pid {proc.pid}\)"):
            with project_lock(project):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with project_lock(project):  # a dead holder leaves nothing stuck
        pass
