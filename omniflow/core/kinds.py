"""The step kinds, as a registry: what each kind accepts and what request it produces.

Remote kinds (``video``, ``image``) send every non-omniflow field as the API
body, validated by the model family's schema. Local kinds (``frame``,
``concat``, ``mix``, ``subtitles``) have their own few fields; the ones naming
other steps (``from``, ``inputs``, ``video``) are data dependencies. A new
kind (speech, music, ...) is one more entry in :data:`KINDS`, not another
branch in the loader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# omniflow's own step fields, never sent to the API (``caption``: the line a
# ``subtitles`` step with ``captions: shots`` shows while this step's clip plays)
OWN_FIELDS = ("kind", "needs", "take", "description", "caption")
# ``takes: N``: a remote step makes N candidates (takes take..take+N-1); local steps are
# deterministic, so re-rolling them would make N identical files
REMOTE_OWN_FIELDS = OWN_FIELDS + ("extra", "takes")
MAX_TAKES = 16
# request fields of remote steps that carry media inputs: local file names are allowed there
MEDIA_FIELDS = {"images": "image", "videos": "video", "firstframe": "image", "lastframe": "image"}


def _check_at(value: Any) -> str | None:
    if value in ("first", "last"):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return None
    return f"at must be first, last or a number of seconds >= 0, not {value!r}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_audio(value: Any) -> str | None:
    """mix ``audio``: a non-empty list of {from, at, volume, fade, bed}."""
    if not isinstance(value, list) or not value:
        return "audio must be a non-empty list of {from, at, volume, fade}"
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or not isinstance(entry.get("from"), str):
            return f"audio[{i}] must be a mapping with from: (a step output, {{{{ steps.<id>.url }}}})"
        unknown = sorted(set(entry) - {"from", "at", "volume", "fade", "bed"})
        if unknown:
            return f"audio[{i}]: unknown field {unknown[0]!r} (fields: from, at, volume, fade, bed)"
        for name, low, high in (("at", 0, None), ("volume", 0, 2), ("fade", 0, None)):
            v = entry.get(name)
            if v is not None and (not _number(v) or v < low or (high is not None and v > high)):
                limit = f"between {low} and {high}" if high is not None else f">= {low}"
                return f"audio[{i}].{name} must be a number {limit}, not {v!r}"
        if not isinstance(entry.get("bed", False), bool):
            return f"audio[{i}].bed must be true or false"
    return None


def _check_original(value: Any) -> str | None:
    return None if value in ("keep", "mute", "duck") else f"original must be keep, mute or duck, not {value!r}"


def _check_lines(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        return "lines must be a non-empty list of {text, at, until}"
    for i, line in enumerate(value):
        if not isinstance(line, dict) or not isinstance(line.get("text"), str):
            return f"lines[{i}] must be a mapping {{text, at, until}}"
        at, until = line.get("at"), line.get("until")
        if not (_number(at) and _number(until) and 0 <= at < until):
            return f"lines[{i}]: at and until must be seconds with 0 <= at < until"
    return None


def _check_captions(value: Any) -> str | None:
    if value is None or value == "shots":
        return None
    if isinstance(value, list) and all(v is None or isinstance(v, str) for v in value):
        return None
    return "captions must be shots or a list of texts, one per clip of the concat"


def _check_transition(value: Any) -> str | None:
    """concat ``transition: {crossfade: <seconds>}``: picture and sound cross-fade between clips."""
    fade = value.get("crossfade") if isinstance(value, dict) and set(value) == {"crossfade"} else None
    if _number(fade) and fade >= 0:
        return None
    return f"transition must be {{crossfade: <seconds >= 0>}}, not {value!r}"


def _check_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"burn must be true or false, not {value!r}"


@dataclass(frozen=True)
class LocalField:
    """One field of a local kind."""

    name: str
    required: bool = False
    default: Any = None
    step_ref: str = ""  # "one" | "many" when the field names upstream steps
    accepts: tuple[str, ...] = ()  # output types the referenced steps must have
    check: Callable[[Any], str | None] | None = None  # rendered value → error text or None


@dataclass(frozen=True)
class Kind:
    name: str
    remote: bool
    output: str  # what the step produces: "video" | "image" (subtitles: the burned video, or its .srt)
    model_kind: str = ""  # catalogue kind of the model for remote kinds
    fields: Mapping[str, LocalField] = field(default_factory=dict)  # local kinds only

    @property
    def own_fields(self) -> tuple[str, ...]:
        return REMOTE_OWN_FIELDS if self.remote else OWN_FIELDS

    def allowed_fields(self) -> tuple[str, ...]:
        return self.own_fields + tuple(self.fields)


KINDS: dict[str, Kind] = {
    "video": Kind("video", remote=True, output="video", model_kind="video"),
    "image": Kind("image", remote=True, output="image", model_kind="image"),
    # API reference §16: a voice-over line (POST /v1/audio/speech, the answer is the audio) and a
    # Suno song (an async task of two clips; ``clip: 1|2`` picks the output, never sent)
    "speech": Kind("speech", remote=True, output="audio", model_kind="speech"),
    "music": Kind("music", remote=True, output="audio", model_kind="music"),
    "frame": Kind(
        "frame",
        remote=False,
        output="image",
        fields={
            "from": LocalField("from", required=True, step_ref="one", accepts=("video",)),
            "at": LocalField("at", default="last", check=_check_at),
        },
    ),
    "concat": Kind(
        "concat",
        remote=False,
        output="video",
        # transition: left unset, it stays out of the request, so the keys of existing concats do not change
        fields={"inputs": LocalField("inputs", required=True, step_ref="many", accepts=("video",)),
                "transition": LocalField("transition", check=_check_transition)},
    ),
    # audio[].from names its step by template ({{ steps.vo.url }}): the loader knows step
    # references only in from/inputs-style fields and in templates
    "mix": Kind(
        "mix",
        remote=False,
        output="video",
        fields={
            "video": LocalField("video", required=True, step_ref="one", accepts=("video",)),
            "audio": LocalField("audio", required=True, check=_check_audio),
            "original": LocalField("original", default="keep", check=_check_original),
        },
    ),
    "subtitles": Kind(
        "subtitles",
        remote=False,
        output="video",
        fields={
            "from": LocalField("from", required=True, step_ref="one", accepts=("video",)),
            "lines": LocalField("lines", check=_check_lines),
            "captions": LocalField("captions", check=_check_captions),
            "burn": LocalField("burn", default=False, check=_check_bool),
        },
    ),
}

DEFAULT_KIND = "video"
