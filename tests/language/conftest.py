"""Helpers for the language tests: write a pipeline, run the CLI on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from omniflow.cli import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "pipelines").glob("*.yaml"))


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``run_cli(args)`` → click Result, with the working directory set to tmp_path."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args))

    return run


@pytest.fixture
def write(tmp_path: Path):
    """``write(text, name="p.yaml")`` → the file's name relative to tmp_path."""

    def _write(text: str, name: str = "p.yaml") -> str:
        (tmp_path / name).write_text(text, encoding="utf-8")
        return name

    return _write
