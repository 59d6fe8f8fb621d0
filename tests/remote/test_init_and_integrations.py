"""``omniflow init`` and the integration files (pre-commit hook, CI example)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from tests.remote.conftest import CHAIN, SWEEP, Emulator, Project, omniflow

REPO = Path(__file__).resolve().parents[2]


def test_init_scaffolds_a_project_whose_example_validates_and_plans(tmp_path: Path) -> None:
    result = omniflow(tmp_path, "init", "proj")
    assert result.exit_code == 0, result.output
    proj = tmp_path / "proj"
    assert (proj / ".omniflow").is_dir()
    example = (proj / "pipelines" / "example.yaml").read_text()
    assert example.splitlines()[0] == "# yaml-language-server: $schema=../pipeline.schema.json"
    schema = json.loads(omniflow(proj, "schema").stdout)
    assert schema["$id"] == "https://omniflow.dev/schemas/pipeline.schema.json"  # an identifier, not fetched
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


def test_init_writes_the_schema_and_a_relative_modeline_that_check_jsonschema_accepts(tmp_path: Path) -> None:
    """Nobody serves the schema's $id: the editor reads the project's own copy, `omniflow schema`'s output."""
    result = omniflow(tmp_path, "init")
    assert result.exit_code == 0, result.output
    assert f"created {Path('.') / 'pipeline.schema.json'}" in result.stdout
    first = (tmp_path / "pipelines" / "example.yaml").read_text().splitlines()[0]
    ref = first.split("$schema=", 1)[1]
    assert not ref.startswith(("http://", "https://"))
    assert (tmp_path / "pipelines" / ref).resolve() == (tmp_path / "pipeline.schema.json").resolve()
    assert (tmp_path / "pipeline.schema.json").read_text() == omniflow(tmp_path, "schema").stdout
    checked = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", "pipeline.schema.json",
         "pipelines/example.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "old").mkdir()
    again = omniflow(tmp_path / "old", "init", "--local-schema")
    assert again.exit_code == 0  # the old flag is accepted and changes nothing
    assert (tmp_path / "old" / "pipeline.schema.json").is_file()


def test_init_keeps_every_file_that_exists_and_names_it(tmp_path: Path) -> None:
    (tmp_path / "omniflow.toml").write_text("# mine\n")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "omniflow.yml").write_text("name: mine\n")
    result = omniflow(tmp_path, "init")
    assert result.exit_code == 0, result.output
    kept = sorted(line for line in result.stdout.splitlines() if line.startswith("kept "))
    assert kept == [f"kept {Path('.github/workflows/omniflow.yml')} (it exists; not overwritten)",
                    "kept omniflow.toml (it exists; not overwritten)"]
    assert (tmp_path / "omniflow.toml").read_text() == "# mine\n"
    assert (tmp_path / ".github" / "workflows" / "omniflow.yml").read_text() == "name: mine\n"
    assert (tmp_path / "pipelines" / "example.yaml").is_file()
    assert (tmp_path / ".pre-commit-config.yaml").is_file()
    again = omniflow(tmp_path, "init")  # a second init adds nothing and changes nothing
    assert again.exit_code == 0 and "created" not in again.stdout
    assert again.stdout.count("kept ") == 5  # example, config, schema, pre-commit, workflow


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


def test_pre_commit_hooks_manifest_is_valid_and_offers_validate_and_plan_check() -> None:
    from pre_commit.clientlib import load_manifest

    hooks = {h["id"]: h for h in load_manifest(str(REPO / ".pre-commit-hooks.yaml"))}
    assert set(hooks) == {"omniflow-validate", "omniflow-plan-check"}
    assert hooks["omniflow-plan-check"]["files"] == hooks["omniflow-validate"]["files"]
    assert "omniflow plan --check" in hooks["omniflow-plan-check"]["entry"]


def _generated_hooks(project: Path) -> list[dict[str, object]]:
    (repo,) = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())["repos"]
    assert set(repo) == {"repo", "hooks"} and repo["repo"] == "local"  # no address, no rev
    return repo["hooks"]


