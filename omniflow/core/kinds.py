"""The step kinds, as a registry: what each kind accepts and what request it produces.

Remote kinds (``video``, ``image``) send every non-omniflow field as the API
body, validated by the model family's schema. Local kinds (``frame``,
``concat``) have their own few fields; the ones naming other steps (``from``,
``inputs``) are data dependencies. A new kind (tts, music, ...) is one more
entry in :data:`KINDS`, not another branch in the loader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# omniflow's own step fields, never sent to the API
OWN_FIELDS = ("kind", "needs", "take", "description")
REMOTE_OWN_FIELDS = OWN_FIELDS + ("extra",)
# request fields of remote steps that carry media inputs: local file names are allowed there
MEDIA_FIELDS = {"images": "image", "videos": "video", "firstframe": "image", "lastframe": "image"}


def _check_at(value: Any) -> str | None:
    if value in ("first", "last"):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return None
    return f"at must be first, last or a number of seconds >= 0, not {value!r}"


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
    output: str  # what the step produces: "video" | "image"
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
        fields={"inputs": LocalField("inputs", required=True, step_ref="many", accepts=("video",))},
    ),
}

DEFAULT_KIND = "video"
