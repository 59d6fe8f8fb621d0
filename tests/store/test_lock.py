"""The lock file: deterministic YAML, atomic writes, located errors when broken by hand."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omniflow.errors import CacheError, PipelineError
from omniflow.store import LockFile, LockStep, ObjectInfo, read_lock, update_lock, write_lock
from omniflow.store.lock import dumps_lock

HEX = "0123456789abcdef"


def step(key: str = "a" * 64, **kw) -> LockStep:
    base = dict(
        key=key,
        kind="video",
        model="Kling-3.0-omni-1080p",
        request={"model": "Kling-3.0-omni-1080p", "prompt": "le phare, 灯台 🌅", "images": ["http://127.0.0.1:1/u/x.png"]},
        backend="emulator",
        task_id="task_abc",
        outputs=(ObjectInfo("b" * 64, 12345, "video/mp4", ".mp4", 5.0, 640, 360),),
        upstream={"c" * 64: "d" * 64},
        submitted_at="2025-01-01T00:00:00Z",
        completed_at="2025-01-01T00:02:00Z",
        generated_seconds=5.0,
    )
    base.update(kw)
    return LockStep(**base)


def test_lock_round_trip_is_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = LockFile("lighthouse", {"": {"shot1": step(), "keyframe": step("e" * 64, kind="image")}})
    write_lock(path, lock)
    first = path.read_bytes()
    back = read_lock(path)
    assert back == lock
    assert list(back.variants) == ["default"]  # no matrix: stored as "default"
    assert list(back.variants["default"]) == ["keyframe", "shot1"]
    write_lock(path, back)
    assert path.read_bytes() == first
    assert "灯台 🌅" in first.decode("utf-8")  # unicode kept, not escaped


@pytest.mark.parametrize("prompt", ["\x85", "a\u2028b", "end\u2029", "line\nbreak\x85", "\U0001F305 dusk", "\r\n"])
def test_prompts_with_unusual_line_breaks_survive_a_round_trip(tmp_path: Path, prompt: str) -> None:
    # Regression: PyYAML folded a raw NEL (\x85) inside a quoted scalar on reading.
    path = tmp_path / "x.lock"
    lock = LockFile("x", {"": {"s": step(request={"prompt": prompt})}})
    write_lock(path, lock)
    assert read_lock(path) == lock
    if "\U0001F305" in prompt:
        assert "\U0001F305" in path.read_text(encoding="utf-8")  # kept as itself on every machine


def test_reading_an_absent_lock_gives_none(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "nope.lock") is None


hexes = st.text(HEX, min_size=64, max_size=64)
names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts | st.floats(allow_nan=False, allow_infinity=False)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)
outputs = st.builds(
    ObjectInfo,
    sha256=hexes,
    bytes=st.integers(0, 2**40),
    media_type=st.sampled_from(["video/mp4", "image/png"]),
    ext=st.sampled_from([".mp4", ".png"]),
    duration=st.none() | st.floats(0, 60, allow_nan=False),
    width=st.none() | st.integers(1, 4096),
    height=st.none() | st.integers(1, 4096),
)
lock_steps = st.builds(
    LockStep,
    key=hexes,
    kind=st.sampled_from(["video", "image", "frame", "concat"]),
    model=st.none() | texts,
    request=st.dictionaries(names, json_value, max_size=4),
    backend=st.sampled_from(["emulator", "omnirouters"]),
    task_id=st.none() | texts,
    outputs=st.lists(outputs, max_size=2).map(tuple),
    upstream=st.dictionaries(hexes, hexes, max_size=2),
    submitted_at=st.none() | st.just("2025-01-01T00:00:00Z"),
    completed_at=st.none() | st.just("2025-01-01T00:02:00Z"),
    generated_seconds=st.none() | st.floats(0, 600, allow_nan=False),
)
variant_names = st.just("") | st.from_regex(r"style=[a-z-]{1,8},seconds=(5|10)", fullmatch=True)
lock_tables = st.dictionaries(variant_names, st.dictionaries(names, lock_steps, min_size=1, max_size=3), max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pipeline=names, table=lock_tables, seed=st.integers(0, 2**32))
def test_lock_text_is_deterministic_whatever_the_insertion_order(tmp_path: Path, pipeline, table, seed) -> None:
    rng = random.Random(seed)
    shuffled_variants = list(table.items())
    rng.shuffle(shuffled_variants)
    shuffled = {}
    for v, steps in shuffled_variants:
        items = list(steps.items())
        rng.shuffle(items)
        shuffled[v] = dict(items)
    a, b = LockFile(pipeline, table), LockFile(pipeline, shuffled)
    assert a == b
    assert dumps_lock(a) == dumps_lock(b)
    path = tmp_path / f"{pipeline}.lock"
    write_lock(path, b)
    written = path.read_bytes()
    back = read_lock(path)
    assert back == a
    write_lock(path, back)
    assert path.read_bytes() == written


def test_update_lock_merges_one_step_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "pipelines" / "teaser.lock"
    path.parent.mkdir()
    update_lock(path, "", "keyframe", step("e" * 64, kind="image"), pipeline="lighthouse")
    update_lock(path, "style=anime,seconds=5", "shot1", step())
    lock = update_lock(path, "", "shot1", step())
    assert lock.pipeline == "lighthouse"
    assert read_lock(path) == lock
    assert sorted(lock.variants) == ["default", "style=anime,seconds=5"]
    assert sorted(lock.variants["default"]) == ["keyframe", "shot1"]
    assert lock.step("", "keyframe").kind == "image"
    assert lock.object_shas() == {"b" * 64}
    assert [p.name for p in path.parent.iterdir()] == ["teaser.lock"]  # no temp files left


def test_pruned_drops_steps_the_pipeline_no_longer_has(tmp_path: Path) -> None:
    lock = LockFile("p", {"": {"a": step(), "gone": step()}, "old=1": {"a": step()}})
    assert lock.pruned({"": ["a"]}) == LockFile("p", {"": {"a": step()}})


def test_a_hand_broken_lock_is_a_located_error_and_the_file_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    write_lock(path, LockFile("x", {"": {"shot1": step()}}))
    text = path.read_text().replace("kind: video", "kind: [video", 1)
    path.write_text(text)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with pytest.raises(PipelineError) as err:
        read_lock(path)
    (problem,) = err.value.problems
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "kind: [video" in t)
    assert problem.location.file == str(path)
    assert line <= problem.location.line <= line + 1
    assert str(problem).startswith(f"{path}:{problem.location.line}:{problem.location.column}: ")
    assert "broken lock file" in str(problem)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_a_lock_with_a_wrong_field_points_at_that_field(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    write_lock(path, LockFile("x", {"": {"shot1": step()}}))
    text = path.read_text().replace("key: " + "a" * 64, "key: not-a-key")
    path.write_text(text)
    with pytest.raises(PipelineError) as err:
        read_lock(path)
    (problem,) = err.value.problems
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "key: not-a-key" in t)
    assert problem.location.line == line
    assert problem.location.column == text.splitlines()[line - 1].index("not-a-key") + 1
    assert problem.path == "variants.default.shot1.key"


def test_writing_a_lock_never_writes_the_api_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OMNIROUTERS_API_KEY", "sk-secret-123456")
    path = tmp_path / "x.lock"
    leaky = step(request={"prompt": "oops sk-secret-123456"})
    with pytest.raises(CacheError, match="OMNIROUTERS_API_KEY"):
        write_lock(path, LockFile("x", {"": {"s": leaky}}))
    assert not path.exists()
    write_lock(path, LockFile("x", {"": {"s": step()}}))
    assert "sk-secret" not in path.read_text()


def test_an_unchanged_lock_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = LockFile("x", {"": {"s": step()}})
    write_lock(path, lock)
    os.utime(path, ns=(1, 1))
    write_lock(path, lock)
    assert path.stat().st_mtime_ns == 1


# -- one reader: the data built from libyaml's events is yaml.safe_load's ---------------

_yaml_keys = st.from_regex(r"\A[A-Za-z0-9_.:=,@+<~-]{1,12}\Z") | st.sampled_from(["~", "null", "yes", "1", "1.5", "<<"])
_yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=False), st.text(max_size=20),
    st.sampled_from(["yes", "No", "~", "0o17", "0x1F", "1_000", "1e3", ".inf", "2025-01-01", "2025-01-01T00:00:00Z",
                     "=", "<<", "12:30", "'quoted'", "- dash", "#hash", "a: b"]),
)
_yaml_values = st.recursive(
    _yaml_scalars, lambda i: st.lists(i, max_size=3) | st.dictionaries(_yaml_keys, i, max_size=3), max_leaves=12
)


@settings(max_examples=120, deadline=None)
@given(data=st.dictionaries(_yaml_keys, _yaml_values, max_size=4), flow=st.booleans())
def test_the_event_reader_gives_what_safe_load_gives(data, flow) -> None:
    import yaml

    from omniflow.store.lockyaml import fast_load

    text = yaml.safe_dump(data, allow_unicode=True, default_flow_style=flow)
    fast = fast_load(text)
    if not hasattr(yaml, "CSafeLoader"):
        assert fast is None  # then every lock is read the located way
    else:
        assert fast == yaml.safe_load(text)


@pytest.mark.parametrize("text", [
    "a: &x {b: [1, 2]}\nc: *x\n",  # anchors and aliases
    "a: 2025-01-01 10:00:00\nb: '2025-01-01'\nc: 0x1F\nd: 1_000\ne: .nan\nf: ~\ng: yes\n",
    "? [1, 2]\n: complex key\n",  # a sequence as a key
    "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n",  # a merge key
    "a: !!str 5\nb: !!binary aGk=\n",  # explicit tags
    "a: 1\n---\nb: 2\n",  # two documents
    "",  # nothing
    "a: [1, 2\n",  # broken
    "a: 1\na: 2\n",  # a repeated key: the last wins
])
def test_what_the_event_reader_does_not_build_it_leaves_to_the_located_reader(text: str) -> None:
    import yaml

    from omniflow.store.lockyaml import fast_load

    fast = fast_load(text)
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        assert fast is None
        return
    if isinstance(expected, float) or (isinstance(expected, dict) and any(v != v for v in expected.values())):
        return  # NaN is never equal to itself
    assert fast is None or fast == expected
    if "<<" in text or "!!" in text or "---" in text or "?" in text or not text:
        assert fast is None


@settings(max_examples=40, deadline=None)
@given(pipeline=names, table=lock_tables)
def test_a_lock_reads_back_by_events_exactly_as_the_located_way(pipeline, table) -> None:
    from omniflow.store.lock import _located, lock_from_data
    from omniflow.store.lockyaml import fast_load

    lock = LockFile(pipeline, table)
    text = dumps_lock(lock)
    fast = fast_load(text)
    if fast is not None:  # always with libyaml
        assert lock_from_data(fast) == lock
    assert _located(text, "x.lock") == lock


def test_the_lock_text_does_not_depend_on_libyaml() -> None:
    import yaml

    from omniflow.store.lock import _dumper

    assert _dumper().__mro__[1] is yaml.SafeDumper  # the pure-Python emitter, machine-independent
    text = dumps_lock(LockFile("p", {"": {"s": step(request={"prompt": "sunrise \U0001F305", "k" * 130: 1})}}))
    assert "sunrise \U0001F305" in text and "\\U0001F305" not in text


# -- cost: a new optional field -----------------------------------------------------


def test_cost_is_recorded_read_back_and_absent_when_unknown(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = LockFile("x", {"": {"priced": step(cost=0.25), "free": step("e" * 64, kind="frame", model=None)}})
    write_lock(path, lock)
    text = path.read_text()
    assert text.count("cost:") == 1 and "cost: 0.25" in text
    assert read_lock(path) == lock
    assert read_lock(path).step("", "priced").cost == 0.25


def test_a_bad_cost_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    write_lock(path, LockFile("x", {"": {"s": step(cost=1.5)}}))
    text = path.read_text().replace("cost: 1.5", "cost: -1")
    path.write_text(text)
    with pytest.raises(PipelineError) as err:
        read_lock(path)
    (problem,) = err.value.problems
    assert problem.path == "variants.default.s.cost"
    assert problem.location.line == next(i for i, t in enumerate(text.splitlines(), 1) if "cost: -1" in t)


def test_a_step_shared_by_variants_is_written_out_in_each_never_as_an_alias(tmp_path: Path) -> None:
    shared = LockStep(key="a" * 64, kind="video", outputs=(), request={"images": ["http://x/a.png"], "m": {"x": 1}})
    lock = LockFile("p", {"style=a": {"key": shared}, "style=b": {"key": shared}})
    text = dumps_lock(lock)
    assert "&id" not in text and "*id" not in text and text.count("http://x/a.png") == 2
    write_lock(tmp_path / "p.lock", lock)
    assert read_lock(tmp_path / "p.lock") == lock


def test_a_run_writes_the_lock_per_batch_of_steps_and_at_the_end(tmp_path: Path) -> None:
    from omniflow.run.outputs import LockWriter

    now = [0.0]
    path = tmp_path / "p.lock"
    writer = LockWriter(path, "p", interval=2.0, clock=lambda: now[0])
    writes = 0
    for i in range(10):  # ten steps finish within the same two seconds: one batch
        writer.set("", f"s{i}", step(f"{i:064x}"))
        if writer.due():
            writer.write(writer.snapshot())
            writes += 1
    assert writes == 0 and not path.exists()
    now[0] = 2.5
    writer.set("", "s10", step(f"{10:064x}"))
    assert writer.due()
    writer.write(writer.snapshot())
    assert len(read_lock(path).variants["default"]) == 11
    writer.set("", "s11", step(f"{11:064x}"))
    assert not writer.due()  # within the interval: waits for the next batch
    writer.flush()  # the end of the run: always written
    assert len(read_lock(path).variants["default"]) == 12
