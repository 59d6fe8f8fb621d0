"""A plain (non-editable) install of the wheel validates the examples: the schemas ship in the wheel.

The wheel is built by the interpreter running pytest (its setuptools and
wheel, which the ``test`` extra installs), never by a fresh venv's bundled
setuptools: a venv made by ``python -m venv`` gets the setuptools of
``ensurepip`` (65.x for Python 3.11, no ``bdist_wheel`` without the ``wheel``
package), and ``--system-site-packages`` exposes the *base* interpreter's
packages, not those of a venv pytest may itself run from. So the wheel is
installed into an empty venv with ``pip --target``, and that venv sees the
packages pytest runs with (the dependencies) through a ``.pth`` file, listed
after its own site-packages so the installed copy wins over the checkout.
"""

from __future__ import annotations

import importlib.util
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, REPO


def _can_build_a_wheel() -> bool:
    import setuptools

    version = tuple(int(x) for x in setuptools.__version__.split(".")[:2] if x.isdigit())
    return importlib.util.find_spec("wheel") is not None or version >= (70, 1)  # 70.1 has bdist_wheel


def _site_dirs() -> list[str]:
    """Where the running interpreter finds its packages (a venv's, the base's, the user's)."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir()]


def _pip(*args: str, cwd: Path) -> None:
    """pip of the running interpreter, offline."""
    subprocess.run([sys.executable, "-m", "pip", *args, "-q", "--no-index", "--no-deps"], check=True, cwd=cwd)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_installed_copy_validates_the_examples(tmp_path: Path):
    if not _can_build_a_wheel():
        pytest.skip("building a wheel offline needs the `wheel` package or setuptools >= 70.1")
    # build from a copy so no egg-info or build/ folder lands in the checkout
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
    (Path(purelib) / "_pytest_packages.pth").write_text("".join(f"{d}\n" for d in _site_dirs()), encoding="utf-8")

    work = tmp_path / "elsewhere"
    work.mkdir()
    for p in EXAMPLES:
        shutil.copy(p, work / p.name)
    shutil.copytree(REPO / "pipelines" / "assets", work / "assets")
    where = subprocess.run([str(py), "-c", "import omniflow, omniflow.schemas; print(omniflow.__file__); print(omniflow.schemas.__file__)"],
                           cwd=work, capture_output=True, text=True, check=True)
    for line in where.stdout.splitlines():
        assert str(venv) in line and str(REPO) not in line, line  # the installed copy, not the checkout
    out = subprocess.run([str(py), "-m", "omniflow", "validate", "--strict", *sorted(p.name for p in EXAMPLES)],
                         cwd=work, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("ok: ") == len(EXAMPLES)
    schema = subprocess.run([str(py), "-m", "omniflow", "schema"], cwd=work, capture_output=True, text=True, check=True)
    assert '"$id": "https://omniflow.dev/schemas/pipeline.schema.json"' in schema.stdout
