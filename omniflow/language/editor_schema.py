"""The pipeline language as one JSON Schema (draft-07) for editors: ``omniflow schema``.

yaml-language-server (VS Code's YAML extension, Neovim's yamlls) and
check-jsonschema speak draft-07, so this is draft-07: ``definitions``, and
every ``$ref`` alone in its object (draft-07 ignores a ``$ref``'s siblings).

The request fields of a remote step are built from the family schemas
(schemas/models/), so an editor flags what ``validate`` reports as an error
while the user types: a typo (``promt:``), a seconds value the family does not
take (``seconds: "7"`` on Veo), ``image:`` instead of ``images:``, a string
where a list is needed. Each family's fields apply through ``if``/``then`` on
the model id; a templated model (``"{{ model }}"``) gets the union of all
families. Only hard ([SEED]) rules are here: warnings are validate's job, and
an editor shows every schema failure as an error.

schemas/pipeline.schema.json is this module's output, byte for byte
(tests/editors check it); regenerate it with
``omniflow schema > schemas/pipeline.schema.json``.
"""

from __future__ import annotations

import json
from typing import Any

from omniflow.core import catalog
from omniflow.core.kinds import KINDS, MAX_TAKES, OWN_FIELDS, REMOTE_OWN_FIELDS, Kind

# a string holding a Jinja expression or statement: its value is only known after rendering
TEMPLATE = {"type": "string", "pattern": "\\{\\{|\\{%"}
_OWN_HELP = {
    "kind": {"enum": list(KINDS), "default": "video", "description": "Step kind (default video)."},
    "take": {"$ref": "#/definitions/take"},
    "takes": {"$ref": "#/definitions/takes"},
    "needs": {"$ref": "#/definitions/needs"},
    "description": {"type": "string"},
    "extra": {"type": "object", "description": "Merged into the API body unvalidated (part of the key): provider options the schemas do not know."},
}
# omniflow's own step fields (never sent): the ones above, and any the kinds registry adds
_OWN = {name: _OWN_HELP.get(name, {"description": f"omniflow's own field {name!r} (not sent to the API)."}) for name in REMOTE_OWN_FIELDS}
_LOCAL_OWN = {k: v for k, v in _OWN.items() if k in OWN_FIELDS} | {"kind": True}
_HELP = {
    "model": "Model id (see `omniflow models`), or a template.",
    "prompt": "Jinja template; {{ steps.<id>.url }} uses another step's output.",
    "seconds": "Duration; an integer is sent as a string.",
    "images": "http(s) URLs, {{ steps.<id>.url }}, or local files relative to the pipeline: a list.",
    "videos": "http(s) URLs, {{ steps.<id>.url }}, or local files relative to the pipeline: a list.",
    "firstframe": "An image: http(s) URL, {{ steps.<id>.url }} or a local file.",
    "lastframe": "An image: http(s) URL, {{ steps.<id>.url }} or a local file.",
}


