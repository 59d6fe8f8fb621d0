"""The report folder: deterministic, self-contained, reusing media; statuses, costs; the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.report import build_report, gather
from tests.report.conftest import review_project


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    return review_project(tmp_path)


def test_rebuilding_an_unchanged_project_rewrites_nothing_and_reuses_media(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h, path = project
    first = build_report(h.load(path), tmp_path / "r", sheets=False)
    html = first.index.read_bytes()
    assert first.media_copied == 13 and first.media_reused == 0  # 1 keyframe + 6 shots + 6 stills
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "r").rglob("*")}
    second = build_report(h.load(path), tmp_path / "r", sheets=False)
    assert second.index.read_bytes() == html
    assert second.media_copied == 0 and second.media_reused == 13
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "r").rglob("*")} == mtimes
    # a second folder made from the same inputs is byte-identical
    other = build_report(h.load(path), tmp_path / "other", sheets=False)
    assert other.index.read_bytes() == html


def test_page_links_only_inside_its_folder(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h, path = project
    index = build_report(h.load(path), tmp_path / "r", sheets=True).index
    html = index.read_text()
    links = re.findall(r'(?:src|href|poster)="([^"]*)"', html)
    assert links and not [u for u in links if re.match(r"[a-z]+://|/", u) and u != "data:,"]
    for link in links:
        if link.startswith("#") or link.startswith("data:"):
            continue
        from urllib.parse import unquote

        assert (index.parent / unquote(link)).is_file(), link
    assert str(tmp_path) not in html  # no absolute path of this machine


def test_statuses_reasons_and_shared_cells(project) -> None:  # type: ignore[no-untyped-def]
    h, path = project
    data, _ = gather(h.load(path))
    first, second = data.rows[0], data.rows[1]
    assert [c.status for c in first.cells] == ["done", "done", "done", "failed"]
    assert "flagged" in first.cells[3].reasons[0]
    assert second.cells[3].status == "to-run"
    keyframe = second.cells[0]
    assert keyframe.is_copy and keyframe.first_row == 0 and keyframe.shared_by == 6
    assert not first.cells[0].is_copy
    assert first.cells[1].task_id and first.cells[1].task_id.startswith("task_")
    assert data.summary.counts["done"] == 13 and data.summary.counts["failed"] == 1
    assert data.dims == (("model", ("Vidu-q3-turbo-720p", "Kling-3.0-720p", "Veo-3.1-fast-720p")), ("seconds", ("4", "8")))


def test_costs_come_from_the_price_table(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h, path = project
    (tmp_path / "omniflow.toml").write_text('[prices]\n"Kling-3.0-720p" = 0.10\n"Nano-Banana2" = 0.04\n')
    data, _ = gather(h.load(path))
    kling4 = data.rows[2]
    assert kling4.values == {"model": "Kling-3.0-720p", "seconds": "4"}
    assert kling4.cells[1].cost == pytest.approx(0.4)  # 4 s at 0.10
    assert data.rows[0].cells[0].cost == pytest.approx(0.04)  # an image is priced per image
    assert data.rows[0].cells[1].cost is None  # Vidu has no price
    # spent: keyframe once + Kling 4 s + 8 s; left: the Kling bonuses (4 + 8 s) at 0.10
    assert data.summary.spent == pytest.approx(0.04 + 0.4 + 0.8)
    assert data.summary.to_run_cost == pytest.approx(1.2)
    html = build_report(h.load(path), tmp_path / "r", sheets=False).index.read_text()
    assert "spent 1.24" in html and "est. cost" in html


def test_report_command_writes_the_folder_and_says_where(project, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    h, path = project
    monkeypatch.setenv("OMNIFLOW_BACKEND", "emulator")
    out = tmp_path / "rep"
    res = CliRunner().invoke(cli, ["report", str(path), "-o", str(out), "--no-contact-sheets"])
    assert res.exit_code == 0, res.output
    assert f"report: {out / 'index.html'} (6 variants; 13 done, 1 failed, 5 to-run)" in res.output
    assert (out / "report.css").is_file() and (out / "report.js").is_file()
    (tmp_path / "afile").write_text("x")
    res = CliRunner().invoke(cli, ["report", str(path), "-o", str(tmp_path / "afile")])
    assert res.exit_code == 2 and "Traceback" not in res.output


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omniflow", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_open_uses_the_default_browser_and_says_so_when_there_is_none(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h, path = project
    fake = tmp_path / "fake-browser"
    seen = tmp_path / "opened.txt"
    fake.write_text(f"#!/bin/sh\necho \"$1\" > {seen}\n")
    fake.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")}
    base["OMNIFLOW_BACKEND"] = "emulator"
    res = _cli(["report", str(path), "-o", "r", "--no-contact-sheets", "--open"], {**base, "BROWSER": str(fake)}, tmp_path)
    assert res.returncode == 0, res.stderr
    assert seen.read_text().strip() == (tmp_path / "r" / "index.html").as_uri()
    empty = tmp_path / "empty-path"
    empty.mkdir()
    res = _cli(["report", str(path), "-o", "r", "--no-contact-sheets", "--open"], {**base, "PATH": str(empty)}, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "no browser found; open file://" in res.stderr


def test_a_lost_create_shows_as_blocked_and_its_descendants_wait(harness) -> None:  # type: ignore[no-untyped-def]
    from omniflow.emulator import FaultRates
    from tests.report.conftest import Harness

    path = harness.write("lost.yaml", """
        omniflow: 1
        name: lost
        steps:
          shot: {model: Vidu-q3-turbo-720p, seconds: 1, prompt: "a boat"}
          end: {kind: frame, from: shot, at: last}
        """)
    dropping = Harness(harness.root, faults=FaultRates(create_drop=1.0))
    assert dropping.run(path).exit_code == 1
    data, _ = gather(harness.load(path))
    shot, end = data.rows[0].cells
    assert shot.status == "blocked" and "resubmit-unknown" in shot.reasons[0]
    assert end.status == "blocked"
    html = build_report(harness.load(path), harness.root / "r", sheets=False).index.read_text()
    assert html.count('class="placeholder blocked"') == 2
