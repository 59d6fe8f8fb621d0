"""Per-family request rules (schemas/models/*.schema.json) for every field the API reference documents.

[SEED] rules are errors, rules from other sources warnings (API reference §9's policy);
checked through catalog.check_request, the one function validate and the emulator call.
"""

from __future__ import annotations

import pytest

from omniflow.core.catalog import check_request, families, family_schema

URL = "https://example.com/a.png"
# one model per video family, with seconds it takes
MODELS = {
    "veo": ("Veo-3.1-1080p", "8"), "kling": ("Kling-3.0-omni-1080p", "5"), "sora": ("Sora-2.0-720p", "4"),
    "hailuo": ("Hailuo-2.3-720p", "6"), "seedance": ("Seedance-1.5-pro-720p", "5"), "jimeng": ("Jimeng-3.0pro-1080p", "5"),
    "vidu-q2": ("Vidu-q2-pro-720p", "5"), "vidu-q3": ("Vidu-q3-mix-720p", "5"), "hunyuan": ("Hunyuan-1.5-720p", "5"),
    "mingmou": ("Mingmou-1.0-720p", "5"),
}
AUDIO = {"kling", "veo", "vidu-q3", "sora", "jimeng", "hunyuan", "mingmou"}  # the last four: [UNVERIFIED], not enforced
DOCS_NEW_FIELDS = {  # field: (a good value, the families the reference ties it to)
    "enable_bgm": ("Enabled", {"vidu-q2"}),
    "keep_original_sound": ("Disabled", {"kling", "vidu-q2"}),
    "subject_infos": ([{"id": "a", "name": "girl", "image_urls": [URL]}], {"kling", "vidu-q3"}),
    "image_usage": ("Reference", {"kling"}),
}


def _rules(family: str, **fields) -> list[tuple[tuple, str, str]]:
    model, seconds = MODELS[family]
    body = {"model": model, "prompt": "p", "seconds": seconds, **fields}
    return [(v.path, v.severity, v.message) for v in check_request(model, body)]


def _one(family: str, severity: str, words: str, **fields) -> None:
    found = _rules(family, **fields)
    assert len(found) == 1 and found[0][1] == severity and words in found[0][2], found


def test_every_video_family_is_covered():
    assert set(MODELS) == {f for f in families() if family_schema(f).get("x-kind") == "video"}


def test_every_family_schema_says_which_rules_are_seed():
    for f in families():
        schema = family_schema(f)
        assert "[SEED]" in schema["x-policy"] or f == "image"
        assert "x-advisory" in schema

        def rules(node):
            if isinstance(node, dict):
                if "x-rule" in node:
                    yield node
                for v in node.values():
                    yield from rules(v)
            elif isinstance(node, list):
                for v in node:
                    yield from rules(v)

        assert all("x-source" in r for r in rules(schema)), f


@pytest.mark.parametrize("family", sorted(MODELS))
def test_seed_fields_of_every_video_family(family):
    assert _rules(family) == []
    assert _rules(family, images=[URL], firstframe=URL, lastframe=URL) == []
    _one(family, "error", "images must be a list of URLs", images=URL)
    _one(family, "error", "images must be http(s) URLs", images=["data:image/png;base64,AAAA"])
    _one(family, "error", "videos must be a list of URLs", videos=URL)
    _one(family, "error", "image is not supported; use images (URL only)", image=URL)
    _one(family, "error", "video is not supported; use videos (URL only)", video=URL)
    assert (("seconds",), "error", 'seconds must be a string, e.g. "5"') in _rules(family, seconds=5)
    _one(family, "error", "is not a request field of this model family", promt="x")
    _one(family, "error", "firstframe must be an http(s) URL", firstframe="end.png")
    _one(family, "error", "lastframe must be an http(s) URL", lastframe="end.png")


@pytest.mark.parametrize("family", sorted(MODELS))
def test_input_region_seed_value_and_the_ones_documented_elsewhere(family):
    assert _rules(family, input_region="Oversea") == []
    _one(family, "warning", 'input_region "Mainland" is documented only in [DOCS-new]', input_region="Mainland")
    _one(family, "warning", 'input_region "OverseaUSWest" is documented only in [DOCS-new]', input_region="OverseaUSWest")
    _one(family, "warning", '"Mars" is not a documented input_region', input_region="Mars")
    _one(family, "error", "is not of type 'string'", input_region=1)


@pytest.mark.parametrize("family", sorted(MODELS))
def test_audio_generation_where_the_reference_says(family):
    model = MODELS[family][0]
    if family in AUDIO:
        assert _rules(family, audio_generation=True) == []
        assert _rules(family, audio_generation="Enabled") == []
        _one(family, "warning", f'"maybe" is not allowed for {model} (allowed: true, false, Enabled, Disabled)', audio_generation="maybe")
    else:
        _one(family, "warning", f"{model} does not take audio_generation", audio_generation=True)
    _one(family, "error", 'audio_generation must be true/false or "Enabled"/"Disabled"', audio_generation=1)


