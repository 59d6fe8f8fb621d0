"""The editor schema: what ``omniflow schema`` prints, checked with third-party tools through the real CLI.

check-jsonschema (a test dependency) stands in for an editor: it speaks draft-07 as
yaml-language-server does. It is fed the schema on stdin (``omniflow schema |
check-jsonschema --schemafile - FILE...``): check-jsonschema 0.39 opens a schema path
twice, so a pipe such as ``<(omniflow schema)`` fails there. The real
yaml-language-server is tried too when it is installed (``npm install -g
yaml-language-server``); otherwise that test is skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .typos import TYPOS

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "pipelines").glob("*.yaml"))
OMNIFLOW = [sys.executable, "-m", "omniflow"]
needs_check_jsonschema = pytest.mark.skipif(shutil.which("check-jsonschema") is None, reason="check-jsonschema is not installed (pip install '.[test]')")


def _schema_text() -> str:
    return subprocess.run([*OMNIFLOW, "schema"], capture_output=True, text=True, check=True, cwd=REPO).stdout


def test_the_shipped_schema_file_is_exactly_what_omniflow_schema_prints():
    shipped = (REPO / "schemas" / "pipeline.schema.json").read_text(encoding="utf-8")
    assert _schema_text() == shipped, "regenerate it: omniflow schema > schemas/pipeline.schema.json"


def test_the_schema_is_draft_07_and_has_every_family_under_if_then():
    from omniflow.core.catalog import families, family_schema

    schema = json.loads(_schema_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "$defs" not in json.dumps(schema)  # draft-07 says definitions
    branches = schema["definitions"]["remoteStep"]["allOf"]
    assert [b["then"]["$ref"] for b in branches] == [f"#/definitions/family-{f}" for f in families()]
    for branch, fam in zip(branches, families(), strict=True):
        assert branch["if"]["properties"]["model"]["enum"] == family_schema(fam)["x-models"]

    def refs_alone(node):  # draft-07 ignores every sibling of a $ref
        if isinstance(node, dict):
            assert "$ref" not in node or len(node) == 1, node
            for v in node.values():
                refs_alone(v)
        elif isinstance(node, list):
            for v in node:
                refs_alone(v)

    refs_alone(schema)


@needs_check_jsonschema
def test_check_jsonschema_accepts_the_schema_itself():
    out = subprocess.run(["check-jsonschema", "--check-metaschema", str(REPO / "schemas" / "pipeline.schema.json")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@needs_check_jsonschema
def test_check_jsonschema_accepts_every_example_pipeline():
    cmd = '"$0" -m omniflow schema | check-jsonschema --schemafile - "$@"'
    out = subprocess.run(["bash", "-c", cmd, sys.executable, *map(str, EXAMPLES)], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok -- validation done" in out.stdout


@needs_check_jsonschema
def test_check_jsonschema_rejects_each_typo_and_names_its_place(tmp_path: Path):
    schema = tmp_path / "pipeline.schema.json"
    schema.write_text(_schema_text(), encoding="utf-8")
    for cid, text, _ in TYPOS:
        (tmp_path / f"{cid}.yaml").write_text(text, encoding="utf-8")
    files = [str(tmp_path / f"{cid}.yaml") for cid, _, _ in TYPOS]
    out = subprocess.run(["check-jsonschema", "--schemafile", str(schema), "--output-format", "json", *files], capture_output=True, text=True)
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout)
    flagged: dict[str, set[str]] = {}
    for err in report["errors"]:
        flagged.setdefault(Path(err["filename"]).stem, set()).add(err["path"])
    for cid, _, where in TYPOS:
        assert where in flagged.get(cid, set()), f"{cid}: check-jsonschema flagged {flagged.get(cid)}"


def test_every_typo_the_editor_flags_is_also_a_validate_error(tmp_path: Path):
    for cid, text, _ in TYPOS:
        (tmp_path / f"{cid}.yaml").write_text(text, encoding="utf-8")
    files = [f"{cid}.yaml" for cid, _, _ in TYPOS]
    out = subprocess.run([*OMNIFLOW, "validate", "--json", *files], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    results = {Path(r["file"]).stem: r for r in json.loads(out.stdout)["files"]}
    not_errors = [cid for cid, r in results.items() if r["ok"] or not any(p["severity"] == "error" for p in r["problems"])]
    assert not_errors == []


def _yaml_language_server() -> list[str] | None:
    exe = shutil.which("yaml-language-server")
    return [exe, "--stdio"] if exe else None


@pytest.mark.skipif(_yaml_language_server() is None, reason="yaml-language-server is not installed (npm install -g yaml-language-server)")
def test_yaml_language_server_flags_a_typo_and_accepts_an_example(tmp_path: Path):
    from .lsp import diagnostics

    # the layout of this repository: the example's modeline ../schemas/pipeline.schema.json finds it
    (tmp_path / "schemas").mkdir()
    (tmp_path / "pipelines").mkdir()
    schema = tmp_path / "schemas" / "pipeline.schema.json"
    schema.write_text(_schema_text(), encoding="utf-8")
    typo = dict((cid, text) for cid, text, _ in TYPOS)["seconds_7_on_veo"]
    # no modeline: the schema comes from the editor's yaml.schemas setting
    bad = diagnostics(_yaml_language_server(), schema, tmp_path / "pipelines" / "bad.yaml", typo, expect_some=True)
    assert any(d["range"]["start"]["line"] == 6 for d in bad), bad  # seconds: "7" is on line 7
    teaser = (REPO / "pipelines" / "teaser.yaml").read_text()
    good = diagnostics(_yaml_language_server(), schema, tmp_path / "pipelines" / "good.yaml", teaser)
    assert good == [], good
    # the modeline alone is enough: a typo in the example is flagged with no editor setting
    broken = teaser.replace("    model: Nano-Banana2\n", "    model: Nano-Banana2\n    promt: x\n")
    flagged = diagnostics(_yaml_language_server(), tmp_path / "unused.json", tmp_path / "pipelines" / "broken.yaml", broken, expect_some=True)
    assert any("promt" in d["message"] for d in flagged), flagged
