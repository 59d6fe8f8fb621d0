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


# -- the fast (libyaml) emitter is used only where it writes the same text ----------

_BREAKS = set("\x85\u2028\u2029")
_bmp = st.characters(min_codepoint=0x09, max_codepoint=0xFFFF, blacklist_categories=("Cs",)).filter(
    lambda c: c not in _BREAKS)
_text = st.text(alphabet=_bmp, max_size=30)
_keys = st.from_regex(r"\A[A-Za-z0-9_.:=,@+-]{1,20}\Z") | st.from_regex(r"\A[A-Za-z0-9_.:=,@+-]{100,119}\Z")
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**12), 10**12),
                     st.floats(allow_nan=False, allow_infinity=False), _text)
_values = st.recursive(_scalars, lambda i: st.one_of(st.lists(i, max_size=4), st.dictionaries(_keys, i, max_size=4)),
                       max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=5))
def test_libyaml_writes_the_same_text_wherever_the_lock_uses_it(data: dict) -> None:
    import yaml

    from omniflow.store.lock import _dumper, _fast_dumper, _libyaml_safe

    fast = _fast_dumper()
    if fast is None:
        pytest.skip("PyYAML without libyaml")
    assert _libyaml_safe(data)
    kw = dict(sort_keys=True, allow_unicode=True, default_flow_style=False, width=1 << 20, indent=2)
    assert yaml.dump(data, Dumper=fast, **kw) == yaml.dump(data, Dumper=_dumper(), **kw)


def test_data_libyaml_would_write_differently_takes_the_python_emitter() -> None:
    from omniflow.store.lock import _libyaml_safe

    assert not _libyaml_safe({"prompt": "sunrise \U0001F305"})  # beyond U+FFFF
    assert not _libyaml_safe({"\r": None})  # a key that needs quoting
    assert not _libyaml_safe({"p": "line\u2028break"})
    assert not _libyaml_safe({"style=" + "a" * 120: None})  # a key the Python emitter writes as "? key"
    assert _libyaml_safe({"prompt": "一个女孩在海边回头微笑\n", "seconds": "5"})


# -- a lock is dumped step by step, and reads exactly like one whole dump ------------

long_variants = variant_names | st.from_regex(r"v[a-z=,]{120,140}", fullmatch=True)
odd_tables = st.dictionaries(long_variants, st.dictionaries(names, lock_steps, min_size=1, max_size=3), max_size=3)


@settings(max_examples=150, deadline=None)
@given(pipeline=names, table=odd_tables)
def test_the_step_by_step_text_is_the_text_of_one_whole_dump(pipeline, table) -> None:
    from omniflow.store.lock import _HEADER, _dump

    lock = LockFile(pipeline, table)
    memo: dict = {}
    assert dumps_lock(lock, memo) == _HEADER + _dump(lock.to_json())
    assert dumps_lock(lock, memo) == dumps_lock(lock)  # the memo gives back the same text


def test_a_memo_only_dumps_steps_that_changed() -> None:
    from dataclasses import replace

    one = LockStep(key="a" * 64, kind="video", outputs=(), request={"prompt": "one"})
    two = LockStep(key="b" * 64, kind="video", outputs=(), request={"prompt": "two"})
    memo: dict = {}
    dumps_lock(LockFile("p", {"": {"one": one, "two": two}}), memo)
    before = dict(memo)
    changed = replace(two, request={"prompt": "two, again"})
    text = dumps_lock(LockFile("p", {"": {"one": one, "two": changed}}), memo)
    assert memo[("default", "one")] is before[("default", "one")]
    assert memo[("default", "two")][0] is changed and "two, again" in text


def test_a_step_shared_by_variants_is_written_out_in_each_never_as_an_alias(tmp_path: Path) -> None:
    shared = LockStep(key="a" * 64, kind="video", outputs=(), request={"images": ["http://x/a.png"], "m": {"x": 1}})
    lock = LockFile("p", {"style=a": {"key": shared}, "style=b": {"key": shared}})
    text = dumps_lock(lock)
    assert "&id" not in text and "*id" not in text and text.count("http://x/a.png") == 2
    write_lock(tmp_path / "p.lock", lock)
    assert read_lock(tmp_path / "p.lock") == lock
