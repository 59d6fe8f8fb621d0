"""``omniflow init`` and the integration files (pre-commit hook, CI example)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.remote.conftest import omniflow

REPO = Path(__file__).resolve().parents[2]


def test_init_scaffolds_a_project_whose_example_validates_and_plans(tmp_path: Path) -> None:
    result = omniflow(tmp_path, "init", "proj")
    assert result.exit_code == 0, result.output
    proj = tmp_path / "proj"
    assert (proj / ".omniflow").is_dir()
    example = (proj / "pipelines" / "example.yaml").read_text()
    assert example.splitlines()[0] == (
        "# yaml-language-server: $schema=https://omniflow.dev/schemas/pipeline.schema.json")
    schema = json.loads(omniflow(proj, "schema").stdout)
    assert schema["$id"] == "https://omniflow.dev/schemas/pipeline.schema.json"
    assert (proj / ".gitignore").read_text().split("\n")[1:3] == [".omniflow/", "outputs/"]
    config = (proj / "omniflow.toml").read_text()
    assert "# [remote]" in config and "# [publish]" in config
    import tomllib

    assert tomllib.loads(config) == {}  # every example is commented out
    validated = omniflow(proj, "validate", "pipelines/example.yaml")
    assert validated.exit_code == 0, validated.output
    planned = omniflow(proj, "plan", "--json", "pipelines/example.yaml")
    assert planned.exit_code == 0
    assert json.loads(planned.stdout)["totals"]["to_run"] == 5


def test_init_with_a_local_schema_points_the_modeline_at_the_copy(tmp_path: Path) -> None:
    assert omniflow(tmp_path, "init", "--local-schema").exit_code == 0
    first = (tmp_path / "pipelines" / "example.yaml").read_text().splitlines()[0]
    ref = first.split("$schema=", 1)[1]
    assert (tmp_path / "pipelines" / ref).resolve() == (tmp_path / "schemas" / "pipeline.schema.json").resolve()
    assert json.loads((tmp_path / "schemas" / "pipeline.schema.json").read_text())["title"].startswith("omniflow")


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "omniflow.toml").write_text("# mine\n")
    result = omniflow(tmp_path, "init")
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.stderr and "omniflow.toml" in result.stderr
    assert (tmp_path / "omniflow.toml").read_text() == "# mine\n"
    assert not (tmp_path / "pipelines").exists()


def test_init_appends_to_an_existing_gitignore(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("__pycache__/\noutputs/")
    assert omniflow(tmp_path, "init").exit_code == 0
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["__pycache__/", "outputs/"]
    assert lines.count(".omniflow/") == 1 and lines.count("outputs/") == 1


def test_pre_commit_hook_runs_validate_on_pipeline_files() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "omniflow-validate")
    assert hook["entry"] == "omniflow validate"
    files = re.compile(hook["files"])
    assert files.search("pipelines/teaser.yaml") and files.search("pipelines/a.yml")
    assert not files.search("docs/x.yaml") and not files.search("pipelines/teaser.lock")


def test_ci_example_validates_and_gates_on_plan_check() -> None:
    workflow = yaml.safe_load((REPO / "docs" / "github-actions-example.yml").read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    runs = [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]
    assert any("omniflow validate" in r for r in runs)
    assert any("omniflow plan --check" in r for r in runs)
