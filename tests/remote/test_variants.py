"""Partial variant targets: ``shot@style=noir`` selects every variant with that value."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omniflow.errors import UsageError
from omniflow.language.matrix import name_of, slug
from omniflow.remote.variants import match_variants, parse_variant_name

# 3 styles x 2 seconds x 2 moods, named as the matrix names them (matrix key order)
NAMES = [name_of(["style", "seconds", "mood"], {"style": s, "seconds": t, "mood": m})
         for s, t, m in itertools.product(["film", "noir", "hand drawn"], [4, 8], ["calm", "storm"])]


def test_one_pair_selects_every_variant_with_that_value() -> None:
    assert match_variants("style=noir", NAMES) == [
        "style=noir,seconds=4,mood=calm", "style=noir,seconds=4,mood=storm",
        "style=noir,seconds=8,mood=calm", "style=noir,seconds=8,mood=storm"]
    assert match_variants("seconds=8", NAMES) == [n for n in NAMES if ",seconds=8," in n]


def test_pairs_in_any_order_narrow_the_selection() -> None:
    assert match_variants("mood=storm,style=noir", NAMES) == [
        "style=noir,seconds=4,mood=storm", "style=noir,seconds=8,mood=storm"]
    assert match_variants("mood=calm, seconds=4 ,style=film", NAMES) == ["style=film,seconds=4,mood=calm"]


def test_an_exact_name_and_an_empty_target_keep_their_meaning() -> None:
    assert match_variants("style=film,seconds=8,mood=calm", NAMES) == ["style=film,seconds=8,mood=calm"]
    assert match_variants("", NAMES) == NAMES
    assert match_variants("", [""]) == [""]  # a pipeline without matrix


def test_values_are_compared_as_the_matrix_slugifies_them() -> None:
    assert match_variants("style=Hand Drawn", NAMES) == match_variants("style=hand-drawn", NAMES)
    assert len(match_variants("style=hand-drawn", NAMES)) == 4


@pytest.mark.parametrize(("target", "words"), [
    ("styl=noir", ["no matrix key 'styl'", "did you mean 'style'", "the keys are mood, seconds, style"]),
    ("style=nior", ["no variant has style=nior", "did you mean 'noir'", "style is one of: film, hand-drawn, noir"]),
    ("seconds=6", ["no variant has seconds=6", "seconds is one of: 4, 8"]),
    ("style", ["no variant has that name", "key=value pairs, e.g. style=noir"]),
    ("style-noir", ["no variant has that name"]),
    ("style=noir,,mood=calm", ["expected a variant name or key=value pairs"]),
    ("style=", ["expected a variant name or key=value pairs"]),
    ("style=noir,style=film", ["style is given twice"]),
])
def test_nothing_selected_is_one_clear_usage_error(target: str, words: list[str]) -> None:
    with pytest.raises(UsageError) as caught:
        match_variants(target, NAMES)
    message = str(caught.value)
    assert message.startswith(f"variant {target!r}: ")
    for w in words:
        assert w in message
    assert caught.value.exit_code == 2


def test_an_excluded_combination_is_named_as_such() -> None:
    names = [n for n in NAMES if n != "style=noir,seconds=4,mood=calm" and n != "style=noir,seconds=4,mood=storm"]
    with pytest.raises(UsageError, match="no variant has all of style=noir, seconds=4 together"):
        match_variants("style=noir,seconds=4", names)


def test_a_mistyped_whole_name_suggests_the_closest_variant() -> None:
    with pytest.raises(UsageError, match="did you mean 'a=1'"):
        match_variants("a-1", ["a=1", "a=2"])


def test_a_pipeline_without_matrix_says_so() -> None:
    with pytest.raises(UsageError, match="no matrix"):
        match_variants("style=noir", [""])


_slug = st.text(alphabet="abcdefghij0123456789.-", min_size=1, max_size=6).filter(lambda s: slug(s) == s)


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.lists(_slug, min_size=1, max_size=3, unique=True),
                       min_size=1, max_size=4),
       st.data())
def test_a_partial_target_selects_exactly_the_variants_having_its_pairs(dims: dict[str, list[str]],
                                                                         data: st.DataObject) -> None:
    keys = list(dims)
    names = [name_of(keys, dict(zip(keys, values, strict=True))) for values in itertools.product(*dims.values())]
    some = data.draw(st.lists(st.sampled_from(keys), min_size=1, unique=True))
    wanted = {k: data.draw(st.sampled_from(dims[k])) for k in some}
    target = ",".join(f"{k}={v}" for k, v in wanted.items())
    got = match_variants(target, names)
    assert got == [n for n in names if all(parse_variant_name(n)[k] == v for k, v in wanted.items())]
    assert got and all(n in names for n in got)
