"""Every malformed pipeline fails validate with exit 2 and the exact file:line:col and step path."""

from __future__ import annotations

import pytest

from .cases import CASES, STRICT_CASES


def _expect(result, expected: str) -> None:
    assert result.exit_code == 2, result.output + result.stderr
    assert "Traceback" not in result.stderr and result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert any(line.startswith("p.yaml:" + expected) for line in lines), "\n".join(lines)


def _located(result) -> list[str]:
    """The stderr lines that name a place in p.yaml."""
    return [line for line in result.stderr.splitlines() if line.startswith("p.yaml:")]


def test_there_are_at_least_sixty_distinct_cases():
    texts = {text for _, text, _ in CASES + STRICT_CASES}
    ids = {cid for cid, _, _ in CASES + STRICT_CASES}
    assert len(texts) == len(CASES) + len(STRICT_CASES) >= 60
    assert len(ids) == len(texts)


@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_pipeline_is_located(run_cli, write, text, expected):
    _expect(run_cli("validate", write(text)), expected)


@pytest.mark.parametrize("text,expected", [c[1:] for c in STRICT_CASES], ids=[c[0] for c in STRICT_CASES])
def test_advisory_rule_is_a_warning_and_strict_makes_it_an_error(run_cli, write, text, expected):
    name = write(text)
    lax = run_cli("validate", name)
    assert lax.exit_code == 0, lax.stderr
    warning = expected.replace(": ", ": warning: ", 1)
    assert any(line.startswith("p.yaml:" + warning) for line in lax.stderr.splitlines()), lax.stderr
    _expect(run_cli("validate", "--strict", name), expected)


def test_every_error_of_a_file_is_reported_not_just_the_first(run_cli, write):
    text = (
        "omniflow: 1\nname: t\nvars:\n  hero: a\nsteps:\n"
        "  a:\n    model: Veo-3.1-720\n    prompt: x\n    seconds: 4\n"
        "  b:\n    model: Veo-3.1-720p\n    prompt: '{{ hreo }}'\n    seconds: 5\n"
        "  c:\n    kind: frame\n    from: zz\n"
    )
    result = run_cli("validate", write(text))
    assert result.exit_code == 2
    errors = _located(result)
    assert errors == [
        "p.yaml:7:12: steps.a.model: unknown model 'Veo-3.1-720' (did you mean 'Veo-3.1-720p' or 'Veo-3.1-2048p' or 'Veo-3.1-fast-720p'?); see `omniflow models`",
        "p.yaml:12:13: steps.b.prompt: undefined variable 'hreo' (did you mean 'hero'?)",
        'p.yaml:13:14: steps.b.seconds: "5" is not allowed for Veo-3.1-720p (allowed: 4, 6, 8)',
        "p.yaml:16:11: steps.c.from: unknown step 'zz'",
    ]
    assert result.stderr.splitlines()[-1] == "4 errors"


def test_json_output_lists_problems_with_locations(run_cli, write):
    import json

    result = run_cli("validate", "--json", write("omniflow: 1\nname: t\nsteps:\n  s:\n    model: Veo-3.1-720p\n    prompt: a\n    seconds: 5\n"))
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["files"][0]["problems"] == [
        {"file": "p.yaml", "line": 7, "column": 14, "path": "steps.s.seconds", "severity": "error", "message": '"5" is not allowed for Veo-3.1-720p (allowed: 4, 6, 8)'}
    ]


def test_a_problem_in_some_variants_names_them(run_cli, write):
    text = "omniflow: 1\nname: t\nmatrix:\n  seconds: [4, 5, 8]\nsteps:\n  s:\n    model: Veo-3.1-720p\n    prompt: a\n    seconds: '{{ seconds }}'\n"
    result = run_cli("validate", write(text))
    assert result.exit_code == 2
    assert 'p.yaml:9:14: steps.s.seconds: "5" is not allowed for Veo-3.1-720p (allowed: 4, 6, 8) [variant seconds=5]' in result.stderr


def test_missing_file_and_bad_set_are_usage_errors(run_cli, write):
    result = run_cli("validate", "nope.yaml")
    assert result.exit_code == 2 and "no such pipeline file: nope.yaml" in result.stderr
    name = write("omniflow: 1\nname: t\nvars:\n  hero: a\nsteps:\n  s:\n    model: Veo-3.1-720p\n    prompt: '{{ hero }}'\n    seconds: 4\n")
    result = run_cli("validate", "--set", "heor=b", name)
    assert result.exit_code == 2 and "--set heor: no variable named 'heor' (did you mean 'hero'?)" in result.stderr
    result = run_cli("validate", "--set", "hero", name)
    assert result.exit_code == 2 and "--set expects KEY=VALUE" in result.stderr


def test_the_language_layer_never_imports_httpx_or_media_libraries():
    # networkx is allowed: the DAG is a networkx graph (issue 15)
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from omniflow.language import load\n"
        "from pathlib import Path\n"
        "for p in sorted(Path('pipelines').glob('*.yaml')):\n"
        "    load(p)\n"
        "bad = [m for m in ('httpx', 'av', 'PIL', 'rich', 'starlette') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    from .conftest import REPO

    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_step_with_a_broken_reference_still_has_its_other_fields_checked(run_cli, write):
    text = (
        "omniflow: 1\nname: t\nsteps:\n"
        "  shot:\n    model: Veo-3.1-1080p\n    prompt: a boat\n    seconds: 7\n"
        "    images: ['{{ steps.kye.url }}']\n"
    )
    result = run_cli("validate", write(text))
    assert result.exit_code == 2
    errors = _located(result)
    # the seconds error, and the reference error once: nothing derived from the broken reference
    assert errors == [
        'p.yaml:7:14: steps.shot.seconds: "7" is not allowed for Veo-3.1-1080p (allowed: 4, 6, 8)',
        "p.yaml:8:14: steps.shot.images[0]: unknown step 'kye'",
    ]
