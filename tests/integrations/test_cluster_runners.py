"""The cluster files of docs/scaling.md: valid for their platform, and every shard run once.

The Kubernetes manifest is checked against the Kubernetes JSON Schema that
``kubernetes-validate`` ships (strict: an unknown field is an error), the
Actions workflow against GitHub's workflow schema vendored in
``check-jsonschema``; both offline. The shard command of each pod or job is
expanded the way its platform would and parsed by ``omniflow run``'s own
option parser.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import yaml

from tests.integrations.cluster import DOCS, MANIFEST, WORKFLOW, parse_run, pod_argv, shard_numbers


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
    commands = [pod_argv(container, index) for index in range(spec["completions"])]
    n, numbers = shard_numbers(commands)
    assert n == spec["completions"]
    assert numbers == list(range(1, n + 1))
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
    n, numbers = shard_numbers(commands)
    assert n == len(values) and numbers == list(range(1, n + 1))
    assert step["env"] == {"OMNIROUTERS_API_KEY": "${{ secrets.OMNIROUTERS_API_KEY }}"}
    assert "OMNIROUTERS_API_KEY" not in yaml.safe_dump(workflow["jobs"]["assemble"])


def test_both_tie_the_copies_at_once_to_the_same_provider_limit() -> None:
    """parallelism x -j == max-parallel x -j: the documented limit of 16 tasks in flight."""
    spec = yaml.safe_load(MANIFEST.read_text())["spec"]
    pod = parse_run(pod_argv(spec["template"]["spec"]["containers"][0], 0))
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["shard"]
    (line,) = [s["run"] for s in job["steps"] if "--shard" in s.get("run", "")]
    gha = parse_run(shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "1", line)))
    assert spec["parallelism"] * pod["jobs"] == job["strategy"]["max-parallel"] * gha["jobs"] == 16


def test_scaling_doc_includes_both_files_verbatim() -> None:
    doc = (DOCS / "scaling.md").read_text()
    for path in (MANIFEST, WORKFLOW):
        assert f"```yaml\n{path.read_text()}```" in doc, path.name


def test_run_help_documents_the_shard_option_the_files_use() -> None:
    from click.testing import CliRunner

    from omniflow.cli import cli

    shown = CliRunner().invoke(cli, ["run", "--help"], prog_name="omniflow")
    assert shown.exit_code == 0 and "--shard I/N" in shown.output
