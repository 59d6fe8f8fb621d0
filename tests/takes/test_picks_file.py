"""The picks file: deterministic, kept as it was around a pick, every bad pick located (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.errors import PipelineError
from omniflow.store.picks import loads_picks, read_picks, write_pick
from tests.takes.conftest import MATRIX, TAKES, Harness


def test_write_pick_is_sorted_deterministic_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "p.picks.yaml"
    write_pick(path, "style=pastel", "shot1", 2)
    write_pick(path, "default", "zeta", 1)
    write_pick(path, "default", "alpha", 4)
    text = path.read_text()
    assert text == ("# which candidate of each multi-take step feeds what follows (omniflow pick)\n"
                    "default:\n  alpha: 4\n  zeta: 1\nstyle=pastel:\n  shot1: 2\n")
    assert read_picks(path).variants == {"default": {"alpha": 4, "zeta": 1}, "style=pastel": {"shot1": 2}}
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    write_pick(path, "default", "alpha", 4)  # the same take again
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime  # not even rewritten


@pytest.mark.parametrize(("text", "where", "message"), [
    ("- 1\n", (1, 1), "expected a mapping"),
    ("default: 3\n", (1, 10), "must be a mapping of step id -> take"),
    ("default:\n  shot1: two\n", (2, 10), "must be a whole number >= 1, not two"),
    ("default:\n  shot1: 0\n", (2, 10), "must be a whole number >= 1, not 0"),
    ("default:\n  shot1: [1]\n", (2, 10), "not a collection"),
    ("default:\n  shot1: 1\n  shot1: 2\n", (3, 3), "picked twice"),
    ("default: {shot1: 1\n", (2, 1), "broken picks file"),
])
def test_bad_shapes_are_located(text: str, where: tuple[int, int], message: str) -> None:
    with pytest.raises(PipelineError) as info:
        loads_picks(text, "p.picks.yaml")
    [problem] = info.value.problems
    assert (problem.location.line, problem.location.column) == where
    assert message in problem.message and problem.location.file == "p.picks.yaml"


def _validate(harness: Harness, picks: str, pipeline: str = TAKES, name: str = "takes") -> tuple[int, str]:
    harness.write(f"{name}.yaml", pipeline)
    harness.write(f"{name}.picks.yaml", picks)
    result = CliRunner().invoke(cli, ["plan", f"pipelines/{name}.yaml", "--backend", "emulator"])
    return result.exit_code, result.stderr


@pytest.mark.parametrize(("picks", "located", "message"), [
    ("default:\n  shot1_end: 1\n", "2:3", "step 'shot1_end' has no takes, so there is nothing to pick"),
    ("default:\n  shot9: 1\n", "2:3", "unknown step 'shot9' (did you mean 'shot"),
    ("other:\n  shot1: 1\n", "1:1", "unknown variant 'other' (variants: default)"),
    ("default:\n  shot1: 4\n", "2:10", "take 4 is not a candidate of 'shot1' (its takes are 1 to 3)"),
])
def test_a_bad_pick_is_a_located_error_exit_2(harness: Harness, picks: str, located: str, message: str) -> None:
    code, err = _validate(harness, picks)
    assert code == 2
    assert f"pipelines/takes.picks.yaml:{located}: " in err and message in err
    assert "Traceback" not in err


def test_a_bad_pick_in_a_matrix_names_the_variant(harness: Harness) -> None:
    code, err = _validate(harness, "style=noir:\n  shot1: 1\nstyle=sepia:\n  shot1: 1\n", MATRIX, "sweep")
    assert code == 2
    assert "pipelines/sweep.picks.yaml:3:1: style=sepia: unknown variant 'style=sepia'" in err


def test_a_broken_picks_file_is_located(harness: Harness) -> None:
    code, err = _validate(harness, "default:\n  shot1: [\n")
    assert code == 2 and "pipelines/takes.picks.yaml:3:1: broken picks file" in err


def test_a_set_pinning_the_matrix_keeps_the_other_variants_picks(harness: Harness) -> None:
    harness.write("sweep.yaml", MATRIX)
    harness.write("sweep.picks.yaml", "style=noir:\n  shot1: 2\nstyle=pastel:\n  shot1: 1\n")
    pipeline = harness.load("sweep.yaml", style="noir")
    assert [v.name for v in pipeline.variants] == ["style=noir"]
    assert pipeline.variants[0].step("shot1").take == 2
