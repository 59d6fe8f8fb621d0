"""takes: N in the language: each candidate keyed exactly as a single step with that take."""

from __future__ import annotations

import pytest

from omniflow.errors import PipelineError
from omniflow.language import loads

SHOT = """
omniflow: 1
name: t
defaults:
  video: {{model: Vidu-q3-turbo-720p, seconds: 2{defaults}}}
steps:
  shot1:
    prompt: "a keeper"
{fields}
  end: {{kind: frame, from: shot1}}
"""


def shot(fields: str = "", defaults: str = "") -> str:
    return SHOT.format(fields="".join(f"    {line}\n" for line in fields.splitlines()), defaults=defaults)


def step(text: str, sid: str = "shot1"):  # noqa: ANN201
    return loads(text).variants[0].step(sid)


def test_one_take_and_no_takes_keep_todays_key() -> None:
    plain = step(shot())
    one = step(shot("takes: 1"))
    assert one.key == plain.key and one.candidates == () and one.takes == 1
    assert step(shot("takes: 1"), "end").key == step(shot(), "end").key


def test_each_candidate_is_keyed_as_a_single_step_with_its_take() -> None:
    s = step(shot("takes: 3"))
    assert [c.take for c in s.candidates] == [1, 2, 3]
    singles = [step(shot(f"take: {t}")).key for t in (1, 2, 3)]
    assert [c.key for c in s.candidates] == singles
    assert len(set(singles)) == 3
    assert s.key == singles[0] and s.take == 1 and s.pick is None  # no pick: the first candidate
    assert all(c.candidates == () and c.id == "shot1" for c in s.candidates)
    assert "takes" not in s.request  # omniflow's own field, never sent


def test_take_shifts_the_candidates() -> None:
    s = step(shot("take: 2\ntakes: 3"))
    assert [c.take for c in s.candidates] == [2, 3, 4]
    assert [c.key for c in s.candidates] == [step(shot(f"take: {t}")).key for t in (2, 3, 4)]


def test_takes_in_defaults() -> None:
    s = step(shot(defaults=", takes: 2"))
    assert [c.take for c in s.candidates] == [1, 2]


def test_downstream_sees_the_first_candidate_without_a_pick() -> None:
    assert step(shot("takes: 3"), "end").key == step(shot(), "end").key


@pytest.mark.parametrize(("value", "message"), [
    ("0", "takes must be a whole number from 1 to 16, not 0"),
    ("17", "takes must be a whole number from 1 to 16, not 17"),
    ("many", "takes must be a whole number from 1 to 16, not 'many'"),
])
def test_bad_takes_are_located(value: str, message: str) -> None:
    with pytest.raises(PipelineError) as info:
        loads(shot(f"takes: {value}"), file="t.yaml")
    [problem] = info.value.problems
    assert message in problem.message and problem.location.line == 9 and problem.path == "steps.shot1.takes"


def test_a_local_step_has_no_takes() -> None:
    text = shot().replace("{kind: frame, from: shot1}", "{kind: frame, from: shot1, takes: 2}")
    with pytest.raises(PipelineError) as info:
        loads(text, file="t.yaml")
    assert "'takes' is not a field of a frame step" in str(info.value.problems[0])
