"""[mcp] max_cost's day: today's charged and maybe-billed creates from the journal, refunds and other days left out."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from omniflow.errors import BudgetError
from omniflow.mcp.budget import remaining, spent_today
from omniflow.store import Journal

NOON = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
DAY = NOON.date()


def _create(journal: Journal, key: str, cost: float | None, *, state: str = "submitted", refunded: bool = False,
            model: str = "Vidu-q3-turbo-720p") -> None:
    row = journal.intent(key, "video", key, {"model": model, "prompt": key}, step=key, seconds=2.0, cost=cost)
    if state in ("submitted", "failed"):
        journal.submitted(row, f"task_{key}")
    if state != "submitted":
        journal.finish(row, state, "boom" if state == "failed" else None, refunded=refunded)


def _journal(root: Path, when: dt.datetime) -> Journal:
    return Journal(root / ".omniflow" / "journal.sqlite", clock=when.timestamp)


def test_the_day_counts_charged_and_lost_answers_not_refunds_nor_yesterday(tmp_path: Path) -> None:
    with _journal(tmp_path, NOON - dt.timedelta(days=1)) as j:
        _create(j, "yesterday", 1.0)
    with _journal(tmp_path, NOON) as j:
        _create(j, "charged", 0.10)
        _create(j, "refunded", 0.50, state="failed", refunded=True)
        _create(j, "lost", 0.03, state="unknown")
    spent = spent_today(tmp_path, today=DAY)
    assert spent.day == "2026-12-04" and spent.cost == pytest.approx(0.13) and spent.unpriced == ()
    assert spent_today(tmp_path, today=DAY - dt.timedelta(days=1)).cost == pytest.approx(1.0)
    assert remaining(0.2, tmp_path, 0.07, today=DAY) == pytest.approx(0.07)  # exactly at the cap: allowed
    with pytest.raises(BudgetError, match=r"0\.13 already spent .* on 2026-12-04 .* costs 0\.08"):
        remaining(0.2, tmp_path, 0.08, today=DAY)
    assert remaining(None, tmp_path, 100.0, today=DAY) is None  # no cap: only the digest rule


def test_no_journal_is_nothing_spent_and_an_unpriced_day_or_plan_cannot_be_checked(tmp_path: Path) -> None:
    assert spent_today(tmp_path, today=DAY).cost == 0.0
    with pytest.raises(BudgetError, match="no price for Kling-3.0-omni-1080p"):
        remaining(5.0, tmp_path, None, ("Kling-3.0-omni-1080p",), today=DAY)
    with _journal(tmp_path, NOON) as j:
        _create(j, "unpriced", None, model="Veo-3.1-1080p")
    with pytest.raises(BudgetError, match="no price for Veo-3.1-1080p"):
        remaining(5.0, tmp_path, 0.0, today=DAY)


def test_omniflow_mcp_without_the_sdk_is_one_line_exit_2(tmp_path: Path) -> None:
    code = "import sys; sys.modules['mcp'] = None; from omniflow.cli import main; main(['mcp'])"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: omniflow mcp needs the MCP SDK: pip install 'omniflow[mcp]'"
