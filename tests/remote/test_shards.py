"""Sharded sweeps: a stable split of variants; shards sharing a remote create every distinct step once."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omniflow.config import load_config
from omniflow.errors import UsageError
from omniflow.planning.plan import plan_pipeline
from omniflow.remote import (
    assign_shards,
    parse_shard,
    prefetch,
    remote_for,
    select_shard,
    shard_targets,
)
from omniflow.remote.select import pipeline_keys
from tests.remote.conftest import SWEEP, Emulator, Project


@pytest.mark.parametrize(("text", "expected"), [("1/2", (1, 2)), ("2/2", (2, 2)), (" 3 / 10 ", (3, 10)),
                                                ("1/1", (1, 1))])
def test_parse_shard_reads_one_based_i_of_n(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "2", "a/b", "-1/2", "1/2/3", ""])
def test_parse_shard_refuses_anything_else_clearly(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


def test_assign_shards_deals_the_sorted_names_round_robin() -> None:
    # fixed values: the split must never differ between machines (changed in 0.2 from a hash)
    names = ["style=noir", "style=film", "style=anime", "style=clay", "style=ink", "style=oil"]
    assert assign_shards(names, 3) == {"style=anime": 0, "style=clay": 1, "style=film": 2,
                                       "style=ink": 0, "style=noir": 1, "style=oil": 2}
    assert assign_shards(reversed(names), 3) == assign_shards(names, 3)  # input order is irrelevant
    assert assign_shards([""], 4) == {"": 0}
    with pytest.raises(ValueError):
        assign_shards(names, 0)


@pytest.mark.parametrize("count", [6, 7, 1000])
@pytest.mark.parametrize("n", [3, 4])
def test_shards_are_balanced_and_cover_every_variant_once(count: int, n: int) -> None:
    names = [f"take={i},style=s{i % 7}" for i in range(count)]
    shard = assign_shards(names, n)
    sizes = [sum(1 for s in shard.values() if s == k) for k in range(n)]
    assert sorted(shard) == sorted(names)  # every variant in exactly one shard
    assert set(shard.values()) <= set(range(n)) and sum(sizes) == count
    assert max(sizes) - min(sizes) <= 1
    if count == 6 and n == 3:
        assert sizes == [2, 2, 2]  # the old hash split a sweep like this 5/0/1


def test_select_shard_of_six_variants_over_three_shards_is_two_each(tmp_path: Path) -> None:
    project = Project(tmp_path / "p")
    project.write("six.yaml", SWEEP.replace("  mood: [calm, storm]\n", "").replace("{{ mood }}, ", ""))
    pipeline = project.load("six.yaml")
    assert len(pipeline.variants) == 6
    parts = [select_shard(pipeline, i, 3) for i in (1, 2, 3)]
    assert [len(p) for p in parts] == [2, 2, 2]
    assert sorted(name for p in parts for name in p) == sorted(v.name for v in pipeline.variants)
    assert select_shard(pipeline, 8, 8) == {}  # more shards than variants: some empty, none doubled


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=30, unique=True), st.integers(1, 9))
def test_every_variant_lands_in_exactly_one_shard(names: list[str], n: int) -> None:
    shard = assign_shards(names, n)
    sizes = [sum(1 for s in shard.values() if s == k) for k in range(n)]
    assert set(shard) == set(names) and sum(sizes) == len(names)
    assert max(sizes) - min(sizes) <= 1


def test_select_shard_partitions_the_sweep_into_whole_variants(tmp_path: Path) -> None:
    project = Project(tmp_path / "p")
    project.write("sweep.yaml", SWEEP)
    pipeline = project.load("sweep.yaml")
    assert len(pipeline.variants) == 12
    for n in (1, 2, 3, 5, 12):
        parts = [select_shard(pipeline, i, n) for i in range(1, n + 1)]
        names = [name for part in parts for name in part]
        assert sorted(names) == sorted(v.name for v in pipeline.variants)
        assert all(steps == {"keyframe", "shot"} for part in parts for steps in part.values())
    with pytest.raises(UsageError):
        select_shard(pipeline, 0, 2)


def test_two_shards_sharing_a_remote_create_each_distinct_step_once(tmp_path: Path, remote_config: str) -> None:
    """Shard 1/2 and 2/2 run in separate copies, one after the other; a third copy plans all cached."""
    emulator = Emulator()  # one API for the team: its stats count every create
    origin = Project(tmp_path / "origin", remote_config)
    origin.write("sweep.yaml", SWEEP)
    full = origin.load("sweep.yaml")
    distinct = set(pipeline_keys(full.variants))
    assert len(distinct) == 3 + 12  # a keyframe per style, a shot per variant

    created = []
    shard1_keys: list[str] = []
    for i in (1, 2):
        machine = origin.copy_to(tmp_path / f"shard{i}")
        pipeline = machine.load("sweep.yaml")
        chosen = select_shard(pipeline, i, 2)
        assert chosen, "each shard of this sweep has variants"
        remote = remote_for(load_config(machine.root))
        assert remote is not None
        # what `run --shard` does first: take from the remote whatever the team already made
        before = prefetch(remote, pipeline, machine.cache(), chosen)
        if i == 2:
            shared = set(pipeline_keys(pipeline.variants, chosen)) & set(shard1_keys)
            assert set(before.fetched) == shared and shared, "shard 2 reuses shard 1's keyframes"
        start = emulator.creates()
        result = machine.run("sweep.yaml", emulator, targets=shard_targets(pipeline, i, 2))
        assert result.exit_code == 0
        created.append(emulator.creates() - start)
        plan = plan_pipeline(machine.load("sweep.yaml"), targets=chosen)
        assert plan.totals.to_run == 0
        report = remote.push(machine.cache(), pipeline_keys(pipeline.variants, chosen))
        assert report.missing_local == ()
        if i == 1:
            shard1_keys = pipeline_keys(pipeline.variants, chosen)

    assert sum(created) == len(distinct) == emulator.creates()
    assert all(n > 0 for n in created)
    assert set(emulator.stats()["create_bodies"].values()) == {1}

    third = origin.copy_to(tmp_path / "third")
    report = prefetch(remote_for(load_config(third.root)), third.load("sweep.yaml"), third.cache())  # type: ignore[arg-type]
    assert set(report.fetched) == distinct and report.absent == () and not report.corrupt
    plan = plan_pipeline(third.load("sweep.yaml"))
    assert (plan.totals.to_run, plan.totals.cached) == (0, len(distinct))
    fresh = Emulator()
    assert third.run("sweep.yaml", fresh).exit_code == 0
    assert fresh.creates() == 0
    # ... and its report shows the whole sweep, every cell done
    from omniflow.report import build_report

    built = build_report(third.load("sweep.yaml"), tmp_path / "third-report", sheets=False)
    cells = [c for row in built.data.rows for c in row.cells]
    assert len(built.data.rows) == len(third.load("sweep.yaml").variants)
    assert cells and all(c.status == "done" for c in cells), {c.status for c in cells}
    html = built.index.read_text(encoding="utf-8")
    assert html.count("<video") >= len(built.data.rows)


def test_run_with_a_shard_fetches_and_pushes_by_itself(tmp_path: Path, remote_config: str) -> None:
    """What `omniflow run --shard i/n` does with a remote configured: no explicit prefetch or push."""
    emulator = Emulator()
    origin = Project(tmp_path / "origin", remote_config)
    origin.write("sweep.yaml", SWEEP)
    distinct = set(pipeline_keys(origin.load("sweep.yaml").variants))
    for i in (1, 2):
        machine = origin.copy_to(tmp_path / f"m{i}")
        pipeline = machine.load("sweep.yaml")
        result = machine.run("sweep.yaml", emulator, shard_targets=select_shard(pipeline, i, 2), push=True)
        assert result.exit_code == 0, machine.log.getvalue()
        assert "pushed" in machine.log.getvalue()
    assert emulator.creates() == len(distinct)  # shard 2 fetched shard 1's shared keyframes
    assert set(emulator.stats()["create_bodies"].values()) == {1}
    third = origin.copy_to(tmp_path / "m3")
    fresh = Emulator()
    again = third.run("sweep.yaml", fresh)
    assert again.exit_code == 0 and again.count("completed") == 0 and fresh.creates() == 0
    assert f"fetched {len(distinct)} output(s) from the remote" in third.log.getvalue()
