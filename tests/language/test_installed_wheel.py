"""A plain (non-editable) `pip install .` validates the examples: the schemas ship in the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, REPO


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_installed_copy_validates_the_examples(tmp_path: Path):
    import importlib.util

    import setuptools

    if importlib.util.find_spec("wheel") is None and tuple(int(x) for x in setuptools.__version__.split(".")[:2]) < (70, 1):
        pytest.skip("building a wheel offline needs the `wheel` package (or setuptools >= 70.1)")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    # build from a copy so no egg-info or build/ folder lands in the checkout
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".omniflow", "outputs", "*.egg-info", "build", "__pycache__", ".pytest_cache", ".hypothesis"))
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(src)], check=True, cwd=tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    for p in EXAMPLES:
        shutil.copy(p, work / p.name)
    shutil.copytree(REPO / "pipelines" / "assets", work / "assets")
    where = subprocess.run([str(py), "-c", "import omniflow, omniflow.schemas; print(omniflow.__file__); print(omniflow.schemas.__file__)"], cwd=work, capture_output=True, text=True, check=True)
    for line in where.stdout.splitlines():
        assert str(venv) in line and str(REPO) not in line, line  # the installed copy, not the checkout
    out = subprocess.run([str(py), "-m", "omniflow", "validate", "--strict", *sorted(p.name for p in EXAMPLES)], cwd=work, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("ok: ") == len(EXAMPLES)
    schema = subprocess.run([str(py), "-m", "omniflow", "schema"], cwd=work, capture_output=True, text=True, check=True)
    assert '"$id": "https://omniflow.dev/schemas/pipeline.schema.json"' in schema.stdout
