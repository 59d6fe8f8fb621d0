"""The OmniRouters model catalogue and request rules: one source of truth.

The rules live in the JSON Schemas under ``schemas/models/`` (shipped inside
the package as ``omniflow.schemas``); this module reads them and answers:

- which model ids exist, and for each its family, version, variant and
  resolution (:func:`parse_model`, :func:`get_model`, :func:`suggest_models`);
- whether a request body is acceptable (:func:`check_request`), as a list of
  :class:`Violation` in the order the API checks them, each with the API's own
  wording ("seconds is required", "images must be http(s) URLs", ...).

Both the pipeline validator (which maps a violation's path back to a YAML line)
and the emulator (which answers the first hard violation with an HTTP error)
call :func:`check_request`, so a pipeline that validates also runs.

Severity follows the policy of the API reference §9: rules tagged [SEED] are
``error``; rules only from older docs are ``warning`` (kept under
``x-advisory`` in the schemas). ``api`` tells whether the API itself rejects
the request for that rule (unknown fields are omniflow's own check: the
gateway passes them through).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

# The date of the API reference page (the [SEED]) the model ids and rules under
# schemas/models/ were taken from; `omniflow --version` shows it. Bump it with them.
CATALOGUE_DATE = "2026-04-13"

RESOLUTIONS = ("720p", "1080p", "2048p", "4096p")
# Frame size of each resolution tier at 16:9 (long side x short side).
# 2048p/4096p are taken as 2K/4K output; the reference does not say more.
RESOLUTION_SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "2048p": (2048, 1152), "4096p": (4096, 2304)}

# The order in which the upstream checks a create body (API reference §12,
# items 14-19); the emulator answers the first violation in this order.
RULE_ORDER = (
    "model_required",
    "prompt_required",
    "seconds_required",
    "seconds_type",
    "image_single",
    "video_single",
    "images_url",
    "videos_url",
    "firstframe_url",
    "lastframe_url",
    "seconds_allowed",
    "images_max",
    "videos_unsupported",
    "aspect_ratio_allowed",
    "aspect_ratio_unsupported",
    "multi_shot",
    "model_family",
    "type",
    "unknown_field",
)


@dataclass(frozen=True)
class Model:
    """A model id parsed into its parts."""

    id: str
    kind: str  # "video" | "image"
    family: str  # schema name: "kling", "veo", "image", ...
    name: str  # "Kling", "Veo", ...
    version: str  # "3.0", "3.1", "q2", ...
    variant: str  # "omni", "fast", "turbo", "" ...
    resolution: str  # "1080p", ... ("" for image models)
    default_aspect_ratio: str = "16:9"

    @property
    def size(self) -> tuple[int, int]:
        """Full output size (width, height) at 16:9 landscape."""
        return RESOLUTION_SIZES.get(self.resolution, (1280, 720))


@dataclass(frozen=True)
class Violation:
    """One broken rule of a request body."""

    path: tuple[str | int, ...]  # path inside the request, e.g. ("images", 0)
    message: str  # the API's wording where it has one
    rule: str  # a name from RULE_ORDER
    severity: str = "error"  # "error" | "warning"
    api: bool = True  # False: omniflow's own check, the API would accept it
    value: Any = None  # the rejected value, for enum rules
    allowed: tuple[Any, ...] = ()  # the values an enum rule allows


_MODEL_RE = re.compile(r"^(?P<name>[A-Za-z]+)-(?P<version>[^-]+)(?:-(?P<variant>[a-z]+))?-(?P<res>\d+p)$")


# For tests only: a folder laid out like the shipped schemas/ (pipeline.schema.json,
# models/*.schema.json) read instead of them, so a test can try a catalogue update
# (a model deprecated or retired) without editing the package. Read once, at import.
CATALOGUE_DIR_ENV = "OMNIFLOW_CATALOGUE_DIR"
_OVERRIDE = os.environ.get(CATALOGUE_DIR_ENV, "").strip()


def _schemas_root() -> Any:
    return Path(_OVERRIDE) if _OVERRIDE else resources.files("omniflow.schemas")


@cache
def schema_text(name: str) -> str:
    """Raw text of a shipped schema, e.g. ``pipeline.schema.json`` or ``models/veo.schema.json``."""
    parts = name.split("/")
    node = _schemas_root()
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


@cache
def family_schema(family: str) -> dict[str, Any]:
    return json.loads(schema_text(f"models/{family}.schema.json"))


@cache
def families() -> tuple[str, ...]:
    """Names of every model family that has a schema."""
    folder = _schemas_root().joinpath("models")
    names = [p.name[: -len(".schema.json")] for p in folder.iterdir() if p.name.endswith(".schema.json")]
    return tuple(sorted(names))


@cache
def _catalogue() -> dict[str, Model]:
    models: dict[str, Model] = {}
    for fam in families():
        schema = family_schema(fam)
        kind = schema.get("x-kind", "video")
        for model_id in schema["x-models"]:
            models[model_id] = _parse(model_id, fam, kind, schema.get("x-default-aspect-ratio", "16:9"))
    return models


STATUSES = ("active", "deprecated", "retired")


@dataclass(frozen=True)
class ModelStatus:
    """Where a model is in its life: ``active``, ``deprecated`` (still served; use
    ``replacement``) or ``retired`` (no longer served; ``replacement`` if there is one)."""

    state: str = "active"
    replacement: str | None = None


_ACTIVE = ModelStatus()


@cache
def _statuses() -> dict[str, ModelStatus]:
    """Every family's ``x-model-status`` (id -> {status, replacement}); an id not listed is active.

    Checked when read: a catalogue update that names an unknown status, a
    deprecated model without a replacement or a replacement the catalogue lacks
    is a bug in the shipped data, said at once rather than half-applied.
    """
    known = _catalogue()
    out: dict[str, ModelStatus] = {}
    for fam in families():
        for model_id, entry in family_schema(fam).get("x-model-status", {}).items():
            where = f"models/{fam}.schema.json x-model-status {model_id!r}"
            if model_id not in known or known[model_id].family != fam:
                raise ValueError(f"{where}: not one of this family's x-models")
            state, repl = entry.get("status"), entry.get("replacement")
            if state not in STATUSES:
                raise ValueError(f"{where}: status must be one of {', '.join(STATUSES)}, not {state!r}")
            if state == "deprecated" and not repl:
                raise ValueError(f"{where}: a deprecated model names its replacement")
            if repl is not None and (repl not in known or repl == model_id):
                raise ValueError(f"{where}: replacement {repl!r} is not another model of the catalogue")
            out[model_id] = ModelStatus(state, repl)
    return out


def model_status(model_id: str) -> ModelStatus:
    """The catalogue's status of a model id (``active`` for any id it does not mark)."""
    return _statuses().get(model_id, _ACTIVE)