def test_init_pre_commit_config_is_valid_and_its_local_hooks_are_the_published_ones(
        tmp_path: Path) -> None:
    """`repo: local` hooks run the installed omniflow; every other field is the hooks file's."""
    from pre_commit.clientlib import load_config, load_manifest

    assert omniflow(tmp_path, "init").exit_code == 0
    config = load_config(str(tmp_path / ".pre-commit-config.yaml"))  # pre-commit's own schema
    assert config["default_install_hook_types"] == ["pre-commit", "pre-push"]
    published = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    generated = _generated_hooks(tmp_path)
    assert [h["id"] for h in generated] == [h["id"] for h in published]
    for mine, theirs in zip(generated, published, strict=True):
        assert (mine["language"], theirs["language"]) == ("system", "python")
        # field by field, as written: the same keys, the same values, language aside
        assert {k: v for k, v in mine.items() if k != "language"} == \
            {k: v for k, v in theirs.items() if k != "language"}, mine["id"]
    # and as pre-commit reads them, defaults filled in (it may rename `system`)
    (loaded_repo,) = config["repos"]
    manifest = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    for mine, theirs in zip(loaded_repo["hooks"], manifest, strict=True):
        assert mine["language"] in ("system", "unsupported") and theirs["language"] == "python"
        assert {k: v for k, v in mine.items() if k != "language"} == \
            {k: v for k, v in theirs.items() if k != "language"}, mine["id"]
    assert generated[1]["stages"] == ["pre-push"] and "stages" not in generated[0]


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_pre_commit_runs_the_generated_local_hooks_with_the_installed_omniflow(tmp_path: Path) -> None:
    """The real pre-commit, offline: `system` hooks install nothing, they call `omniflow`."""
    assert omniflow(tmp_path, "init").exit_code == 0
    env = {k: v for k, v in os.environ.items() if k not in ("OMNIROUTERS_API_KEY", "OMNIFLOW_BACKEND")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PRE_COMMIT_HOME"] = str(tmp_path / ".pre-commit-home")
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)

    def pre_commit(*argv: str) -> subprocess.CompletedProcess[str]:
        return run(sys.executable, "-m", "pre_commit", "run", "--all-files", *argv)

    assert run("git", "init", "-q", ".").returncode == 0
    assert run("git", "add", ".").returncode == 0
    commit = pre_commit()  # the commit stage: validate only
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert "omniflow validate" in commit.stdout and "plan --check" not in commit.stdout
    push = pre_commit("--hook-stage", "pre-push")  # the example has 5 steps left to generate
    assert push.returncode == 1 and "5 to run, 0 cached" in push.stdout, push.stdout
    (tmp_path / "pipelines" / "bad.yaml").write_text("omniflow: 1\nname: bad\nsteps: {}\nwhat: 1\n")
    assert run("git", "add", ".").returncode == 0
    broken = pre_commit()
    assert broken.returncode == 1 and "pipelines/bad.yaml" in broken.stdout, broken.stdout


