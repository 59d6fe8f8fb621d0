"""A journal made with the first schema (commit cba7c69) opens, keeps its rows and gains the new columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from omniflow.planning.ledger import make_ledger
from omniflow.store import Journal
from omniflow.store.journal import SCHEMA_VERSION

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

# _SCHEMA of omniflow/store/journal.py at cba7c69, as it was
OLD_SCHEMA = """
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
"""
K1, K2 = "a" * 64, "b" * 64


def _old_journal(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.executemany(
        "INSERT INTO submissions (key, kind, body_digest, request, state, task_id, progress, error, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(K1, "video", "d1", '{"model":"Vidu-q3-turbo-720p","prompt":"x","seconds":"2"}', "downloaded",
          "task_1", 100, None, "2026-11-20T10:00:00Z", "2026-11-20T10:01:00Z"),
         (K2, "video", "d2", '{"model":"Vidu-q3-turbo-720p","prompt":"y"}', "failed", "task_2", None,
          "task failed: boom", "2026-11-21T10:00:00Z", "2026-11-21T10:02:00Z")])
    db.commit()
    db.close()


def test_an_old_journal_opens_keeps_its_rows_and_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    _old_journal(path)
    with Journal(path) as j:
        rows = j.all()
        assert [(r.key, r.state, r.task_id, r.error) for r in rows] == [
            (K1, "downloaded", "task_1", None), (K2, "failed", "task_2", "task failed: boom")]
        assert rows[0].request == {"model": "Vidu-q3-turbo-720p", "prompt": "x", "seconds": "2"}
        assert all(r.run_id is None and r.cost is None and r.ratios is None and not r.refunded for r in rows)
        assert j.runs() == []
        # new writes work on the migrated file
        run = j.start_run("p.yaml", "emulator")
        row = j.intent("c" * 64, "video", "d3", {"model": "Vidu-q3-turbo-720p"}, step="shot", seconds=2, cost=0.1)
        j.bind(row, "c" * 64, "task_3", {"seconds": 2})
        j.end_run(run, ran=1, cached=0, failed=0, cost=0.1, exit_code=0)
        book = make_ledger(j)
    assert [r.run.id if r.run else None for r in book.runs] == [None, 1]  # old rows: before runs were recorded
    assert book.runs[0].steps[0].model == "Vidu-q3-turbo-720p"  # read from the request
    assert [s.billed for s in book.runs[0].steps] == ["charged", "refunded"]  # an old failed row was released
    assert book.runs[1].steps[0].ratios == {"seconds": 2}
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = {r[1] for r in db.execute("PRAGMA table_info(submissions)")}
    db.close()
    assert {"run_id", "step", "model", "seconds", "cost", "ratios", "refunded"} <= columns
    with Journal(path) as j:  # opening again changes nothing
        assert len(j.all()) == 3 and len(j.runs()) == 1
