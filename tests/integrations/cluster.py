"""The cluster files of docs/scaling.md, read the way their platform reads them.

Shared by tests/integrations (the files are valid, every shard once) and
tests/remote (the pods' commands, run against one emulator and one remote).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from omniflow.cli.run import run as run_command
from omniflow.remote import parse_shard

DOCS = Path(__file__).resolve().parents[2] / "docs"
MANIFEST = DOCS / "k8s-indexed-job.yaml"
WORKFLOW = DOCS / "github-actions-shards.yml"


def parse_run(argv: list[str]) -> dict[str, Any]:
    """``omniflow run ...`` argv -> the parameters click would call ``run`` with (nothing runs)."""
    assert argv[:2] == ["omniflow", "run"], argv
    ctx = run_command.make_context("run", argv[2:])
    return dict(ctx.params)


def shard_numbers(commands: list[list[str]]) -> tuple[int, list[int]]:
    """The N all commands agree on and the i of each, after parsing them as `run` does."""
    parsed = [parse_run(argv) for argv in commands]
    assert len({p["file"] for p in parsed}) == 1  # every shard of the same sweep
    shards = [parse_shard(p["shard"]) for p in parsed]
    (n,) = {n for _, n in shards}
    return n, sorted(i for i, _ in shards)


def pod_argv(container: dict[str, Any], index: int) -> list[str]:
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


def pod_commands() -> list[list[str]]:
    """The argv of every pod of the Indexed Job, in completion-index order."""
    spec = yaml.safe_load(MANIFEST.read_text())["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    return [pod_argv(container, index) for index in range(spec["completions"])]
