"""Rendering, matrix, placeholders, local files, --set, graphs, and the example storyboards."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from omniflow.core import keys
from omniflow.core.graph import build_graph, to_dot, to_mermaid
from omniflow.errors import PipelineError, UsageError
from omniflow.language import load, loads

from .conftest import EXAMPLES, REPO

LIGHTHOUSE = """\
omniflow: 1
name: lighthouse
vars:
  hero: an old lighthouse keeper
  model: Kling-3.0-omni-1080p
matrix:
  style: ["35mm film, golden hour", "hand-drawn anime"]
  seconds: [5, 10]
  exclude:
    - {style: "hand-drawn anime", seconds: 10}
defaults:
  video: {model: "{{ model }}", seconds: "{{ seconds }}", input_region: Oversea}
steps:
  keyframe:
    kind: image
    model: Nano-Banana2
    prompt: "{{ hero }} on a cliff at dusk, {{ style }}"
  shot1:
    prompt: "{{ hero }} turns toward the sea, {{ style }}"
    images: ["{{ steps.keyframe.url }}"]
  shot1_end:
    kind: frame
    from: shot1
  shot2:
    prompt: "The camera rises, {{ style }}"
    images: ["{{ steps.shot1_end.url }}"]
    take: 2
  cut:
    kind: concat
    inputs: [shot1, shot2]
