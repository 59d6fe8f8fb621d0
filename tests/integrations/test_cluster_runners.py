"""The cluster files of docs/scaling.md: valid for their platform, and every shard run once.

The Kubernetes manifest is checked against the Kubernetes JSON Schema that
``kubernetes-validate`` ships (strict: an unknown field is an error), the
Actions workflow against GitHub's workflow schema vendored in
``check-jsonschema``; both offline. The shard command of each pod or job is
expanded the way its platform would and parsed by ``omniflow run``'s own
option parser.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from omniflow.cli.run import run as run_command
from omniflow.remote import parse_shard

DOCS = Path(__file__).resolve().parents[2] / "docs"
MANIFEST = DOCS / "k8s-indexed-job.yaml"
WORKFLOW = DOCS / "github-actions-shards.yml"


def _parse_run(argv: list[str]) -> dict[str, Any]:
    """``omniflow run ...`` argv -> the parameters click would call ``run`` with (nothing runs)."""
    assert argv[:2] == ["omniflow", "run"], argv
    ctx = run_command.make_context("run", argv[2:])
    return dict(ctx.params)


def _shards(commands: list[list[str]]) -> tuple[int, list[int]]:
    """The N all commands agree on and the i of each, after parsing them as `run` does."""
    parsed = [_parse_run(argv) for argv in commands]
    assert len({p["file"] for p in parsed}) == 1  # every shard of the same sweep
    shards = [parse_shard(p["shard"]) for p in parsed]
    (n,) = {n for _, n in shards}
    return n, sorted(i for i, _ in shards)


def _pod_argv(container: dict[str, Any], index: int) -> list[str]:
    """What the pod with this completion index executes, expanded by a real shell.

    The container runs ``/bin/sh -c <args[0]>``; here ``omniflow`` is a shell
    function that prints its arguments, one a line, so the expansion (the
    arithmetic on JOB_COMPLETION_INDEX, the quoting) is the shell's own.
    """
    assert container["command"] == ["/bin/sh", "-c"]
    (script,) = container["args"]
    shim = 'omniflow() { printf "%s\\n" omniflow "$@"; }\n'
    env = {"PATH": os.environ.get("PATH", ""), "JOB_COMPLETION_INDEX": str(index)}
    out = subprocess.run(["/bin/sh", "-c", shim + script], env=env, capture_output=True, text=True,
                         check=True, timeout=30)
    return out.stdout.splitlines()


def test_k8s_manifest_is_a_valid_indexed_job() -> None:
    import kubernetes_validate

    manifest = yaml.safe_load(MANIFEST.read_text())
    # strict: an unknown or misspelt field fails; the schemas ship in the package (no network)
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    spec = manifest["spec"]
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "Job")
    assert spec["completionMode"] == "Indexed"
    assert 1 <= spec["parallelism"] <= spec["completions"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_k8s_manifest_breaks_the_schema_when_a_field_is_wrong() -> None:
    """The check has teeth: a misspelt field and a wrong type are caught."""
    import kubernetes_validate

    for spoil in ({"completionsMode": "Indexed"}, {"parallelism": "two"}):
        manifest = yaml.safe_load(MANIFEST.read_text())
        manifest["spec"].update(spoil)
        try:
            kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError:
            continue
        raise AssertionError(f"{spoil} passed the schema")


def test_k8s_pods_run_each_shard_once_with_a_command_omniflow_run_accepts() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    spec = manifest["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert "$((JOB_COMPLETION_INDEX+1))" in container["args"][0]
    commands = [_pod_argv(container, index) for index in range(spec["completions"])]
    n, shards = _shards(commands)
    assert n == spec["completions"]
    assert shards == list(range(1, n + 1))
    # the key from a secret, never a literal in the manifest
    key = next(e for e in container["env"] if e["name"] == "OMNIROUTERS_API_KEY")
    assert set(key) == {"name", "valueFrom"} and "secretKeyRef" in key["valueFrom"]


def test_actions_shards_workflow_is_valid_and_runs_each_shard_once() -> None:
    checked = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                              "vendor.github-workflows", str(WORKFLOW)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["shard"]
    strategy = job["strategy"]
    values = strategy["matrix"]["shard"]
    assert strategy["fail-fast"] is False and 1 <= strategy["max-parallel"] <= len(values)
    (step,) = [s for s in job["steps"] if "--shard" in s.get("run", "")]
    commands = []
    for value in values:
        # the expressions GitHub substitutes before the shell sees the line
        line = step["run"].replace("${{ matrix.shard }}", str(value))
        line = line.replace("${{ strategy.job-total }}", str(len(values)))
        assert "${{" not in line, line
        commands.append(shlex.split(line))
    n, shards = _shards(commands)
    assert n == len(values) and shards == list(range(1, n + 1))
    assert step["env"] == {"OMNIROUTERS_API_KEY": "${{ secrets.OMNIROUTERS_API_KEY }}"}
    assert "OMNIROUTERS_API_KEY" not in yaml.safe_dump(workflow["jobs"]["assemble"])


def test_both_tie_the_copies_at_once_to_the_same_provider_limit() -> None:
    """parallelism x -j == max-parallel x -j: the documented limit of 16 tasks in flight."""
    spec = yaml.safe_load(MANIFEST.read_text())["spec"]
    pod = _parse_run(_pod_argv(spec["template"]["spec"]["containers"][0], 0))
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["shard"]
    (line,) = [s["run"] for s in job["steps"] if "--shard" in s.get("run", "")]
    gha = _parse_run(shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "1", line)))
    assert spec["parallelism"] * pod["jobs"] == job["strategy"]["max-parallel"] * gha["jobs"] == 16


def test_scaling_doc_includes_both_files_verbatim() -> None:
    doc = (DOCS / "scaling.md").read_text()
    for path in (MANIFEST, WORKFLOW):
        assert f"```yaml\n{path.read_text()}```" in doc, path.name