def compare_offered(offered: Any) -> tuple[list[str], list[str]]:
    """``omniflow models --check``: (catalogue ids the API does not offer, offered ids the catalogue lacks).

    Retired models are expected to be gone, so they are not reported missing.
    """
    offered = set(offered)
    ours = {m for m in _catalogue() if model_status(m).state != "retired"}
    return sorted(ours - offered), sorted(offered - set(_catalogue()))


def _parse(model_id: str, family: str, kind: str, aspect: str) -> Model:
    m = _MODEL_RE.match(model_id)
    if kind == "video" and m:
        return Model(model_id, kind, family, m["name"], m["version"], m["variant"] or "", m["res"], aspect)
    name, _, version = model_id.replace(":", "-").partition("-")
    return Model(model_id, kind, family, name, version, "", "", aspect)


def all_models() -> list[Model]:
    """Every model in the catalogue, in family then id order."""
    return sorted(_catalogue().values(), key=lambda m: (m.kind, m.family, m.id))


def get_model(model_id: str) -> Model | None:
    """The catalogue entry for an exact, case-sensitive id, or None."""
    return _catalogue().get(model_id)


def parse_model(model_id: str) -> Model | None:
    """Parse any id of the grammar ``<Family>-<version>[-<variant>]-<res>``, known or not."""
    known = get_model(model_id)
    if known:
        return known
    m = _MODEL_RE.match(model_id)
    if not m:
        return None
    return Model(model_id, "video", "", m["name"], m["version"], m["variant"] or "", m["res"])


def suggest_models(model_id: str, kind: str | None = None, n: int = 3) -> list[str]:
    """The nearest known ids, for "did you mean"."""
    ids = [m.id for m in _catalogue().values() if kind is None or m.kind == kind]
    by_lower = {i.lower(): i for i in ids}
    if model_id.lower() in by_lower:
        return [by_lower[model_id.lower()]]
    close = difflib.get_close_matches(model_id.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[c] for c in close]


@cache
def _validators(family: str) -> tuple[Any, Any]:
    from jsonschema import Draft202012Validator

    schema = family_schema(family)
    hard = Draft202012Validator(schema)
    adv = schema.get("x-advisory")
    soft = Draft202012Validator(adv) if adv else None
    return hard, soft


