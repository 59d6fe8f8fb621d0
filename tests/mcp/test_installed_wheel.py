"""An installed wheel (not the checkout) serves the language reference: docs/language.md ships as package data."""

from __future__ import annotations

import importlib.util
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _pip(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args, "-q", "--no-index", "--no-deps"], check=True, cwd=cwd)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_installed_wheel_reads_the_language_reference_from_its_package_data(tmp_path: Path) -> None:
    if importlib.util.find_spec("wheel") is None:
        pytest.skip("building a wheel offline needs the `wheel` package")
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".omniflow", "outputs", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis",
    ))
    dist = tmp_path / "dist"
    _pip("wheel", "--no-build-isolation", "-w", str(dist), str(src), cwd=tmp_path)
    (wheel,) = dist.glob("omniflow-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    _pip("install", "--target", purelib, str(wheel), cwd=tmp_path)
    # the dependencies from the interpreter running pytest, after the installed copy
    dirs = [d for d in dict.fromkeys([*site.getsitepackages(), site.getusersitepackages()]) if Path(d).is_dir()]
    (Path(purelib) / "_pytest_packages.pth").write_text("".join(f"{d}\n" for d in dirs), encoding="utf-8")
    shutil.rmtree(src)  # no checkout to fall back on
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = ("import omniflow.mcp.reference as r, omniflow; print(omniflow.__file__); "
            "import sys; sys.stdout.write(r.language_reference())")
    out = subprocess.run([str(py), "-c", code], cwd=work, capture_output=True, text=True, check=True).stdout
    where, _, text = out.partition("\n")
    assert str(venv) in where and str(REPO) not in where
    assert text == (REPO / "docs" / "language.md").read_text(encoding="utf-8")
