"""Progress output: plain lines off a terminal, a live rich table on one."""

from __future__ import annotations

import io

from omniflow.run.reporter import PlainReporter, RichReporter, make_reporter


def test_plain_reporter_off_a_terminal_writes_one_line_per_state_change() -> None:
    stream = io.StringIO()
    rep = make_reporter(stream)
    assert isinstance(rep, PlainReporter)
    rep.add("k1", "shot1", "video", "Veo-3.1-1080p")
    rep.update("k1", "submitting")  # a brief local moment: no line of its own
    rep.update("k1", "submitting", detail="retrying: 503")  # ... unless it says something
    rep.update("k1", "queued", task_id="task_abc")
    rep.update("k1", "queued", progress=10)  # same state: no new line
    rep.update("k1", "downloading")
    rep.update("k1", "failed", detail="task failed: content policy")
    lines = stream.getvalue().splitlines()
    assert lines == [
        "submitting  shot1 [Veo-3.1-1080p] - retrying: 503",
        "queued      shot1 [Veo-3.1-1080p] task_abc",
        "failed      shot1 [Veo-3.1-1080p] task_abc - task failed: content policy",
    ]


def test_rich_reporter_counts_completed_and_cached_steps_as_done() -> None:
    rep = RichReporter()
    rep.console.file = io.StringIO()
    for key in ("a", "b", "c"):
        rep.add(key, key, "video", "m")
    rep.update("a", "completed")
    rep.update("b", "cached")
    rep.update("c", "in_progress", progress=40)
    table = rep._table()
    assert table.caption == "2/3 steps done"
    assert table.row_count == 1  # only the running step stays in the live table
    assert rep.steps["a"].progress == 100