def show_value(value: Any) -> str:
    """A value as a message shows it: JSON spelling ("7", true), cut short."""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (str, bool, int, float)) or value is None else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fill(message: str, model_id: str, value: Any, field: str = "") -> str:
    # str.replace, not str.format: messages hold braces of their own ({index, prompt})
    return message.replace("{model}", model_id).replace("{value}", show_value(value)).replace("{field}", field)


def _violations(err: Any, schema: dict[str, Any], severity: str, model_id: str) -> list[Violation]:
    path = tuple(err.absolute_path)
    node = err.schema if isinstance(err.schema, dict) else {}
    rule = node.get("x-rule")
    api = node.get("x-api", True) is not False
    if err.validator == "required":
        missing = err.message.split("'")[1]
        return [Violation(path + (missing,), schema.get("x-required-messages", {}).get(missing, f"{missing} is required"), f"{missing}_required" if missing in ("model", "prompt", "seconds") else "required", severity)]
    if err.validator == "additionalProperties":
        extras = [k for k in err.instance if k not in node.get("properties", {})] if isinstance(err.instance, dict) else []
        sub = node.get("additionalProperties") if isinstance(node.get("additionalProperties"), dict) else {}
        out = []
        for field in extras or ["?"]:
            if sub.get("x-message"):
                out.append(Violation(path + (field,), _fill(sub["x-message"], model_id, field, field), sub.get("x-rule", "unknown_field"), severity, api=False))
            else:
                out.append(Violation(path + (field,), f"{field!r} {schema.get('x-additional-message', 'is not allowed')}", "unknown_field", severity, api=False))
        return out
    where = list(err.schema_path)
    if len(where) >= 2 and where[-2] == "propertyNames":
        # a mapping key the schema does not know: located at the key, named as written
        name = str(err.instance)
        return [Violation(path + (name,), _fill(node.get("x-message", f"{name} is not allowed"), model_id, name).replace(show_value(name), name), rule or "unknown_field", severity, False, name, tuple(err.validator_value) if err.validator == "enum" else ())]
    if rule is None:
        rule = "type" if err.validator == "type" else err.validator
    message = node.get("x-messages", {}).get(err.validator) or node.get("x-message") or err.message
    value, allowed = None, ()
    if err.validator == "enum":
        value, allowed = err.instance, tuple(err.validator_value)
    return [Violation(path, _fill(message, model_id, err.instance, str(path[-1]) if path else ""), rule, severity, api, value, allowed)]


def check_request(model_id: str, body: dict[str, Any], *, advisory: bool = True) -> list[Violation]:
    """Every rule the body breaks for that model, in the API's checking order.

    The model must be in the catalogue (check with :func:`get_model` first).
    With ``advisory=False`` only the hard ([SEED]) rules are checked.
    """
    model = get_model(model_id)
    if model is None:
        raise KeyError(model_id)
    schema = family_schema(model.family)
    hard, soft = _validators(model.family)
    found: dict[tuple[tuple[str | int, ...], str], Violation] = {}
    for err in hard.iter_errors(body):
        for leaf in _leaves(err):
            for v in _violations(leaf, schema, "error", model_id):
                found.setdefault((v.path, v.rule), v)
    if advisory and soft is not None:
        for err in soft.iter_errors(body):
            for leaf in _leaves(err):
                for v in _violations(leaf, schema, "warning", model_id):
                    if not any(k[0] == v.path and f.severity == "error" for k, f in found.items()):
                        found.setdefault((v.path, v.rule), v)
        if model.family == "kling":
            for v in _kling_storyboard(body):
                found.setdefault((v.path, v.rule), v)
    order = {r: i for i, r in enumerate(RULE_ORDER)}
    return sorted(found.values(), key=lambda v: (v.severity != "error", order.get(v.rule, len(order)), [str(p) for p in v.path]))


def _leaves(err: Any) -> list[Any]:
    """The specific errors under an ``if``/``allOf`` wrapper (``context`` holds them)."""
    if err.validator in ("allOf", "anyOf", "oneOf", "if", "then", "else", "propertyNames") and err.context:
        out: list[Any] = []
        for sub in err.context:
            out.extend(_leaves(sub))
        return out
    return [err]


