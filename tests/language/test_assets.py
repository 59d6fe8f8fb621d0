"""Local files (issue 16): inside the project, under a size cap, of the media the field takes, hashed in chunks.

Every refusal is one located line, exit 2, from validate, plan and run alike,
before anything is sent. Big files are sparse (``truncate``): no disk is used,
and what is asserted is memory (tracemalloc) and the message, never time.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from omniflow.cli import cli
from omniflow.core import keys
from omniflow.errors import PipelineError
from omniflow.language import load

from .conftest import REPO

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
MP3 = b"ID3\x04\0\0\0\0\0\0" + b"\0" * 22
MP4 = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2"
VEO = "omniflow: 1\nname: t\nsteps:\n  shot:\n    model: Veo-3.1-720p\n    prompt: a cat\n    seconds: 4\n"
KLING = "omniflow: 1\nname: t\nsteps:\n  shot:\n    model: Kling-3.0-omni-720p\n    prompt: a cat\n    seconds: 5\n"
OUTSIDE = "is outside the project folder"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (``.omniflow``) with ``assets/hero.png``; the working directory is elsewhere."""
    root = tmp_path / "proj"
    (root / ".omniflow").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "assets" / "hero.png").write_bytes(PNG)
    monkeypatch.chdir(tmp_path)
    return root


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write(root: Path, text: str) -> str:
    (root / "p.yaml").write_text(text, encoding="utf-8")
    return str(root / "p.yaml")


def warm_up(root: Path) -> None:
    """Load once so imports, schemas and compiled templates are not counted in a memory peak."""
    load(write(root, VEO + "    images: [assets/hero.png]\n"), memo=False)


def refusal(file: str, command: str = "validate") -> list[str]:
    """The located lines of a command that must refuse with exit 2 (never a traceback)."""
    args = [command, file] + (["--backend", "emulator"] if command != "validate" else [])
    result = cli_run(*args)
    assert result.exit_code == 2, result.output + result.stderr
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith(file + ":")]


# -- size caps and chunked hashing ------------------------------------------------------


