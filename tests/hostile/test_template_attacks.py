"""Server-side template injection payloads in prompts, vars and --set values: each is
refused with a located error (exit 2) and does nothing (canary). The sandbox bounds work by
sizes and operation counts, never by a clock, so no test here measures time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.language.templates import MAX_VALUE_CHARS, Templates

T = "touch CANARY"
PAYLOADS = [
    # attribute walks to the interpreter
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ hero.__init__.__globals__['__builtins__']['open']('CANARY', 'w').write('x') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__()[0].__init__.__globals__.__builtins__.__import__('os').system('" + T + "') }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('" + T + "') }}",
    # the tricks through Jinja's globals
    "{{ cycler.__init__.__globals__.os.system('" + T + "') }}",
    "{{ joiner.__init__.__globals__.os.popen('" + T + "').read() }}",
    "{{ lipsum.__globals__['os'].popen('" + T + "').read() }}",
    "{{ namespace.__init__.__globals__.os.system('" + T + "') }}",
    "{{ range.__self__.__import__('os').system('" + T + "') }}",
    # Flask-style lookups
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('" + T + "') }}",
    "{{ config.__class__.__init__.__globals__['os'].system('" + T + "') }}",
    "{{ config.items() }}",
    # |attr() walks (the sandbox checks attr() too)
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ (lipsum|attr('__globals__')).os.system('" + T + "') }}",
    "{{ hero|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    # format-string attacks
    "{{ '{0.__class__.__mro__}'.format(hero) }}",
    "{{ '{0.__init__.__globals__}'.format_map({'0': hero}) }}",
    "{{ '{0:>1000000000}'.format(1) }}",
    "{{ '%999999999s' % 'a' }}",
    "{{ '%*d' % (1000000000, 1) }}",
    "{{ '%s %*d'|format(1, 1000000000, 2) }}",
    # size and time bombs
    "{{ range(10**9)|list }}",
    "{{ 'a' * 10**10 }}",
    "{{ 'a' * 100000 * 100000 }}",
    "{{ [1] * 10**9 }}",
    "{{ 9 ** 999999 }}",  # Jinja's ** is left-associative: 9 ** 9 ** 9 is small
    "{{ range(10000)|join('x' * 99999) }}",
    "{{ 'x'|center(10**9) }}",
    "{{ 'x'|indent(10**9) }}",
    "{{ ('a' * 90000).replace('', 'bb') }}",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('a') }}",
    "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}x{% endfor %}{% endfor %}{% endfor %}",
    "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
    "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "{% set b %}{% for i in range(10000) %}{{ hero * 9000 }}{% endfor %}{% endset %}{{ b|length }}",
    "{% for x in range(3) recursive %}{{ loop(range(3)) }}{% endfor %}",
    "{% set l = [] %}{% for i in range(64) %}{{ l.extend(l + [i]) }}{% endfor %}",
    "{{ {}.update(a=1) }}",
    "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
]
assert len(PAYLOADS) >= 25

HEAD = "omniflow: 1\nname: p\n"
STEP = "steps:\n  shot:\n    model: Veo-3.1-720p\n    seconds: 4\n    prompt: {prompt}\n"
LOCATED = re.compile(r"^p\.yaml:(\d+):(\d+): (?P<path>[\w.\[\]]+): (?P<msg>.+)$", re.M)


def _yaml_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _validate(tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", "p.yaml", *args], catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output + result.stderr


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _refused(project: Path, out: str, code: int, path: str) -> None:
    assert code == 2, out
    assert "Traceback" not in out
    found = [m for m in LOCATED.finditer(out) if m["path"] == path]
    assert found, out
    assert int(found[0].group(1)) >= 1 and int(found[0].group(2)) >= 1
    assert not (project / "CANARY").exists()


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_payload_in_a_prompt_is_refused_and_located(project: Path, payload: str) -> None:
    text = HEAD + "vars:\n  hero: a lighthouse keeper\n" + STEP.format(prompt=_yaml_str(payload))
    code, out = _validate(project, text)
    _refused(project, out, code, "steps.shot.prompt")


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_payload_in_a_var_is_refused_and_located(project: Path, payload: str) -> None:
    text = HEAD + "vars:\n  hero: a lighthouse keeper\n  evil: " + _yaml_str(payload) + "\n" + STEP.format(prompt="'{{ evil }}'")
    code, out = _validate(project, text)
    _refused(project, out, code, "vars.evil")


@pytest.mark.parametrize("payload", PAYLOADS[::3], ids=range(len(PAYLOADS[::3])))
def test_payload_in_a_set_value_is_refused_and_located(project: Path, payload: str) -> None:
    text = HEAD + "vars:\n  hero: a lighthouse keeper\n  evil: harmless\n" + STEP.format(prompt="'{{ evil }}'")
    code, out = _validate(project, text, "--set", f"evil={payload}")
    _refused(project, out, code, "vars.evil")


def test_limits_are_errors_not_crashes_and_ordinary_templates_still_work() -> None:
    t = Templates()
    ctx = {"hero": "a keeper", "n": 3, "shots": [{"d": 2}, {"d": 3}]}
    assert t.render("{{ '%02d'|format(n) }}-{{ shots|sum(attribute='d') }}", ctx) == "03-5"
    assert t.render("{% for i in range(n) %}{{ i }}{% if not loop.last %},{% endif %}{% endfor %}", ctx) == "0,1,2"
    assert t.render("{% set ns = namespace(c=0) %}{% for s in shots %}{% set ns.c = ns.c + s.d %}{% endfor %}{{ ns.c }}", ctx) == "5"
    assert t.render("{{ n * 2 }}", ctx) == 6 and t.render("{{ hero ~ '!' }}", ctx) == "a keeper!"
    assert len(t.render("{{ 'a' * " + str(MAX_VALUE_CHARS) + " }}", ctx)) == MAX_VALUE_CHARS
    from omniflow.language.templates import TemplateProblem

    with pytest.raises(TemplateProblem, match="template limit"):
        t.render("{{ 'a' * " + str(MAX_VALUE_CHARS + 1) + " }}", ctx)


def test_work_is_bounded_by_characters_processed_not_by_a_clock() -> None:
    from omniflow.language.sandbox import MAX_WORK
    from omniflow.language.templates import TemplateProblem

    t = Templates()
    # each iteration builds 90,000 characters: well under every size limit, but 10,000 of
    # them are 900 million characters of work
    bomb = "{% for i in range(10000) %}{{ ('a' * 90000)|length }}{% endfor %}"
    with pytest.raises(TemplateProblem, match=f"more than {MAX_WORK:,} characters processed"):
        t.render(bomb, {})
    # the same template with a few iterations is fine
    assert t.render(bomb.replace("10000", "3"), {}) == "900009000090000"
