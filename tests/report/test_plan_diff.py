"""plan --diff REV in a temporary git repository: changes per variant and step, and the cost to catch up."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.errors import UsageError
from omniflow.language import load
from omniflow.planning.diff import diff_against, text_change
from omniflow.planning.plan import plan_pipeline

BASE = """\
omniflow: 1
name: boats
matrix:
  model: [Kling-3.0-720p, Veo-3.1-fast-720p]
defaults:
  video: {model: "{{ model }}", seconds: "4", aspect_ratio: "16:9", input_region: Oversea}
steps:
  keyframe:
    kind: image
    model: Nano-Banana2
    prompt: "a paper boat in a gutter after the rain, low angle, soft light"
  shot:
    prompt: "the boat drifts"
    images: ["{{ steps.keyframe.url }}"]
  gone:
    prompt: "a removed shot"
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".omniflow").mkdir()
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "boats.yaml").write_text(BASE)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "pipelines/boats.yaml")
    git(tmp_path, "commit", "-q", "-m", "boats")
    return tmp_path


def diff(path: Path, rev: str = "HEAD") -> list[str]:
    pipeline = load(path, backend="emulator")
    return diff_against(pipeline, rev, plan_pipeline(pipeline))


def test_no_change_says_so_and_counts_what_is_left_to_run(repo: Path) -> None:
    lines = diff(repo / "pipelines" / "boats.yaml")
    assert lines[1] == "no changes: every step has the same key as at that revision"
    assert lines[-2].startswith("to bring outputs up to date: 5 to run, 0 cached")
    assert "Kling-3.0-720p 8 s" in lines[-2] and "Veo-3.1-fast-720p 8 s" in lines[-2]


def test_changes_are_listed_per_step_with_fields_upstream_take_added_and_removed(repo: Path) -> None:
    path = repo / "pipelines" / "boats.yaml"
    text = BASE.replace("soft light", "hard light").replace('  gone:\n    prompt: "a removed shot"\n', "")
    text = text.replace('    prompt: "the boat drifts"\n', '    prompt: "the boat drifts"\n    take: 2\n')
    text += "  still: {kind: frame, from: shot, at: last}\n"
    path.write_text(text)
    (repo / "omniflow.toml").write_text('[prices]\n"Kling-3.0-720p" = 0.10\n"Veo-3.1-fast-720p" = 0.20\n')
    lines = diff(path)
    out = "\n".join(lines)
    assert lines[0].startswith("boats: ") and " at HEAD -> working tree (emulator)" in lines[0]
    assert lines[1] == "all 2 variants"  # identical changes are listed once
    assert '  ~ keyframe: prompt "…ain, low angle, [soft -> hard] light"' in lines
    assert "  ~ shot: take 1 -> 2; upstream changed: keyframe" in lines
    assert "  + still (added: frame)" in lines
    assert "  - gone (removed)" in lines
    assert "to bring outputs up to date: 5 to run" in out  # keyframe once, 2 shots, 2 stills
    assert "cost: 1.20" in out or "cost: 1.20 (no price for Nano-Banana2)" in out


def test_the_cost_to_catch_up_prices_an_image_step_per_image(repo: Path) -> None:
    path = repo / "pipelines" / "boats.yaml"
    path.write_text(BASE.replace("    model: Nano-Banana2\n", "    model: Nano-Banana2\n    n: 3\n"))
    (repo / "omniflow.toml").write_text(
        '[prices]\n"Kling-3.0-720p" = 0.10\n"Veo-3.1-fast-720p" = 0.20\n"Nano-Banana2" = 0.05\n')
    lines = diff(path)
    assert "  ~ keyframe: n added: 3" in lines
    # 3 images at 0.05, and two 4 s shots per model (shot, gone) at 0.10 and 0.20 a second
    assert lines[-1] == "cost: 2.55"


def test_matrix_change_shows_added_and_removed_variants(repo: Path) -> None:
    path = repo / "pipelines" / "boats.yaml"
    path.write_text(BASE.replace("[Kling-3.0-720p, Veo-3.1-fast-720p]", "[Kling-3.0-720p, Sora-2.0-720p]"))
    lines = diff(path)
    assert "+ variant model=sora-2.0-720p (new: 3 steps)" in lines
    assert "- variant model=veo-3.1-fast-720p (removed)" in lines
    assert not any(line.startswith("variant model=kling") for line in lines)  # unchanged
    assert "(3 steps unchanged)" in lines


def test_request_field_values_are_shown_old_to_new(repo: Path) -> None:
    path = repo / "pipelines" / "boats.yaml"
    path.write_text(BASE.replace('seconds: "4"', 'seconds: "8"'))
    lines = diff(path)
    assert '  ~ shot: seconds "4" -> "8"' in lines and '  ~ gone: seconds "4" -> "8"' in lines


def test_older_revision_and_a_subfolder_project(repo: Path) -> None:
    path = repo / "pipelines" / "boats.yaml"
    path.write_text(BASE.replace("the boat drifts", "the boat spins"))
    git(repo, "commit", "-q", "-am", "spin")
    lines = diff(path, "HEAD~1")
    assert '  ~ shot: prompt "the boat drifts" -> "the boat spins"' in lines
    assert diff(path, "HEAD")[1].startswith("no changes")


def test_clear_errors_outside_git_for_unknown_revisions_and_new_files(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = repo / "pipelines" / "boats.yaml"
    with pytest.raises(UsageError, match="unknown git revision 'nope'"):
        diff(path, "nope")
    new = repo / "pipelines" / "new.yaml"
    new.write_text(BASE.replace("name: boats", "name: fresh"))
    with pytest.raises(UsageError, match="pipelines/new.yaml did not exist at HEAD"):
        diff(new)
    outside = tmp_path_factory.mktemp("nogit")
    (outside / ".omniflow").mkdir()
    (outside / "x.yaml").write_text(BASE)
    with pytest.raises(UsageError, match="not inside a git repository"):
        diff(outside / "x.yaml")


def test_plan_diff_command(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    monkeypatch.setenv("OMNIFLOW_BACKEND", "emulator")
    (repo / "pipelines" / "boats.yaml").write_text(BASE.replace("the boat drifts", "the boat spins"))
    res = CliRunner().invoke(cli, ["plan", "--diff", "HEAD", "pipelines/boats.yaml"])
    assert res.exit_code == 0, res.output
    assert '  ~ shot: prompt "the boat drifts" -> "the boat spins"' in res.output
    res = CliRunner().invoke(cli, ["plan", "--diff", "nope", "pipelines/boats.yaml"])
    assert res.exit_code == 2 and "error: unknown git revision 'nope'" in res.output


def test_text_change_shows_the_edit_with_context() -> None:
    assert text_change("short", "other") == '"short" -> "other"'
    old = "a paper boat drifts down a gutter stream after the rain, soft light"
    assert text_change(old, old.replace("soft", "hard")) == "\"…after the rain, [soft -> hard] light\""