def _plan_check_hook(project: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """The plan-check hook as pre-commit runs it: its entry split like a shell, then the files."""
    hook = next(h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
                if h["id"] == "omniflow-plan-check")
    env = {k: v for k, v in os.environ.items() if k not in ("OMNIROUTERS_API_KEY", "OMNIFLOW_BACKEND")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run([*shlex.split(hook["entry"]), *files], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)


def test_plan_check_hook_fails_on_what_would_run_and_passes_once_generated(tmp_path: Path) -> None:
    assert omniflow(tmp_path, "init").exit_code == 0
    project = Project(tmp_path)
    project.write("other.yaml", CHAIN.replace("name: chain", "name: other"))
    both = ("pipelines/example.yaml", "pipelines/other.yaml")
    first = _plan_check_hook(tmp_path, *both)
    assert first.returncode == 1, first.stderr
    assert "example (pipelines/example.yaml)" in first.stdout and "other (pipelines/other.yaml)" in first.stdout
    emulator = Emulator()
    project.run("example.yaml", emulator)
    # one generated, one not: the hook still fails, and says which
    second = _plan_check_hook(tmp_path, *both)
    assert second.returncode == 1
    assert "5 to run, 0 cached" in second.stdout and "0 to run, 5 cached" in second.stdout
    assert _plan_check_hook(tmp_path, "pipelines/example.yaml").returncode == 0
    (tmp_path / "pipelines" / "bad.yaml").write_text("omniflow: 1\nname: bad\nsteps: {}\nwhat: 1\n")
    assert _plan_check_hook(tmp_path, "pipelines/example.yaml", "pipelines/bad.yaml").returncode == 1


def _check_workflow(path: Path) -> None:
    """GitHub's workflow schema, vendored in check-jsonschema (no network)."""
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                             "vendor.github-workflows", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_init_workflow_is_a_valid_github_workflow_that_plans_prs_and_runs_on_demand(tmp_path: Path) -> None:
    assert omniflow(tmp_path, "init").exit_code == 0
    path = tmp_path / ".github" / "workflows" / "omniflow.yml"
    _check_workflow(path)
    text = path.read_text()
    workflow = yaml.safe_load(text)
    on = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert set(on) == {"pull_request", "workflow_dispatch"}
    check, run = workflow["jobs"]["check"], workflow["jobs"]["run"]
    assert check["if"] == "github.event_name == 'pull_request'"
    assert run["if"] == "github.event_name == 'workflow_dispatch'"
    check_runs = "\n".join(s.get("run", "") for s in check["steps"])
    assert "omniflow validate pipelines/*.yaml" in check_runs and 'omniflow plan "$f"' in check_runs
    assert "OMNIROUTERS_API_KEY" not in yaml.safe_dump(check)  # planning needs no key
    # the key: from the secret, into the one step that runs, never on a command line
    (runs_key,) = [s for s in run["steps"] if "OMNIROUTERS_API_KEY" in s.get("env", {})]
    assert runs_key["env"]["OMNIROUTERS_API_KEY"] == "${{ secrets.OMNIROUTERS_API_KEY }}"
    assert runs_key["run"].startswith("omniflow run ")
    assert text.count("OMNIROUTERS_API_KEY") == 3  # the comment, the secret's name, the variable
    for step in run["steps"]:
        assert "OMNIROUTERS_API_KEY" not in step.get("run", "") and "set -x" not in step.get("run", "")
        assert "${{" not in step.get("run", "")  # inputs reach the shell as variables only
    assert workflow["permissions"] == {"contents": "read"}
    # omniflow comes from the one variable at the top, pinned to the version that wrote it
    from omniflow.cli.init import package

    assert workflow["env"] == {"OMNIFLOW_PACKAGE": package()}
    assert package() == f"omniflow[s3]=={version('omniflow')}"
    for job in workflow["jobs"].values():
        installs = [s["run"] for s in job["steps"] if "pip install" in s.get("run", "")]
        assert installs == ['pip install "$OMNIFLOW_PACKAGE"']


def _package_block(text: str) -> str:
    """The comment and the value of OMNIFLOW_PACKAGE, as written in a workflow."""
    lines = text.splitlines()
    end = next(n for n, line in enumerate(lines) if line.startswith("  OMNIFLOW_PACKAGE:"))
    start = end
    while lines[start - 1].startswith("  #"):
        start -= 1
    return "\n".join(lines[start:end + 1])


@pytest.mark.parametrize("name", ["github-actions-example.yml", "github-actions-shards.yml"])
def test_docs_workflows_install_from_the_same_one_variable_as_init(name: str) -> None:
    """Same comment, same value as the generated workflow; every job installs only that."""
    from omniflow.cli.init import WORKFLOW_PATH, integration_files, package

    text = (REPO / "docs" / name).read_text()
    assert _package_block(text) == _package_block(integration_files()[WORKFLOW_PATH])
    workflow = yaml.safe_load(text)
    assert workflow["env"]["OMNIFLOW_PACKAGE"] == package()
    for job in workflow["jobs"].values():
        installs = [s["run"] for s in job["steps"] if "pip install" in s.get("run", "")]
        assert installs == ['pip install "$OMNIFLOW_PACKAGE"']


def test_ci_example_is_a_valid_github_workflow() -> None:
    _check_workflow(REPO / "docs" / "github-actions-example.yml")


def test_the_k8s_pods_commands_share_a_remote_and_create_each_distinct_step_once(
        tmp_path: Path, remote_config: str) -> None:
    """docs/k8s-indexed-job.yaml's pods, run as fresh clones of one project against one API
    and one remote (one after another), then the no-key run that assembles the sweep."""
    from omniflow.remote import parse_shard, select_shard
    from omniflow.remote.select import pipeline_keys
    from tests.integrations.cluster import parse_run, pod_commands

    emulator = Emulator()
    origin = Project(tmp_path / "origin", remote_config)
    origin.write("sweep.yaml", SWEEP)
    distinct = set(pipeline_keys(origin.load("sweep.yaml").variants))
    commands = pod_commands()
    assert len(commands) == 4
    for index, argv in enumerate(commands):
        params = parse_run(argv)
        assert params["file"] == "pipelines/sweep.yaml"
        pod = origin.copy_to(tmp_path / f"pod{index}")  # an image holds the project, not .omniflow/
        pipeline = pod.load(Path(params["file"]).name)
        i, n = parse_shard(params["shard"])
        result = pod.run("sweep.yaml", emulator, shard_targets=select_shard(pipeline, i, n),
                         jobs=params["jobs"], push=True)
        assert result.exit_code == 0, pod.log.getvalue()
    assert emulator.creates() == len(distinct)  # a shared keyframe is fetched, not made again
    assert set(emulator.stats()["create_bodies"].values()) == {1}
    assemble = origin.copy_to(tmp_path / "assemble")
    fresh = Emulator()
    done = assemble.run("sweep.yaml", fresh, push=True)
    assert done.exit_code == 0 and fresh.creates() == 0
    lock = yaml.safe_load((assemble.root / "pipelines" / "sweep.lock").read_text())
    assert len(lock["variants"]) == 12


def test_the_assemble_run_without_a_key_refuses_to_pay_for_a_missing_shard(
        tmp_path: Path, remote_config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/scaling.md: the last run holds no API key, so a shard that failed costs nothing more."""
    project = Project(tmp_path / "assemble", remote_config)
    project.write("sweep.yaml", SWEEP)  # nothing on the remote: every step is missing
    monkeypatch.setenv("OMNIFLOW_BACKEND", "omnirouters")
    monkeypatch.setenv("OMNIROUTERS_BASE_URL", "http://127.0.0.1:9")  # should it ever try: nowhere
    result = omniflow(project.root, "run", "pipelines/sweep.yaml")
    assert result.exit_code == 2
    assert "needs OMNIROUTERS_API_KEY" in result.stderr
    assert not (project.root / "pipelines" / "sweep.lock").exists()
