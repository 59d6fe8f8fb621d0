"""adopt and forget: settling by hand a step whose create's answer was lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.emulator import FaultRates
from omniflow.store import Journal
from tests.support import Emulator, Project

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

ONE = """
omniflow: 1
name: one
steps:
  shot:
    model: Vidu-q3-turbo-720p
    seconds: 2
    prompt: "the lamp comes on"
"""


def _dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Project, Emulator, Path]:
    """A run whose only create reached the server but whose answer was lost: the step is unknown."""
    monkeypatch.chdir(tmp_path)
    project, emu = Project(tmp_path), Emulator(faults=FaultRates(create_drop=1.0))
    path = project.write("one.yaml", ONE)
    result = project.run_on(emu, path)
    assert result.count("unknown") == 1 and emu.creates() == 1
    return project, emu, path


def _task_ids(emu: Emulator) -> list[str]:
    return list(emu.app.state.emulator.tasks)


def test_adopt_binds_the_task_and_the_next_run_creates_nothing(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    project, emu, path = _dropped(tmp_path, monkeypatch)
    (task_id,) = _task_ids(emu)  # what the user reads in the provider's console
    runner = CliRunner()
    plan = runner.invoke(cli, ["plan", str(path), "--backend", "emulator"])
    assert "blocked" in plan.output
    out = runner.invoke(cli, ["adopt", str(path), "shot", task_id, "--backend", "emulator"])
    assert out.exit_code == 0, out.output
    assert f"bound to task {task_id}" in out.stderr
    plan = runner.invoke(cli, ["plan", str(path), "--backend", "emulator", "--json"])
    assert f"submitted, will resume (task {task_id})" in plan.stdout
    result = project.run_on(emu, path)
    assert result.exit_code == 0 and result.count("completed") == 1
    assert emu.creates() == 1  # 0 creates after adopt: the adopted task was polled and downloaded
    assert result.outcomes[next(iter(result.outcomes))].task_id == task_id
    again = runner.invoke(cli, ["adopt", str(path), "shot", task_id, "--backend", "emulator"])
    assert again.exit_code == 2 and "not unknown" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_forget_lets_the_next_run_create_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, _, path = _dropped(tmp_path, monkeypatch)
    runner = CliRunner()
    out = runner.invoke(cli, ["forget", str(path), "shot", "--backend", "emulator"])
    assert out.exit_code == 0, out.output
    fresh = Emulator()  # the user's word: no task was made; a clean server counts what is sent now
    result = project.run_on(fresh, path)
    assert result.exit_code == 0 and fresh.creates() == 1
    again = runner.invoke(cli, ["forget", str(path), "shot", "--backend", "emulator"])
    assert again.exit_code == 2 and "not unknown" in again.stderr and "Traceback" not in again.output


def test_adopt_refuses_a_task_bound_to_another_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, emu, path = _dropped(tmp_path, monkeypatch)
    with Journal(tmp_path / ".omniflow" / "journal.sqlite") as j:
        other = j.intent("e" * 64, "video", "d" * 64, {"model": "Vidu-q3-turbo-720p"})
        j.submitted(other, "task_taken")
    out = CliRunner().invoke(cli, ["adopt", str(path), "shot", "task_taken", "--backend", "emulator"])
    assert out.exit_code == 2 and "already bound to step key eeeeeeeeeeee" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    with Journal(tmp_path / ".omniflow" / "journal.sqlite") as j:
        assert [r.state for r in j.all()] == ["unknown", "submitted"]


def test_adopt_and_forget_refuse_a_step_never_sent_or_unknown_names(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, path = _dropped(tmp_path, monkeypatch)
    runner = CliRunner()
    bad = runner.invoke(cli, ["forget", str(path), "shoot", "--backend", "emulator"])
    assert bad.exit_code == 2 and "unknown step 'shoot'" in bad.stderr
    (tmp_path / "pipelines" / "two.yaml").write_text(ONE.replace("comes on", "goes out"))
    never = runner.invoke(cli, ["forget", str(tmp_path / "pipelines" / "two.yaml"), "shot", "--backend", "emulator"])
    assert never.exit_code == 2 and "no create was ever sent" in never.stderr, never.output
    nameless = runner.invoke(cli, ["adopt", str(path), "shot", "not an id", "--backend", "emulator"])
    assert nameless.exit_code == 2 and "is not a task id" in nameless.stderr
