"""Keys depend on what is sent, and only on that (design.md §2), checked with hypothesis."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omniflow.language import loads

PROMPTS = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="{}%#"), min_size=1, max_size=30).filter(lambda s: s.strip())
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _doc(p1: str = "a keeper", p2: str = "the sea", take: int = 1, model: str = "Veo-3.1-720p") -> dict:
    return {
        "omniflow": 1,
        "name": "k",
        "description": "keys",
        "vars": {"hero": p1},
        "steps": {
            "key": {"kind": "image", "model": "Nano-Banana2", "prompt": "{{ hero }} on a cliff"},
            "shot1": {"model": model, "prompt": "{{ hero }} waves", "seconds": 4, "images": ["{{ steps.key.url }}"]},
            "end": {"kind": "frame", "from": "shot1", "at": "last"},
            "shot2": {"model": "Veo-3.1-720p", "prompt": p2, "seconds": "4", "images": ["{{ steps.end.url }}"], "take": take},
            "other": {"model": "Veo-3.1-720p", "prompt": "unrelated", "seconds": 4},
        },
    }


def _keys(text: str, backend: str = "emulator") -> dict[str, str]:
    return {s.id: s.key for s in loads(text, backend=backend).variants[0].steps}


def _dump(doc: dict, **kw) -> str:
    return yaml.safe_dump(doc, sort_keys=False, **kw)


BASE = _keys(_dump(_doc()))


@SETTINGS
@given(width=st.integers(20, 200), indent=st.sampled_from([2, 4]), flow=st.booleans(), seed=st.randoms())
def test_formatting_key_order_comments_description_and_needs_never_change_a_key(width, indent, flow, seed):
    doc = _doc()
    # shuffle key order at every level, change description, add needs
    def shuffle(d):
        if isinstance(d, dict):
            items = list(d.items())
            seed.shuffle(items)
            return {k: shuffle(v) for k, v in items}
        return d

    doc = shuffle(doc)
    doc["description"] = "something else " + str(seed.random())
    doc["steps"]["other"]["needs"] = ["shot2"]
    doc["steps"]["other"]["description"] = "now it waits"
    text = yaml.safe_dump(doc, sort_keys=False, width=width, indent=indent, default_flow_style=flow)
    text = "# a comment\n" + text + "# another comment\n"
    assert _keys(text) == BASE


@SETTINGS
@given(prompt=PROMPTS)
def test_changing_one_prompt_changes_exactly_that_step_and_its_descendants(prompt):
    keys = _keys(_dump(_doc(p1=prompt)))
    if prompt == "a keeper":
        return
    changed = {k for k in keys if keys[k] != BASE[k]}
    assert changed == {"key", "shot1", "end", "shot2"}
    keys = _keys(_dump(_doc(p2=prompt)))
    changed = {k for k in keys if keys[k] != BASE[k]}
    assert changed == ({"shot2"} if prompt != "the sea" else set())


@SETTINGS
@given(take=st.integers(2, 50))
def test_take_changes_the_key(take):
    keys = _keys(_dump(_doc(take=take)))
    assert {k for k in keys if keys[k] != BASE[k]} == {"shot2"}


@SETTINGS
@given(model=st.sampled_from(["Veo-3.1-1080p", "Veo-3.1-fast-720p", "Kling-3.0-720p", "Sora-2.0-720p"]))
def test_model_changes_the_step_and_descendants(model):
    keys = _keys(_dump(_doc(model=model)))
    assert {k for k in keys if keys[k] != BASE[k]} == {"shot1", "end", "shot2"}


@SETTINGS
@given(field=st.sampled_from(["aspect_ratio", "input_region", "metadata", "extra"]), value=PROMPTS)
def test_any_request_field_changes_the_key(field, value):
    doc = _doc()
    shot = doc["steps"]["other"]
    if field == "aspect_ratio":
        shot[field] = "9:16"
    elif field == "metadata":
        shot[field] = {"negative_prompt": value}
    elif field == "extra":
        shot[field] = {"provider_option": value}
    else:
        shot[field] = value
    keys = _keys(_dump(doc))
    assert {k for k in keys if keys[k] != BASE[k]} == {"other"}


def test_backend_is_part_of_every_key():
    other = _keys(_dump(_doc()), backend="omnirouters")
    assert all(other[k] != BASE[k] for k in BASE)


def test_integer_seconds_and_string_seconds_are_the_same_request():
    doc = _doc()
    doc["steps"]["other"]["seconds"] = "4"
    assert _keys(_dump(doc)) == BASE


def test_frame_at_default_is_last():
    doc = _doc()
    del doc["steps"]["end"]["at"]
    assert _keys(_dump(doc)) == BASE
