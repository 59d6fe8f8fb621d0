"""Mistakes an editor must flag as the user types: (id, pipeline text, what check-jsonschema names).

Each is also an error for ``omniflow validate`` (the editor sees what validate sees).
"""

H = "omniflow: 1\nname: t\nsteps:\n"
VEO = "  shot:\n    model: Veo-3.1-1080p\n    prompt: a boat\n    seconds: 8\n"

TYPOS = [
    ("promt", "omniflow: 1\nname: t\nsteps:\n  shot:\n    model: Veo-3.1-1080p\n    promt: a boat\n    prompt: a boat\n    seconds: 8\n", "$.steps.shot"),
    ("seconds_7_on_veo", H + "  shot:\n    model: Veo-3.1-1080p\n    prompt: a boat\n    seconds: \"7\"\n", "$.steps.shot.seconds"),
    ("seconds_7_int_on_veo", H + "  shot:\n    model: Veo-3.1-1080p\n    prompt: a boat\n    seconds: 7\n", "$.steps.shot.seconds"),
    ("seconds_word", H + "  shot:\n    model: Veo-3.1-1080p\n    prompt: a boat\n    seconds: eight\n", "$.steps.shot.seconds"),
    ("seconds_5_on_sora", H + "  shot:\n    model: Sora-2.0-720p\n    prompt: a boat\n    seconds: 5\n", "$.steps.shot.seconds"),
    ("seconds_6_on_hailuo_1080p", H + "  shot:\n    model: Hailuo-2.3-1080p\n    prompt: a boat\n    seconds: 6\n", "$.steps.shot.seconds"),
    ("image_not_images", H + VEO + "    image: https://example.com/a.png\n", "$.steps.shot.image"),
    ("images_a_string", H + VEO + "    images: https://example.com/a.png\n", "$.steps.shot.images"),
    ("unknown_model", H + "  shot:\n    model: Veo-3.1-1080\n    prompt: a boat\n    seconds: 8\n", "$.steps.shot.model"),
    ("blank_prompt", H + "  shot:\n    model: Veo-3.1-1080p\n    prompt: \"  \"\n    seconds: 8\n", "$.steps.shot.prompt"),
    ("kind_typo", H + "  shot:\n    kind: vidoe\n    model: Veo-3.1-1080p\n    prompt: a boat\n    seconds: 8\n", "$.steps.shot.kind"),
    ("frame_form", H + VEO + "  end:\n    kind: frame\n    form: shot\n", "$.steps.end"),
    ("frame_at_word", H + VEO + "  end:\n    kind: frame\n    from: shot\n    at: middle\n", "$.steps.end.at"),
    ("concat_inputs_string", H + VEO + "  cut:\n    kind: concat\n    inputs: shot\n", "$.steps.cut.inputs"),
    ("image_n_on_a_video_model", H + VEO + "    n: 2\n", "$.steps.shot"),
    ("image_n_zero", H + "  key:\n    kind: image\n    model: Nano-Banana2\n    prompt: a boat\n    n: 0\n", "$.steps.key.n"),
    ("image_response_format", H + "  key:\n    kind: image\n    model: GPT-image-2\n    prompt: a boat\n    response_format: png\n", "$.steps.key.response_format"),
    ("defaults_field_typo", "omniflow: 1\nname: t\ndefaults:\n  video: {secnds: 8}\nsteps:\n" + VEO, "$.defaults.video"),
    ("top_level_typo", "omniflow: 1\nname: t\nstep:\n" + VEO, "$"),
    ("bad_step_id", H + "  Shot-1:\n    model: Veo-3.1-1080p\n    prompt: a boat\n    seconds: 8\n", "$.steps"),
    ("version_2", "omniflow: 2\nname: t\nsteps:\n" + VEO, "$.omniflow"),
    ("bad_name", "omniflow: 1\nname: My Film\nsteps:\n" + VEO, "$.name"),
    ("take_zero", H + VEO + "    take: 0\n", "$.steps.shot.take"),
    ("extra_not_mapping", H + VEO + "    extra: yes\n", "$.steps.shot.extra"),
]