def test_a_3_gb_video_is_refused_by_its_size_without_being_read(project: Path):
    big = project / "assets" / "big.mp4"
    with open(big, "wb") as f:
        f.write(MP4)
        f.truncate(3 * 1024**3)  # sparse: 3 GB that take no disk
    warm_up(project)
    file = write(project, KLING + "    videos: [assets/big.mp4]\n")
    tracemalloc.start()
    try:
        with pytest.raises(PipelineError) as info:
            load(file, memo=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024**2  # the old loader held all 3 GB
    (problem,) = [p for p in info.value.problems if p.is_error]
    assert (problem.location.line, problem.location.column, problem.path) == (8, 14, "steps.shot.videos[0]")
    assert problem.message == ("'assets/big.mp4' is 3,221,225,472 bytes, over the 2,147,483,648-byte limit for a "
                               "video input ([inputs] max_video_bytes in omniflow.toml)")


def test_an_image_has_a_smaller_cap_named_in_the_message(project: Path):
    with open(project / "assets" / "huge.png", "wb") as f:
        f.write(PNG)
        f.truncate(60 * 1024**2)
    lines = refusal(write(project, VEO + "    images: [assets/huge.png]\n"))
    assert lines == [f"{project / 'p.yaml'}:8:14: steps.shot.images[0]: 'assets/huge.png' is 62,914,560 bytes, over "
                     "the 52,428,800-byte limit for an image input ([inputs] max_image_bytes in omniflow.toml)"]


def test_a_file_within_a_raised_cap_is_hashed_in_chunks(project: Path):
    (project / "omniflow.toml").write_text(f"[inputs]\nmax_image_bytes = {200 * 1024**2}\n")
    path = project / "assets" / "large.png"
    with open(path, "wb") as f:
        f.write(PNG)
        f.truncate(150 * 1024**2)
    warm_up(project)
    file = write(project, VEO + "    images: [assets/large.png]\n")
    tracemalloc.start()
    try:
        step = load(file, memo=False).variants[0].steps[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024**2  # 1 MiB reads, not a 150 MiB bytes object
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    assert step.request["images"] == [keys.FILE_PREFIX + digest]
    assert step.files == {digest: str(path.resolve())}


# -- the media type, by the bytes -------------------------------------------------------------


@pytest.mark.parametrize("content,field,name,said", [
    (b"just some notes, not a picture\n", "images: [assets/{}]", "hero.png", "its bytes look like text"),
    (MP3, "images: [assets/{}]", "song.png", "its bytes are audio/mpeg"),
    (b"", "images: [assets/{}]", "empty.png", "the file is empty"),
    (b'{"a": 1}', "images: [assets/{}]", "data.png", "its bytes look like JSON"),
])
def test_an_image_field_takes_only_image_bytes_whatever_the_name(project: Path, content, field, name, said):
    (project / "assets" / name).write_bytes(content)
    lines = refusal(write(project, VEO + "    " + field.format(name) + "\n"))
    assert lines == [f"{project / 'p.yaml'}:8:14: steps.shot.images[0]: 'assets/{name}' is not an image: {said}; "
                     "images takes PNG, JPEG or WebP files"]


def test_a_video_field_takes_only_video_bytes(project: Path):
    lines = refusal(write(project, KLING + "    videos: [assets/hero.png]\n"))
    assert lines == [f"{project / 'p.yaml'}:8:14: steps.shot.videos[0]: 'assets/hero.png' is not a video: its bytes "
                     "are image/png; videos takes MP4 files"]


def test_a_fifo_or_device_is_refused_and_never_blocks(project: Path):
    os.mkfifo(project / "assets" / "pipe.png")
    (project / "omniflow.toml").write_text("[inputs]\nallow_outside = true\n")
    lines = refusal(write(project, VEO + "    images: [assets/pipe.png, /dev/zero]\n"))
    assert [line.split(": ", 2)[2] for line in lines] == [
        "'assets/pipe.png' is not a regular file (a device, pipe or socket cannot be an input)",
        "'/dev/zero' is not a regular file (a device, pipe or socket cannot be an input)",
    ]


# -- outside the project ------------------------------------------------------------------------


def _outside_ways(project: Path) -> dict[str, str]:
    """The three ways out: an absolute path, '..', a symlink. Each names a real PNG outside."""
    outside = project.parent / "elsewhere.png"
    outside.write_bytes(PNG)
    (project / "assets" / "link.png").symlink_to(outside)
    return {"absolute": str(outside), "dotdot": "../elsewhere.png", "symlink": "assets/link.png"}


@pytest.mark.parametrize("way,why", [
    ("absolute", "an absolute path"),
    ("dotdot", "'..' leads out of it"),
    ("symlink", "a symlink leads out of it, to "),
])
def test_a_file_outside_the_project_is_refused_by_validate_plan_and_run(project: Path, way: str, why: str):
    ref = _outside_ways(project)[way]
    file = write(project, VEO + f"    images: [{ref}]\n")
    answers = {command: refusal(file, command) for command in ("validate", "plan", "run")}
    assert answers["validate"] == answers["plan"] == answers["run"]
    (line,) = answers["validate"]
    assert line.startswith(f"{file}:8:14: steps.shot.images[0]: {ref!r} {OUTSIDE} {project.resolve()}: {why}")
    assert "uploaded to a third party" in line and "[inputs] allow_outside = true" in line
    # nothing was run or sent: no object, no journal entry, no outputs
    assert not (project / ".omniflow" / "objects").exists() or not any((project / ".omniflow" / "objects").iterdir())
    assert not (project / "outputs").exists()


def test_a_refused_file_is_not_even_opened(project: Path):
    secret = project.parent / "secret.png"
    secret.write_bytes(b"not an image either")
    secret.chmod(0)  # were it opened, the message would be about reading it
    (line,) = refusal(write(project, VEO + f"    images: [{secret}]\n"))
    assert OUTSIDE in line


def test_allow_outside_lets_all_three_ways_in_with_the_key_of_the_bytes(project: Path):
    ways = _outside_ways(project)
    (project / "omniflow.toml").write_text("[inputs]\nallow_outside = true\n")
    inside = load(write(project, VEO + "    images: [assets/hero.png]\n"), memo=False).variants[0].steps[0]
    for ref in ways.values():
        step = load(write(project, VEO + f"    images: [{ref}]\n"), memo=False).variants[0].steps[0]
        assert step.key == inside.key  # the same bytes: the same key, wherever they lie
        assert list(step.files.values()) == [str((project.parent / "elsewhere.png").resolve())]
    assert cli_run("validate", str(project / "p.yaml")).exit_code == 0


def test_inside_the_project_symlinks_and_dotdots_are_fine(project: Path):
    (project / "assets" / "alias.png").symlink_to("hero.png")
    (project / "pipelines").mkdir()
    (project / "pipelines" / "p.yaml").write_text(VEO + "    images: [../assets/hero.png, ../assets/alias.png]\n")
    step = load(project / "pipelines" / "p.yaml", memo=False).variants[0].steps[0]
    assert step.files == {keys.sha256_hex(PNG): str((project / "assets" / "hero.png").resolve())}


def test_without_a_state_folder_the_working_directory_is_the_project(tmp_path: Path, monkeypatch):
    (tmp_path / "here").mkdir()
    (tmp_path / "there").mkdir()
    (tmp_path / "there" / "hero.png").write_bytes(PNG)
    (tmp_path / "there" / "p.yaml").write_text(VEO + "    images: [hero.png]\n")
    monkeypatch.chdir(tmp_path / "here")
    (line,) = refusal(str(tmp_path / "there" / "p.yaml"))
    assert "(the working directory: no .omniflow folder above the pipeline): the pipeline itself is outside it" in line
    assert "run omniflow from the project's folder or give the project a .omniflow folder (omniflow init)" in line
    monkeypatch.chdir(tmp_path / "there")
    assert cli_run("validate", "p.yaml").exit_code == 0


def test_a_symlink_retargeted_outside_after_a_memoised_load_is_caught(project: Path, monkeypatch):
    monkeypatch.delenv("OMNIFLOW_NO_MEMO", raising=False)
    (project / "assets" / "link.png").symlink_to("hero.png")
    file = write(project, VEO + "    images: [assets/link.png]\n")
    assert cli_run("validate", file).exit_code == 0
    assert list((project / ".omniflow" / "memo").glob("*.pickle"))  # memoised
    outside = project.parent / "same-bytes.png"
    outside.write_bytes(PNG)  # the same bytes, so only where the link leads has changed
    (project / "assets" / "link.png").unlink()
    (project / "assets" / "link.png").symlink_to(outside)
    (line,) = refusal(file)
    assert OUTSIDE in line


def test_the_inputs_settings_are_part_of_the_memo_key(project: Path, monkeypatch):
    monkeypatch.delenv("OMNIFLOW_NO_MEMO", raising=False)
    file = write(project, VEO + f"    images: [{_outside_ways(project)['absolute']}]\n")
    (project / "omniflow.toml").write_text("[inputs]\nallow_outside = true\n")
    assert cli_run("validate", file).exit_code == 0
    (project / "omniflow.toml").write_text("[inputs]\nallow_outside = false\n")
    (line,) = refusal(file)
    assert OUTSIDE in line


@pytest.mark.parametrize("toml,said", [
    ('allow_outside = "yes"', "inputs.allow_outside must be true or false, not 'yes'"),
    ("allow_outsde = true", "inputs.allow_outsde: unknown setting (did you mean 'allow_outside'?)"),
    ("max_video_bytes = -1", "inputs.max_video_bytes must be a whole number of bytes >= 1, not -1"),
])
def test_a_bad_inputs_setting_is_one_line_and_exit_2(project: Path, toml: str, said: str):
    (project / "omniflow.toml").write_text(f"[inputs]\n{toml}\n")
    result = cli_run("validate", write(project, VEO))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert said in result.stderr


# -- local kinds: mix's audio files --------------------------------------------------------------


MIX = VEO + "  cut:\n    kind: mix\n    video: shot\n    audio: [{{from: {}, bed: true}}]\n"


def test_a_mix_bed_from_a_local_file_is_keyed_by_its_bytes(project: Path):
    (project / "assets" / "bed.mp3").write_bytes(MP3)
    step = load(write(project, MIX.format("assets/bed.mp3")), memo=False).variants[0].step("cut")
    digest = keys.sha256_hex(MP3)
    assert step.request["audio"] == [{"from": keys.FILE_PREFIX + digest, "bed": True}]
    assert step.files == {digest: str((project / "assets" / "bed.mp3").resolve())}


def test_a_mix_bed_is_checked_like_any_local_file(project: Path):
    (project / "assets" / "bed.mp3").write_text("la la la\n")
    file = write(project, MIX.format("assets/bed.mp3"))
    assert refusal(file) == [f"{file}:11:20: steps.cut.audio[0].from: 'assets/bed.mp3' is not a sound file: its bytes "
                             "look like text; audio takes MP3, M4A, AAC, WAV, Ogg, FLAC or MP4 files"]
    (line,) = refusal(write(project, MIX.format("../bed.mp3")))
    assert line.startswith(f"{file}:11:20: steps.cut.audio[0].from: '../bed.mp3' {OUTSIDE}")


# -- keys: an asset inside the project keeps its key ----------------------------------------------


def test_the_example_keys_are_those_of_before_the_checks(monkeypatch):
    monkeypatch.chdir(REPO)  # the examples' project: the repository
    v = load(REPO / "pipelines" / "local_assets.yaml", memo=False).variants[0]
    # computed by the loader before issue 16 (plain read_bytes + sha256): same bytes, same keys
    assert v.step("wake").key == "e8c17d85cd6397ccfcfea737133220c4733334cb110bba672b3637129b7391f9"
    assert v.step("loop").key == "00ebc9477eab32b762377e380672b1b580b1dbc537685331515c78b2ed105e21"
    assert set(v.step("wake").files) == {"cc203142eb5e116f529706a677c32cb475bbd4143343b00946e5def04c66f700"}
