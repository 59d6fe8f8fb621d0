"""Create-request checks in the gateway's order (API reference §5.2, §12 items 9-20).

Gateway stage (middleware, OpenAI-style errors): content type and JSON, model
present, model known. Task-relay stage (TaskError): the Go struct decode
(``seconds`` must be a string), blank prompt. Upstream stage: the family rules
from :func:`omniflow.core.catalog.check_request` — one source of truth with the
pipeline validator — of which the FIRST hard violation the API itself enforces
is answered, wrapped as the relay wraps an upstream 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from omniflow.core import catalog
from omniflow.emulator import bodies

# The Go struct the classic relay decodes the body into: field -> Go type.
_GO_FIELDS = {"model": "string", "prompt": "string", "seconds": "string", "images": "[]string"}


@dataclass(frozen=True)
class Rejection:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Accepted:
    body: dict[str, Any]
    model: catalog.Model


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _json_detail(text: str, err: json.JSONDecodeError) -> str:
    """A Go encoding/json style message for a syntax error."""
    if err.pos >= len(text.rstrip()):
        return "unexpected end of JSON input"
    ch = text[err.pos]
    where = "looking for beginning of value" if err.msg.startswith("Expecting value") else "after object key:value pair"
    if err.msg.startswith("Expecting property name"):
        where = "looking for beginning of object key string"
    return f"invalid character {ch!r} {where}"


def parse_json(raw: bytes, content_type: str, request_id: str) -> dict[str, Any] | Rejection:
    """Gateway stage 1: a JSON object with a model name."""
    suffix = f" (request id: {request_id})"
    if "json" not in content_type.lower():
        # Without a JSON content type the gateway never reads the model.
        return Rejection(400, bodies.openai_error("Model name not specified, model name cannot be empty" + suffix))
    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as err:
        return Rejection(400, bodies.openai_error(f"Invalid request: {_json_detail(text, err)}" + suffix))
    if not isinstance(body, dict):
        detail = f"json: cannot unmarshal {_go_type(body)} into Go value of type map[string]interface {{}}"
        return Rejection(400, bodies.openai_error(f"Invalid request: {detail}" + suffix))
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        return Rejection(400, bodies.openai_error(f"Invalid request: {_unmarshal(model, 'model', 'string')}" + suffix))
    if not model:
        return Rejection(400, bodies.openai_error("Model name not specified, model name cannot be empty" + suffix))
    return body


def known_model(model_id: str, kind: str, request_id: str) -> catalog.Model | Rejection:
    """Gateway stage 2: a channel for the model (the kind must fit the route)."""
    model = catalog.get_model(model_id)
    if model is None or model.kind != kind:
        msg = f"No available channel for model {model_id} under group default (distributor) (request id: {request_id})"
        return Rejection(503, bodies.openai_error(msg, code="model_not_found"))
    return model


def _decode_struct(body: dict[str, Any]) -> Rejection | None:
    """Relay stage: Go's decode into the task struct (null is fine, wrong types are not)."""
    for name, go_type in _GO_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if go_type == "[]string" and not isinstance(value, list):
            return Rejection(400, bodies.task_error("invalid_json", _unmarshal(value, name, go_type)))
        for item in value if go_type == "[]string" else [value]:
            if not isinstance(item, str):
                return Rejection(400, bodies.task_error("invalid_json", _unmarshal(item, name, "string")))
    return None


def _unmarshal(value: Any, name: str, go_type: str) -> str:
    """Go's encoding/json message for ``value`` in struct field ``name`` of ``go_type``."""
    return f"json: cannot unmarshal {_go_type(value)} into Go struct field .{name} of type {go_type}"


def first_api_violation(model_id: str, body: dict[str, Any]) -> catalog.Violation | None:
    """The first hard rule the API enforces that the body breaks."""
    # Go decoded null as "absent": the upstream sees the field missing.
    checked = {k: v for k, v in body.items() if not (v is None and k in _GO_FIELDS)}
    for v in catalog.check_request(model_id, checked, advisory=False):
        if v.api and v.severity == "error":
            return v
    return None


