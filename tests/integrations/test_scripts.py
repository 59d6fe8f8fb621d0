"""ShellCheck finds nothing in the shell the integration files run (actionlint's script check)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from omniflow.cli.init import WORKFLOW_PATH, integration_files
from tests.integrations.cluster import MANIFEST
from tests.integrations.scripts import shellcheck, workflow_scripts

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = {
    "init": lambda: integration_files()[WORKFLOW_PATH],
    "docs/github-actions-example.yml": lambda: (REPO / "docs/github-actions-example.yml").read_text(),
    "docs/github-actions-shards.yml": lambda: (REPO / "docs/github-actions-shards.yml").read_text(),
}


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_run_block_of_the_workflows_is_clean_bash(name: str) -> None:
    scripts = workflow_scripts(yaml.safe_load(WORKFLOWS[name]()))
    assert scripts
    findings = {where: shellcheck(script, "bash") for where, script in scripts}  # Actions: bash -e
    assert not any(findings.values()), findings


def test_the_pod_command_and_the_plan_check_hook_are_clean_sh() -> None:
    (container,) = yaml.safe_load(MANIFEST.read_text())["spec"]["template"]["spec"]["containers"]
    assert shellcheck(container["args"][0], "sh") == ""
    hook = next(h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
                if h["id"] == "omniflow-plan-check")
    sh, dash_c, script, *_ = shlex.split(hook["entry"])
    assert (sh, dash_c) == ("sh", "-c")
    assert shellcheck(script, "sh") == ""


def test_shellcheck_has_teeth() -> None:
    assert "SC2086" in shellcheck("omniflow run $PIPELINE\n", "bash")