"""


def test_matrix_variants_are_named_by_slugified_values_in_matrix_order():
    p = loads(LIGHTHOUSE)
    assert [v.name for v in p.variants] == [
        "style=35mm-film-golden-hour,seconds=5",
        "style=35mm-film-golden-hour,seconds=10",
        "style=hand-drawn-anime,seconds=5",
    ]
    assert p.variants[2].values == {"style": "hand-drawn anime", "seconds": 5}


def test_steps_equal_across_variants_share_one_key():
    p = loads(LIGHTHOUSE)
    a, b, _ = p.variants
    assert a.step("keyframe").key == b.step("keyframe").key  # seconds does not reach the keyframe
    assert a.step("shot1").key != b.step("shot1").key


def test_upstream_urls_render_to_placeholders_of_upstream_keys():
    v = loads(LIGHTHOUSE).variants[0]
    assert v.step("shot1").request["images"] == [keys.upstream_ref(v.step("keyframe").key)]
    assert v.step("shot1_end").request == {"from": keys.upstream_ref(v.step("shot1").key), "at": "last"}
    assert v.step("cut").request == {"inputs": [keys.upstream_ref(v.step("shot1").key), keys.upstream_ref(v.step("shot2").key)]}
    assert v.step("cut").inputs == ("shot1", "shot2")
    shot1 = v.step("shot1")
    assert shot1.key == keys.step_key(backend="emulator", kind="video", request=dict(shot1.request), take=1)


def test_single_expression_keeps_native_type_and_seconds_becomes_a_string():
    text = "omniflow: 1\nname: t\nvars:\n  n: 3\nsteps:\n  s:\n    model: Kling-3.0-720p\n    prompt: 'x {{ n }}'\n    seconds: '{{ n + 2 }}'\n    metadata: {count: '{{ n }}', flag: '{{ n > 2 }}'}\n"
    s = loads(text).variants[0].steps[0]
    assert s.request["seconds"] == "5" and s.seconds == 5.0
    assert s.request["metadata"] == {"count": 3, "flag": True}
    assert s.request["prompt"] == "x 3"


def test_set_overrides_a_var_and_pins_a_matrix_dimension():
    p = loads(LIGHTHOUSE, set={"hero": "a fox", "seconds": "10"})
    assert [v.name for v in p.variants] == ["style=35mm-film-golden-hour,seconds=10", "style=hand-drawn-anime,seconds=10"]
    assert p.variants[0].step("keyframe").request["prompt"].startswith("a fox")
    with pytest.raises(UsageError):
        loads(LIGHTHOUSE, set={"nope": "1"})


def test_local_files_become_content_placeholders(tmp_path: Path):
    (tmp_path / ".omniflow").mkdir()  # the project folder: local files must lie inside it
    first = b"\x89PNG\r\n\x1a\nfirst"  # PNG bytes: an image field takes only images
    (tmp_path / "a.png").write_bytes(first)
    text = "omniflow: 1\nname: t\nsteps:\n  s:\n    model: Veo-3.1-720p\n    prompt: x\n    seconds: 4\n    images: [a.png]\n"
    (tmp_path / "p.yaml").write_text(text)
    s = load(tmp_path / "p.yaml").variants[0].steps[0]
    digest = keys.sha256_hex(first)
    assert s.request["images"] == ["omniflow:file:" + digest]
    assert s.files == {digest: str((tmp_path / "a.png").resolve())}
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nsecond")
    assert load(tmp_path / "p.yaml").variants[0].steps[0].key != s.key


def test_pipeline_is_picklable_and_paths_follow_the_contract(tmp_path: Path):
    (tmp_path / "x.yaml").write_text(LIGHTHOUSE)
    (tmp_path / ".omniflow").mkdir()
    p = load(tmp_path / "x.yaml")
    assert pickle.loads(pickle.dumps(p)) == p
    assert p.lock_path == tmp_path / "x.lock"
    assert p.root == tmp_path.resolve()
    assert p.step_ids == ("keyframe", "shot1", "shot1_end", "shot2", "cut")


def test_strict_turns_warnings_into_a_pipeline_error():
    text = "omniflow: 1\nname: t\nsteps:\n  s:\n    model: Veo-3.1-720p\n    prompt: x\n    seconds: 4\n    aspect_ratio: '1:1'\n"
    assert [w.severity for w in loads(text).warnings] == ["warning"]
    with pytest.raises(PipelineError) as err:
        loads(text, strict=True)
    assert str(err.value.problems[0]) == '<pipeline>:8:19: steps.s.aspect_ratio: "1:1" is not allowed for Veo-3.1-720p (allowed: 16:9, 9:16) [DOCS-old]'


def test_graph_outputs_are_deterministic(run_cli, tmp_path: Path):
    (tmp_path / "x.yaml").write_text(LIGHTHOUSE)
    v = load(tmp_path / "x.yaml").variants[0]
    g = build_graph(v)
    assert sorted(g.edges) == sorted([("keyframe", "shot1"), ("shot1", "shot1_end"), ("shot1_end", "shot2"), ("shot1", "cut"), ("shot2", "cut")])
    assert to_mermaid(v).splitlines()[:2] == ["flowchart LR", '    keyframe["keyframe<br/>image: Nano-Banana2"]']
    assert "    shot1 -> shot1_end;" in to_dot(v).replace('"', "")
    first = run_cli("graph", "x.yaml", "--format", "dot")
    second = run_cli("graph", "x.yaml", "--format", "dot")
    assert first.exit_code == 0 and first.stdout == second.stdout == to_dot(v)
    other = run_cli("graph", "x.yaml", "--variant", "style=hand-drawn-anime,seconds=5")
    assert other.exit_code == 0 and other.stdout.startswith("flowchart LR")


def test_needs_is_a_dashed_ordering_edge():
    text = "omniflow: 1\nname: t\nsteps:\n  a:\n    model: Veo-3.1-720p\n    prompt: x\n    seconds: 4\n  b:\n    model: Veo-3.1-720p\n    prompt: y\n    seconds: 4\n    needs: a\n"
    v = loads(text).variants[0]
    assert v.step("b").needs == ("a",) and v.step("b").inputs == ()
    assert "    a -.-> b" in to_mermaid(v)
    assert '"a" -> "b" [style=dashed];' in to_dot(v)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_are_valid_without_warnings_and_match_the_schema(path: Path, run_cli, monkeypatch):
    # the examples' project is the repository (no .omniflow there: the working directory is the
    # project folder, and local assets must lie inside it)
    monkeypatch.chdir(REPO)
    result = run_cli("validate", "--strict", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../schemas/pipeline.schema.json\n")
    import jsonschema
    import yaml

    schema = json.loads((REPO / "schemas" / "pipeline.schema.json").read_text())
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load(text))


def test_examples_cover_what_the_issue_asks_for():
    by_name = {p.stem: load(p) for p in EXAMPLES}
    assert {"teaser", "kling_multishot", "sweep", "veo_reference", "local_assets"} <= set(by_name)
    teaser = by_name["teaser"].variants[0]
    assert [s.kind for s in teaser.steps].count("frame") >= 2 and teaser.steps[-1].kind == "concat"
    sweep = by_name["sweep"]
    assert len(sweep.variants) == 6 and len({v.steps[0].model for v in sweep.variants}) == 3
    assert any(s.files for s in by_name["local_assets"].variants[0].steps)


def test_schema_command_prints_the_pipeline_schema(run_cli):
    result = run_cli("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["$id"].endswith("pipeline.schema.json")


def test_models_command_reads_constraints_from_the_catalogue(run_cli):
    result = run_cli("models", "--json")
    doc = json.loads(result.stdout)
    veo = next(m for m in doc["models"] if m["id"] == "Veo-3.1-1080p")
    assert veo["seconds"] == ["4", "6", "8"] and veo["images_max"] == 2
    assert "kling" in doc["families"]
    text = run_cli("models").stdout
    assert any(line.split()[:4] == ["Sora-2.0-720p", "video", "sora", "4,8,12"] for line in text.splitlines())


def test_ten_thousand_steps_load_on_the_fast_path():
    """Speed is bench/plan_scale.py's job (no test here times anything): this checks the
    10,000-step file loads and that its templates never reach the Jinja compiler."""
    from omniflow.language.templates import Templates

    lines = ["omniflow: 1", "name: big", "vars:", "  style: film", "defaults:", "  video: {model: Kling-3.0-720p, seconds: 5}", "steps:"]
    for i in range(10_000):
        lines.append(f"  s{i}:\n    prompt: 'shot {i}, {{{{ style }}}}'")
        if i % 10:
            lines.append(f"    videos: ['{{{{ steps.s{i - 1}.url }}}}']")
    text = "\n".join(lines) + "\n"
    p = loads(text)
    assert len(p.variants[0].steps) == 10_000
    t = Templates()
    ctx = {"style": "film", "steps": {"s1": {"url": "omniflow:x"}}}
    assert t.render("shot 2, {{ style }}", ctx) == "shot 2, film"
    assert t.analyse("{{ steps.s1.url }}")[1][0].step == "s1"
    assert t._compiled == {}  # neither needed Jinja


def test_the_memo_fingerprint_covers_modules_that_exist():
    # a renamed module left out of the fingerprint would let an edited catalogue keep a stale memo
    import os

    import omniflow
    from omniflow.language import memo

    pkg = os.path.dirname(omniflow.__file__)
    assert all(os.path.exists(os.path.join(pkg, name)) for name in memo._CODE)
    assert "core" in memo._CODE and "language" in memo._CODE
