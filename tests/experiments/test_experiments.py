"""``--set`` runs are experiments: the committed lock and outputs/ stay byte-identical.

Creates are counted with the emulator's stats; every file is compared by its bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.run.experiments import EXPERIMENT_LOCK, experiment_dir, experiment_label
from omniflow.store import read_lock
from tests.support import CHAIN, Harness

DIVER = {"hero": "a diver"}


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (experiments/ left out) -> its sha256."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "experiments" not in p.parts}


def committed(h: Harness) -> dict[str, str]:
    """The lock and outputs/chain/ as the storyboard as written left them."""
    lock = h.path("chain.lock")
    files = tree(h.root / "outputs" / "chain")
    files["chain.lock"] = hashlib.sha256(lock.read_bytes()).hexdigest()
    return files


def test_the_label_is_a_deterministic_slug_of_the_overrides() -> None:
    assert experiment_label({"style": "noir"}) == "style=noir"
    assert experiment_label({"style": "noir", "seconds": "5"}) == "seconds=5,style=noir"
    odd = experiment_label({"hero": "a diver/../x"})
    assert "/" not in odd and " " not in odd and odd == experiment_label({"hero": "a diver/../x"})
    assert odd != experiment_label({"hero": "a diver-..-x"})  # a changed label carries a hash
    long = experiment_label({"prompt": "x" * 200})
    assert len(long) <= 64 and long != experiment_label({"prompt": "x" * 201})


def test_a_set_run_leaves_the_lock_and_outputs_byte_identical(harness: Harness) -> None:
    h = harness
    h.write("chain.yaml", CHAIN)
    assert h.run("chain.yaml").exit_code == 0
    before = committed(h)
    result = h.run("chain.yaml", sets=DIVER, experiment=DIVER)
    assert result.exit_code == 0 and result.count("completed") > 0
    assert committed(h) == before
    folder = experiment_dir(h.root, "chain", experiment_label(DIVER))
    made = sorted(p.name for p in folder.iterdir())
    assert made == sorted(["cut.mp4", "keyframe.png", "shot1.mp4", "shot1_end.png", "shot2.mp4", EXPERIMENT_LOCK])
    own = read_lock(folder / EXPERIMENT_LOCK)
    assert own is not None and own.pipeline == "chain"
    assert (folder / "cut.mp4").read_bytes() != (h.root / "outputs" / "chain" / "cut.mp4").read_bytes()


def test_a_second_identical_set_run_creates_nothing(harness: Harness) -> None:
    h = harness
    h.write("chain.yaml", CHAIN)
    h.run("chain.yaml", sets=DIVER, experiment=DIVER)
    creates = h.creates()
    assert creates > 0 and not h.path("chain.lock").exists()
    again = h.run("chain.yaml", sets=DIVER, experiment=DIVER)
    assert again.exit_code == 0 and h.creates() == creates and again.count("completed") == 0
    # the cache has it: committing that value to the storyboard costs nothing either
    h.write("chain.yaml", CHAIN.replace("a lighthouse keeper", "a diver"))
    assert h.run("chain.yaml").exit_code == 0 and h.creates() == creates
    assert read_lock(h.path("chain.lock")) is not None


def test_save_records_an_override_run_in_the_lock(harness: Harness) -> None:
    h = harness
    h.write("chain.yaml", CHAIN)
    h.run("chain.yaml")
    before = committed(h)
    h.run("chain.yaml", sets=DIVER)  # what `run --set ... --save` does: no experiment
    after = committed(h)
    assert after["chain.lock"] != before["chain.lock"] and after["cut.mp4"] != before["cut.mp4"]
    assert not (h.root / "outputs" / "chain" / "experiments").exists()


def _cli(*args: str) -> object:
    return CliRunner().invoke(cli, [*args, "--backend", "emulator"])


def test_the_cli_set_run_is_an_experiment_and_save_records_it(harness: Harness) -> None:
    h = harness
    path = str(h.write("chain.yaml", CHAIN))
    first = _cli("run", path, "--set", "hero=a diver")
    assert first.exit_code == 0, first.output
    label = experiment_label(DIVER)
    assert f"experiment {label}: outputs in outputs/chain/experiments/{label}/; the lock is unchanged " \
           "(use --save to record it)" in first.stderr
    assert not h.path("chain.lock").exists() and (experiment_dir(h.root, "chain", label) / "cut.mp4").is_file()
    assert _cli("plan", path, "--check").exit_code == 1  # the storyboard as written was never run
    saved = _cli("run", path, "--set", "hero=a diver", "--save")
    assert saved.exit_code == 0 and "experiment" not in saved.stderr
    lock = read_lock(h.path("chain.lock"))
    assert lock is not None and (h.root / "outputs" / "chain" / "cut.mp4").is_file()


def test_plan_check_after_a_set_run_judges_the_storyboard_as_written(harness: Harness) -> None:
    h = harness
    path = str(h.write("chain.yaml", CHAIN))
    assert _cli("run", path).exit_code == 0
    assert _cli("plan", path, "--check").exit_code == 0
    before = committed(h)
    assert _cli("run", path, "--set", "hero=a diver").exit_code == 0
    assert _cli("plan", path, "--check").exit_code == 0
    assert committed(h) == before