def build() -> dict[str, Any]:
    """The whole pipeline schema, as a JSON value."""
    families = catalog.families()
    defs: dict[str, Any] = {
        "scalar": {"type": ["string", "number", "boolean"]},
        "combination": {"type": "object", "minProperties": 1, "additionalProperties": {"$ref": "#/definitions/scalar"}},
        "stepId": {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"},
        "template": TEMPLATE,
        "take": {"description": "Re-roll number, part of the cache key (default 1).", "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string"}]},
        "takes": {"description": f"How many candidates to make (takes take..take+N-1, 1 to {MAX_TAKES}); `omniflow pick` chooses the one that feeds what follows.",
                  "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_TAKES}, TEMPLATE]},
        "at": {"description": "Which frame: first, last, or seconds from the start.", "anyOf": [{"enum": ["first", "last"]}, {"type": "number", "minimum": 0}, TEMPLATE]},
        "needs": {"description": "Ordering-only dependencies.", "anyOf": [{"$ref": "#/definitions/stepId"}, {"type": "array", "items": {"$ref": "#/definitions/stepId"}}]},
    }
    union = _union_fields(families)
    model_ids = [m.id for m in catalog.all_models()]
    union["model"] = {"description": _HELP["model"], "anyOf": [{"enum": model_ids}, TEMPLATE]}
    defs["remoteDefaults"] = {
        "type": "object",
        "description": "Request fields merged under every step of this kind.",
        "properties": {**union, "take": {"$ref": "#/definitions/take"}, "takes": {"$ref": "#/definitions/takes"}, "extra": _OWN["extra"]},
        "additionalProperties": False,
    }
    defs["remoteStep"] = {
        "properties": {**union, **_OWN},
        "additionalProperties": False,
        "allOf": [
            {
                "if": {"properties": {"model": {"enum": list(catalog.family_schema(f)["x-models"])}}, "required": ["model"]},
                "then": {"$ref": f"#/definitions/family-{f}"},
            }
            for f in families
        ],
    }
    for f in families:
        defs[f"family-{f}"] = _family(f)
    defs["step"] = _step()
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://omniflow.dev/schemas/pipeline.schema.json",
        "title": "omniflow pipeline (language version 1)",
        "description": (
            "A YAML storyboard: vars, an optional matrix sweep, defaults per kind, and steps "
            "(video, image, frame, concat). Every string is a Jinja template. Generated by "
            "`omniflow schema` from schemas/models/*.schema.json: the request fields of each model "
            "family and its [SEED] rules; `omniflow validate` also reports the advisory ones."
        ),
        "type": "object",
        "required": ["omniflow", "name", "steps"],
        "additionalProperties": False,
        "properties": _top(),
        "definitions": defs,
    }


