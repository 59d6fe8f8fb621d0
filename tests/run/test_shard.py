"""`run --shard i/n`: each variant lands in exactly one shard; an empty shard runs nothing."""

from __future__ import annotations

from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.remote import select_shard

from .conftest import Harness

SWEEP = """
omniflow: 1
name: sweep
matrix:
  colour: [red, green, blue, amber, teal, plum]
  seconds: [4, 8]
steps:
  shot:
    model: Veo-3.1-fast-720p
    seconds: "{{ seconds }}"
    prompt: "a {{ colour }} boat"
"""


def test_two_shards_split_the_variants_and_together_run_each_once(harness: Harness) -> None:
    path = harness.write("sweep.yaml", SWEEP)
    pipeline = harness.load(path)
    one, two = select_shard(pipeline, 1, 2), select_shard(pipeline, 2, 2)
    assert set(one).isdisjoint(two) and set(one) | set(two) == {v.name for v in pipeline.variants}
    r1 = harness.run(path, shard_targets=one)
    r2 = harness.run(path, shard_targets=two)
    assert r1.count("completed") == len(one) and r2.count("completed") == len(two)
    assert harness.creates() == 12 and set(harness.stats()["create_bodies"].values()) == {1}


def test_an_empty_shard_runs_nothing(harness: Harness) -> None:
    path = harness.write("sweep.yaml", SWEEP)
    result = harness.run(path, shard_targets={})
    assert result.outcomes == {} and result.exit_code == 0
    assert harness.stats()["routes"] == {}


def test_cli_dry_run_of_a_shard_lists_only_its_variants(harness: Harness) -> None:
    path = harness.write("sweep.yaml", SWEEP)
    out = CliRunner().invoke(cli, ["run", str(path), "--shard", "1/3", "-n", "--backend", "emulator"])
    assert out.exit_code == 0, out.output
    shown = [line for line in out.stdout.splitlines() if line.startswith("variant ")]
    expected = select_shard(harness.load(path), 1, 3)
    assert sorted(line.split(" ", 1)[1] for line in shown) == sorted(expected)
    bad = CliRunner().invoke(cli, ["run", str(path), "--shard", "4/3", "-n"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
