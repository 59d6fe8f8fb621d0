"""Inputs the field-by-field fuzz found: each is one located line and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

FILM = Path(__file__).resolve().parents[2] / "pipelines" / "film.yaml"


def _validate(tmp_path: Path, data: dict) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "film.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return subprocess.run([sys.executable, "-m", "omniflow", "validate", str(path)], capture_output=True, text=True,
                          cwd=FILM.parents[1])


def test_a_concat_input_that_is_a_list_is_located_even_under_captions_shots(tmp_path):
    data = yaml.safe_load(FILM.read_text())
    data["steps"]["cut"]["inputs"][0] = []  # the subtitles step reads these inputs' captions
    out = _validate(tmp_path, data)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "steps.cut.inputs[0]: inputs must name a step id literally, not []" in out.stdout + out.stderr


def test_a_mix_audio_from_that_is_a_list_is_located(tmp_path):
    data = yaml.safe_load(FILM.read_text())
    mix = next(s for s in data["steps"].values() if isinstance(s, dict) and s.get("kind") == "mix")
    mix["audio"][0]["from"] = []
    out = _validate(tmp_path, data)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "audio[0] must be a mapping with from:" in out.stdout + out.stderr