def _kling_storyboard(body: dict[str, Any]) -> list[Violation]:
    """Kling multi-shot rules ([DOCS-old] "usually"): warnings, not errors."""
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        return []
    ext = meta.get("ext_info") or meta.get("ExtInfo")
    params = ext.get("AdditionalParameters") if isinstance(ext, dict) else None
    if not isinstance(params, dict) or not params.get("multi_shot"):
        return []
    base: tuple[str | int, ...] = ("metadata", "ext_info" if "ext_info" in meta else "ExtInfo", "AdditionalParameters")
    out: list[Violation] = []

    def warn(path: tuple[str | int, ...], msg: str) -> None:
        out.append(Violation(base + path, msg + " [DOCS-old]", "multi_shot", "warning"))

    shot_type = params.get("shot_type")
    if shot_type not in ("customize", "intelligence"):
        warn(("shot_type",), "multi_shot needs shot_type customize or intelligence")
    shots = params.get("multi_prompt")
    if shot_type == "customize":
        if not isinstance(shots, list) or not 1 <= len(shots) <= 6:
            warn(("multi_prompt",), "shot_type customize needs multi_prompt with 1 to 6 shots")
            return out
        total = 0
        for i, shot in enumerate(shots):
            if not isinstance(shot, dict):
                warn(("multi_prompt", i), "a shot is {index, prompt, duration}")
                continue
            d = shot.get("duration")
            if not isinstance(d, int) or isinstance(d, bool) or d < 1:
                warn(("multi_prompt", i, "duration"), "duration must be a whole number of seconds >= 1")
            else:
                total += d
            p = shot.get("prompt")
            if not isinstance(p, str) or not p.strip():
                warn(("multi_prompt", i, "prompt"), "each shot needs a prompt")
            elif len(p) > 512:
                warn(("multi_prompt", i, "prompt"), f"shot prompt is {len(p)} characters; Kling takes at most 512")
        seconds = body.get("seconds")
        if isinstance(seconds, str) and seconds.isdigit() and total and total != int(seconds):
            warn(("multi_prompt",), f"shot durations add up to {total}, but seconds is {seconds}")
    return out


def multi_prompt_shots(body: dict[str, Any]) -> list[tuple[str, float]]:
    """The (prompt, duration) of each Kling storyboard shot, or [] when there is none."""
    meta = body.get("metadata")
    ext = (meta.get("ext_info") or meta.get("ExtInfo")) if isinstance(meta, dict) else None
    params = ext.get("AdditionalParameters") if isinstance(ext, dict) else None
    if not isinstance(params, dict) or not params.get("multi_shot"):
        return []
    shots = params.get("multi_prompt")
    out = []
    for shot in shots if isinstance(shots, list) else []:
        if isinstance(shot, dict) and isinstance(shot.get("duration"), (int, float)):
            out.append((str(shot.get("prompt", "")), float(shot["duration"])))
    return out


# -- what each model takes, found by asking check_request (omniflow models, the MCP models tool) --

PROBE_SECONDS = tuple(str(n) for n in range(1, 21))
_PROBE_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "4:5", "5:4")
_PROBE_URL = "https://example.com/x.png"


def _accepts(model: str, body: dict[str, Any], rule_prefix: str, *, advisory: bool) -> bool:
    return not any(v.rule.startswith(rule_prefix) for v in check_request(model, body, advisory=advisory))


def describe_model(model_id: str) -> dict[str, Any]:
    """One model's constraints: seconds (hard), aspect ratios / images / videos (advisory).

    Probed through :func:`check_request`, never copied from the docs, so they
    cannot disagree with what validate and the emulator enforce.
    """
    m = get_model(model_id)
    assert m is not None
    base: dict[str, Any] = {"model": m.id, "prompt": "p"}
    if m.kind == "video":
        base["seconds"] = "5"
    info: dict[str, Any] = {"id": m.id, "kind": m.kind, "family": m.family, "resolution": m.resolution or None}
    if m.kind == "video":
        info["seconds"] = [s for s in PROBE_SECONDS
                           if _accepts(m.id, {**base, "seconds": s}, "seconds", advisory=False)]
    ratios = [r for r in _PROBE_RATIOS if _accepts(m.id, {**base, "aspect_ratio": r}, "aspect_ratio", advisory=True)]
    info["aspect_ratios"] = None if len(ratios) == len(_PROBE_RATIOS) else ratios
    most = None
    for n in range(0, 16):
        if not _accepts(m.id, {**base, "images": [_PROBE_URL] * n}, "images", advisory=True):
            most = n - 1
            break
    info["images_max"] = most
    if m.kind == "video":
        info["videos"] = _accepts(m.id, {**base, "videos": [_PROBE_URL]}, "videos", advisory=True)
    return info


def describe_catalogue() -> dict[str, Any]:
    """``omniflow models --json``: every family (title, kind, models) and every model's constraints."""
    fams = {f: {"title": family_schema(f).get("title", ""), "kind": family_schema(f).get("x-kind", "video"),
                "models": family_schema(f)["x-models"]} for f in families()}
    return {"families": fams, "models": [describe_model(m.id) for m in all_models()]}
