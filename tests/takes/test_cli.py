"""plan and pick on the command line: candidate lines, reasons, totals, JSON, refusals."""

from __future__ import annotations

import json

from click.testing import CliRunner

from omniflow.cli import cli
from tests.takes.conftest import MATRIX, TAKES, Harness


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--backend", "emulator"])
    return result.exit_code, result.stdout, result.stderr


def test_plan_lines_and_totals_count_every_candidate(harness: Harness) -> None:
    harness.write("takes.yaml", TAKES)
    (harness.root / "omniflow.toml").write_text('[prices]\n"Vidu-q3-turbo-720p" = 0.5\n')
    code, out, _ = invoke("plan", "pipelines/takes.yaml")
    assert code == 0
    assert "shot1 [Vidu-q3-turbo-720p, 2s]" in out
    assert "3 takes; no pick yet: using take 1; take 1, 2, 3: new" in out
    assert "    take 1   to-run" in out and "(picked)" in out.splitlines()[2]
    assert "5 to run, 0 cached, 0 blocked (distinct steps); generated: Vidu-q3-turbo-720p 8 s" in out
    assert "cost: 4.00" in out  # (3 candidates + shot2) x 2 s x 0.5
    code, out, _ = invoke("plan", "pipelines/takes.yaml", "--json")
    doc = json.loads(out)
    steps = {s["id"]: s for s in doc["variants"][0]["steps"]}
    assert steps["shot1"]["pick"] is None and steps["shot1"]["cost"] == 3.0
    assert [(t["take"], t["state"]) for t in steps["shot1"]["takes"]] == [(1, "to-run"), (2, "to-run"), (3, "to-run")]
    assert "takes" not in steps["shot2"] and "pick" not in steps["shot2"]  # unchanged for a single take
    assert doc["totals"]["cost"] == 4.0 and doc["totals"]["generated_seconds"] == {"Vidu-q3-turbo-720p": 8.0}
    assert invoke("pick", "pipelines/takes.yaml", "shot1", "2")[0] == 0
    code, out, _ = invoke("plan", "pipelines/takes.yaml")
    assert "3 takes, pick 2; take 1, 2, 3: new" in out


def test_take_bumped(harness: Harness) -> None:
    harness.write("one.yaml", TAKES.replace("    takes: 3\n", ""))
    assert harness.run("one.yaml").exit_code == 0
    harness.write("one.yaml", TAKES.replace("    takes: 3\n", "    take: 2\n"))
    code, out, _ = invoke("plan", "pipelines/one.yaml")
    shot1 = next(line for line in out.splitlines() if " shot1 " in line)
    assert "take bumped: 1 -> 2" in shot1


def test_a_bare_step_of_a_matrix_is_refused_with_the_variants(harness: Harness) -> None:
    harness.write("sweep.yaml", MATRIX)
    code, _, err = invoke("pick", "pipelines/sweep.yaml", "shot1", "2")
    assert code == 2
    assert "step 'shot1' is in 2 variants; name one as shot1@VARIANT: style=noir, style=pastel" in err
    assert not (harness.root / "pipelines" / "sweep.picks.yaml").exists()
    code, out, _ = invoke("pick", "pipelines/sweep.yaml", "shot1@style=pastel", "2", "--json")
    assert code == 0 and json.loads(out)["variant"] == "style=pastel"
    assert (harness.root / "pipelines" / "sweep.picks.yaml").read_text().endswith("style=pastel:\n  shot1: 2\n")
    code, out, _ = invoke("pick", "pipelines/sweep.yaml", "shot1@style=pastel", "--json")
    assert [c["picked"] for c in json.loads(out)["candidates"]] == [False, True]
    code, out, _ = invoke("pick", "pipelines/sweep.yaml", "shot1@style=noir", "--json")
    assert [c["picked"] for c in json.loads(out)["candidates"]] == [True, False]


def test_pick_refusals_exit_2(harness: Harness) -> None:
    harness.write("takes.yaml", TAKES)
    cases = [
        (("shot2", "1"), "step 'shot2' has no takes"),
        (("shot9", "1"), "unknown step 'shot9'"),
        (("shot1@noir", "1"), "unknown variant 'noir'"),
        (("shot1", "4"), "take 4 is not a candidate of 'shot1' (its takes are 1 to 3)"),
        (("shot1", "x"), "TAKE must be a whole number"),
    ]
    for args, message in cases:
        code, _, err = invoke("pick", "pipelines/takes.yaml", *args)
        assert code == 2 and message in err and "Traceback" not in err, (args, err)
    assert not (harness.root / "pipelines" / "takes.picks.yaml").exists()