def text() -> str:
    """What ``omniflow schema`` prints and schemas/pipeline.schema.json holds."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def _top() -> dict[str, Any]:
    names = {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "not": {"enum": ["steps", "pipeline", "variant"]}}
    return {
        "omniflow": {"const": 1, "description": "Language version."},
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$", "description": "Pipeline name; outputs go to outputs/<name>/."},
        "description": {"type": "string"},
        "vars": {"type": "object", "description": "Template variables; `--set key=value` overrides one (value parsed as a YAML scalar).", "propertyNames": names},
        "matrix": {
            "type": "object",
            "description": "A sweep: one variant per combination of values, named by its values (style=hand-drawn-anime,seconds=5).",
            "properties": {
                "exclude": {"type": "array", "items": {"$ref": "#/definitions/combination"}, "description": "Partial combinations to drop."},
                "include": {"type": "array", "items": {"$ref": "#/definitions/combination"}, "description": "Full combinations to add."},
            },
            "propertyNames": names,
            "additionalProperties": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/scalar"}},
        },
        "defaults": {
            "type": "object",
            "description": "Fields merged under every step of that kind (nested mappings merge; the step wins).",
            "properties": {
                name: {"$ref": "#/definitions/remoteDefaults"} if kind.remote else _local_defaults(kind)
                for name, kind in KINDS.items()
            },
            "additionalProperties": False,
        },
        "steps": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": "^[a-z_][a-z0-9_]*$"}, "additionalProperties": {"$ref": "#/definitions/step"}},
    }


def _step() -> dict[str, Any]:
    local = [k for k in KINDS.values() if not k.remote]
    branches: list[dict[str, Any]] = [
        {
            "if": {"properties": {"kind": {"const": kind.name}}, "required": ["kind"]},
            "then": {
                **({"required": [f.name for f in kind.fields.values() if f.required]} if any(f.required for f in kind.fields.values()) else {}),
                "properties": {**_LOCAL_OWN, **{f.name: _local_field(f) for f in kind.fields.values()}},
                "additionalProperties": False,
            },
        }
        for kind in local
    ]
    branches.append({"if": {"properties": {"kind": {"enum": [k.name for k in local]}}, "required": ["kind"]}, "else": {"$ref": "#/definitions/remoteStep"}})
    return {"type": "object", "properties": {"kind": _OWN["kind"]}, "allOf": branches}


def _local_field(f: Any) -> dict[str, Any]:
    if f.step_ref == "one":
        return {"$ref": "#/definitions/stepId"}
    if f.step_ref == "many":
        return {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/stepId"}}
    if f.name == "at":
        return {"$ref": "#/definitions/at"}
    return {}  # its checks are in code (omniflow/core/kinds.py): validate reports them


def _local_defaults(kind: Kind) -> dict[str, Any]:
    fields = {f.name: _local_field(f) for f in kind.fields.values() if not f.step_ref}
    return {"type": "object", "properties": {**fields, "take": {"$ref": "#/definitions/take"}}, "additionalProperties": False}


def _union_fields(families: tuple[str, ...]) -> dict[str, Any]:
    """Every request field any family takes, typed loosely (the union of the families' types)."""
    out: dict[str, Any] = {}
    seen: dict[str, list[dict[str, Any]]] = {}
    for f in families:
        for name, prop in catalog.family_schema(f)["properties"].items():
            if "not" not in prop:
                seen.setdefault(name, []).append(prop)
    for name, props in seen.items():
        prop = props[0]
        if name == "model":
            prop = {k: v for k, v in prop.items() if k != "enum"}
        elif any(p.get("enum") != prop.get("enum") for p in props):
            # one name, other values per family (response_format: image url|b64_json, speech mp3|...):
            # the union of the values; each family's branch below holds its own
            values = [v for p in props if "enum" in p for v in p["enum"]]
            loose = {k: v for k, v in prop.items() if k not in ("enum", "type")}
            prop = {**loose, "enum": list(dict.fromkeys(values))} if all("enum" in p for p in props) else loose
        out[name] = _editor_field(name, prop)
    for f in families:
        for name, prop in catalog.family_schema(f)["properties"].items():
            if name not in out:
                out[name] = _editor_field(name, prop)  # refused everywhere: image, video
    return out


def _family(family: str) -> dict[str, Any]:
    schema = catalog.family_schema(family)
    props = {name: _editor_field(name, prop) for name, prop in schema["properties"].items() if name != "model"}
    out: dict[str, Any] = {
        "description": schema.get("title", family),
        "properties": props,
        "propertyNames": {"enum": [*schema["properties"], *_OWN]},
    }
    rules = [_editor_rule(r) for r in schema.get("allOf", [])]
    if rules:
        out["allOf"] = rules
    return out


def _editor_field(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    """A family's field as a pipeline may write it: a template where a value goes, ints for seconds."""
    desc = _HELP.get(name) or prop.get("description", "")
    if "not" in prop:
        return {"not": {}, "description": prop.get("x-message") or desc}
    typed: dict[str, Any] = {}
    for k in ("type", "minimum", "maximum"):
        if k in prop:
            typed[k] = prop[k]
    if "enum" in prop:
        typed = {"enum": _with_ints(name, prop["enum"])}
    elif prop.get("type") == "array":
        typed = {"type": "array", "items": {"type": "string"}} if "items" in prop and prop["items"].get("type") == "string" else {"type": "array"}
    if name == "seconds" and "enum" not in typed:
        typed = {"type": ["string", "integer"]}
    if name == "prompt":
        typed = {"type": "string", "pattern": "\\S"}
    out: dict[str, Any] = {"description": desc} if desc else {}
    if typed.get("type") == "string" and "enum" not in typed and "pattern" not in typed:
        out.update(typed)  # any string, templates included
    else:
        out["anyOf"] = [typed, TEMPLATE]
    return out


def _editor_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A family's hard allOf rule (seconds per model) in editor form: same if/then/else, YAML ints."""
    out: dict[str, Any] = {}
    for k, v in rule.items():
        if k in ("if", "then", "else"):
            out[k] = _editor_rule(v)
        elif k == "allOf":
            out[k] = [_editor_rule(x) for x in v]
        elif k == "properties":
            out[k] = {n: ({"anyOf": [{"enum": _with_ints(n, p["enum"])}, TEMPLATE]} if "enum" in p else {kk: vv for kk, vv in p.items() if not kk.startswith("x-")}) for n, p in v.items()}
        elif not k.startswith("x-"):
            out[k] = v
    if "if" in out:
        out["if"] = {**out["if"], "required": sorted(out["if"].get("properties", {}))}
    return out


def _with_ints(name: str, values: list[Any]) -> list[Any]:
    """seconds: "8" may be written 8 in YAML (omniflow sends a string)."""
    if name != "seconds":
        return list(values)
    return list(values) + [int(v) for v in values if isinstance(v, str) and v.isdigit()]
