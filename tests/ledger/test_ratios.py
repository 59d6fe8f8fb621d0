"""The billing header is read strictly: a JSON object of numbers, else nothing (never a failure)."""

from __future__ import annotations

import pytest

from omniflow.backends.base import parse_ratios


@pytest.mark.parametrize(("text", "expected"), [
    ('{"seconds":5}', {"seconds": 5}),
    ('{"resolution":1.5,"seconds":5}', {"resolution": 1.5, "seconds": 5}),
    ("{}", {}),
    (None, None), ("", None), ("not json", None), ("[1,2]", None), ('{"seconds":"5"}', None),
    ('{"a":true}', None), ('{"a":NaN}', None), ('{"a":1}' + " " * 5000, None),
])
def test_parse_ratios(text: str | None, expected: dict[str, float] | None) -> None:
    assert parse_ratios(text) == expected
