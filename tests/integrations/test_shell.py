"""Shell completion (click's own) and ``omniflow --version``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.cli import COMMANDS, cli
from omniflow.core.catalog import CATALOGUE_DATE
from omniflow.core.keys import LANGUAGE_VERSION


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    # the omniflow script of this interpreter first: the completion script calls it by name
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _omniflow(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "omniflow"], env=_env(**env), capture_output=True,
                          text=True, timeout=60)


def test_bash_source_defines_the_completion_function_and_registers_it() -> None:
    out = _omniflow(_OMNIFLOW_COMPLETE="bash_source")
    assert out.returncode == 0, out.stderr
    assert re.search(r"^_omniflow_completion\(\) \{", out.stdout, re.M)
    assert "complete -o nosort -F _omniflow_completion omniflow" in out.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_sourced_bash_script_completes_command_names() -> None:
    """Source the script in a real bash and complete `omniflow pl` and `omniflow r`."""
    script = _omniflow(_OMNIFLOW_COMPLETE="bash_source").stdout
    probe = script + '\nfor w in pl r; do COMP_WORDS=(omniflow "$w"); COMP_CWORD=1; COMPREPLY=();' \
        ' _omniflow_completion omniflow; echo "$w: ${COMPREPLY[*]}"; done\n'
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe], env=_env(), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    offered = sorted(name for name in COMMANDS if name.startswith("r"))  # every command, lazily loaded
    assert len(offered) > 1
    assert out.stdout.splitlines() == ["pl: plan", "r: " + " ".join(offered)]


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "#compdef omniflow"),
                                                ("fish", "function _omniflow_completion")])
def test_zsh_and_fish_sources_are_produced(shell: str, marker: str) -> None:
    out = _omniflow(_OMNIFLOW_COMPLETE=f"{shell}_source")
    assert out.returncode == 0 and marker in out.stdout, out.stderr


def test_version_names_the_package_the_language_and_the_catalogue_date() -> None:
    result = CliRunner().invoke(cli, ["--version"], prog_name="omniflow")
    assert result.exit_code == 0
    assert result.output == (f"omniflow {version('omniflow')} (pipeline language {LANGUAGE_VERSION}, "
                             f"model catalogue {CATALOGUE_DATE})\n")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", CATALOGUE_DATE)


def test_the_catalogue_date_is_the_documented_one() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "shell.md"
    assert f"model catalogue {CATALOGUE_DATE})" in docs.read_text()