def _gateway(raw: bytes, content_type: str, request_id: str, kind: str) -> Accepted | Rejection:
    """Gateway stages 1 and 2, shared by the video and image routes."""
    parsed = parse_json(raw, content_type, request_id)
    if isinstance(parsed, Rejection):
        return parsed
    model = known_model(parsed["model"], kind, request_id)
    return model if isinstance(model, Rejection) else Accepted(parsed, model)


def _has_prompt(body: dict[str, Any]) -> bool:
    prompt = body.get("prompt")
    return isinstance(prompt, str) and bool(prompt.strip())


def check_prompt(body: Any) -> Rejection | None:
    """Relay stage: a missing or blank prompt, answered as the video routes answer it."""
    if isinstance(body, dict) and _has_prompt(body):
        return None
    return Rejection(400, bodies.task_error("invalid_request", "prompt is required"))


def check_video_create(raw: bytes, content_type: str, request_id: str) -> Accepted | Rejection:
    """All create checks for the video routes, in order; the first failure answers."""
    found = _gateway(raw, content_type, request_id, "video")
    if isinstance(found, Rejection):
        return found
    bad = _decode_struct(found.body) or check_prompt(found.body)
    if bad is not None:
        return bad
    violation = first_api_violation(found.model.id, found.body)
    if violation is not None:
        return Rejection(400, bodies.upstream_rejection(violation.message))
    if audio_requested(found.body) and not audio_capable(found.model):
        message = f"audio_generation is not supported by {found.model.id}: only audio-visual models generate audio"
        return Rejection(400, bodies.upstream_rejection(message))
    return found


# Families (and variants) the reference (§9.2, "audio" column) marks audio-visual. Used while
# the catalogue has no flag of its own (an ``x-audio`` key in a family schema wins). Families
# marked [UNVERIFIED] there (Sora, Jimeng, Hunyuan, Mingmou) are not refused: the reference's
# policy is that unverified limits are not enforced. Refused: Hailuo ("—") and the Vidu Q3
# variants other than q3-mix ("q3-mix: audio_generation").
_AUDIO_FAMILIES = {"kling", "veo", "vidu-q2", "seedance", "sora", "jimeng", "hunyuan", "mingmou"}
_AUDIO_VARIANTS = {"vidu-q3": {"mix"}}
_ON = (True, "Enabled", "enabled", "true", "True")


def audio_capable(model: catalog.Model) -> bool:
    """Whether the model generates sound (audio_generation is honoured, not refused)."""
    flag = getattr(model, "audio", None)
    if isinstance(flag, bool):
        return flag
    declared = catalog.family_schema(model.family).get("x-audio")
    if isinstance(declared, bool):
        return declared
    if isinstance(declared, list):
        return model.variant in declared or model.id in declared
    if model.family in _AUDIO_VARIANTS:
        return model.variant in _AUDIO_VARIANTS[model.family]
    return model.family in _AUDIO_FAMILIES


def audio_requested(body: Any) -> bool:
    """audio_generation switched on: top level (true / "Enabled"), or the families' metadata switches."""
    if not isinstance(body, dict):
        return False
    if body.get("audio_generation") in _ON:
        return True
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        return False
    output = meta.get("output_config")
    if isinstance(output, dict) and output.get("AudioGeneration") in _ON:
        return True  # Vidu Q2 [DOCS-new]
    return meta.get("generate_audio") is True  # Seedance


def check_image_create(raw: bytes, content_type: str, request_id: str) -> Accepted | Rejection:
    """The image route: same gateway stage; its own errors are OpenAI style."""
    found = _gateway(raw, content_type, request_id, "image")
    if isinstance(found, Rejection):
        return found
    if not _has_prompt(found.body):
        return _image_rejection("prompt is required")
    violation = first_api_violation(found.model.id, found.body)
    return found if violation is None else _image_rejection(violation.message)


def _image_rejection(message: str) -> Rejection:
    return Rejection(400, bodies.openai_error(message, type="invalid_request_error", code="invalid_request"))