@pytest.mark.parametrize("family", sorted(MODELS))
@pytest.mark.parametrize("field", sorted(DOCS_NEW_FIELDS))
def test_fields_seen_only_in_docs_new_belong_to_their_families(family, field):
    value, owners = DOCS_NEW_FIELDS[field]
    if family in owners:
        assert _rules(family, **{field: value}) == []
    else:
        _one(family, "warning", f"{MODELS[family][0]} does not take {field} (documented for", **{field: value})
    if family in owners and field in ("enable_bgm", "keep_original_sound"):
        _one(family, "warning", '"maybe" is not allowed', **{field: "maybe"})


@pytest.mark.parametrize("family", sorted(MODELS))
def test_video_reference_type_per_family(family):
    allowed = {"kling": ["feature", "base"], "veo": ["asset", "style"]}.get(family)
    if allowed is None:
        _one(family, "warning", "does not take video_reference_type", video_reference_type="feature")
        return
    for v in allowed:
        assert _rules(family, video_reference_type=v) == []
    other = "asset" if family == "kling" else "feature"
    _one(family, "warning", f'"{other}" is not allowed for {MODELS[family][0]} (allowed: {", ".join(allowed)})', video_reference_type=other)


@pytest.mark.parametrize("family", sorted(MODELS))
def test_metadata_keys_per_family(family):
    model = MODELS[family][0]
    common = {"negative_prompt": "blur", "enhance_prompt": "Enabled", "scene_type": "template_effect",
              "output_config": {"AudioGeneration": "Enabled", "PersonGeneration": "AllowAdult", "OffPeak": "Disabled"}}
    assert _rules(family, metadata=common) == []
    _one(family, "warning", f"metadata.negative_prmpt is not supported for {model} [DOCS-old]", metadata={"negative_prmpt": "x"})
    _one(family, "warning", '"yes" is not allowed', metadata={"enhance_prompt": "yes"})
    _one(family, "warning", "metadata.output_config.Logo is not supported", metadata={"output_config": {"Logo": "Enabled"}})
    _one(family, "error", "metadata must be a mapping", metadata="x")
    vidu = {"vidu_q2_object_ids": ["girl"], "vidu_q2_voice_map": {"girl": "female-shaonv"}}
    seedance = {"generate_audio": True, "watermark": False, "ratio": "16:9", "resolution": "720p",
                "content": [{"type": "image_url", "image_url": {"url": URL}, "role": "reference_image"}]}
    for keys, owner in ((vidu, "vidu-q2"), (seedance, "seedance")):
        found = _rules(family, metadata=keys)
        if family == owner:
            assert found == []
        else:
            assert found and all(f[1] == "warning" and "is not supported for" in f[2] for f in found), found


@pytest.mark.parametrize("family", sorted(MODELS))
def test_kling_storyboard_fields_only_on_kling(family):
    storyboard = {"scene_type": "template_effect", "ext_info": {"AdditionalParameters": {
        "multi_shot": True, "shot_type": "customize",
        "multi_prompt": [{"index": 1, "prompt": "a", "duration": 2}, {"index": 2, "prompt": "b", "duration": 3}]}}}
    found = _rules(family, metadata=storyboard)
    if family == "kling":
        assert found == []
        _one(family, "warning", '"random" is not allowed', metadata={"ext_info": {"AdditionalParameters": {"shot_type": "random"}}})
        return
    model = MODELS[family][0]
    assert {f[0][-1] for f in found} == {"multi_shot", "shot_type", "multi_prompt"}
    assert all(f[1] == "warning" and f[2].startswith(f"{model} does not take ") and "(a Kling storyboard field)" in f[2] for f in found)


def test_image_family_fields():
    def rules(model="Nano-Banana2", **fields):
        return [(v.path, v.severity, v.message) for v in check_request(model, {"model": model, "prompt": "p", **fields})]

    assert rules(n=4, input_region="Oversea", aspect_ratio="21:9", images=[URL], response_format="url", watermark=False) == []
    assert rules(n=5)[0][1:] == ("error", "n must be a whole number from 1 to 4")
    assert rules(n=0)[0][1:] == ("error", "n must be a whole number from 1 to 4")
    assert rules(images=URL)[0][1:] == ("error", 'images must be a list of URLs, e.g. images: ["https://..."]')
    assert rules(response_format="png")[0][1] == "error"
    assert rules(input_region="Mars")[0][1] == "warning"
    assert rules("GPT-image-2", quality="ultra")[0][1:] == ("warning", '"ultra" is not allowed for GPT-image-2 (allowed: low, medium, high) [DOCS-new]')
    assert rules("Kling:3.0-omni", images=[URL, URL])[0][1:] == ("warning", "at most 1 reference image for this model [DOCS-old]")
    assert rules("Kling:3.0-omni", aspect_ratio="5:4")[0][1] == "warning"
    assert rules(sizee="2K")[0][1:] == ("error", "'sizee' is not a request field of the image API")


def test_the_emulator_still_answers_only_rules_the_api_enforces():
    # omniflow's own checks and the new per-family rules are never an HTTP error in the emulator
    from omniflow.core.catalog import check_request as check

    body = {"model": "Veo-3.1-1080p", "prompt": "p", "seconds": "8", "input_region": "Mars", "enable_bgm": "x", "promt": "x"}
    hard = [v for v in check("Veo-3.1-1080p", body, advisory=False) if v.api and v.severity == "error"]
    assert hard == []
