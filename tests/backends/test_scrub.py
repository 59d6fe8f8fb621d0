"""scrub/clip/clean: the key gone in every form, the length bounded, no half key left at a cut."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniflow.backends.scrub import ELLIPSIS, MARK, MAX_TEXT, clean, clip, scrub

KEY = "sk-scrubtest" + "0123456789abcdefABCDEF"


@pytest.mark.parametrize(
    "form",
    [
        KEY,
        KEY[3:],
        base64.b64encode(KEY.encode()).decode(),
        base64.b64encode(f"Bearer {KEY}".encode()).decode(),
        base64.urlsafe_b64encode(f"Bearer {KEY}".encode()).decode().rstrip("="),
        KEY.encode().hex(),
        KEY.encode().hex().upper(),
        KEY.encode("utf-16-le").decode("latin-1"),
        KEY.encode("utf-16-be").decode("latin-1"),
        KEY.encode("utf-16-le").hex(),
    ],
)
def test_each_form_of_the_key_is_replaced(form):
    out = scrub(f"before {form} after", KEY)
    assert form not in out and out.startswith("before ") and out.endswith(" after") and MARK in out


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_the_key_is_found_inside_any_base64_blob_whatever_its_alignment(before, after):
    blob = base64.b64encode(before + KEY.encode() + after).decode()
    out = scrub(blob, KEY)
    assert MARK in out
    # all that is left of the key: the two 4-character groups it shares with its neighbours
    kept = len(out) - len(MARK)
    assert kept <= 4 * (-(-len(before) // 3) + -(-len(after) // 3)) + 8


def test_plain_words_are_left_alone():
    text = "Invalid token (request id: 2024) for model Kling-3.0"
    assert scrub(text, KEY) == text
    assert scrub(text, "") == text


def test_clip_adds_an_ellipsis_only_when_it_cuts():
    assert clip("short") == "short"
    cut = clip("x" * 5000)
    assert len(cut) == MAX_TEXT and cut.endswith(ELLIPSIS)


@pytest.mark.parametrize("offset", range(MAX_TEXT - 40, MAX_TEXT + 120, 7))
def test_clean_never_leaves_part_of_a_key_at_the_cut(offset):
    out = clean("y" * offset + KEY + "z" * 100_000, KEY)
    assert len(out) <= MAX_TEXT
    assert KEY[3:11] not in out and KEY[-8:] not in out


def test_clean_reads_only_a_prefix_of_a_huge_text():
    huge = ("word " + KEY + " ") * 2_000_000  # ~100 MB
    out = clean(huge, KEY)
    assert len(out) <= MAX_TEXT and KEY not in out and out.endswith(ELLIPSIS)
