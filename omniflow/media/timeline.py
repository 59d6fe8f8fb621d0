"""The edit of a ``concat`` / ``mix`` step as an OpenTimelineIO timeline, for real editors.

Pure values in, an ``otio.schema.Timeline`` out; writing goes through
OpenTimelineIO's maintained adapters (``otio_json``, ``fcpx_xml`` from
otio-fcpx-xml-adapter, ``cmx_3600`` from otio-cmx3600-adapter) — never a
hand-written XML or EDL writer. One video track "V1" holds the shots in cut
order, each a clip of its whole materialized file (in point 0, out point its
duration) with a marker carrying the shot's prompt, model, take and key
(also under the clip's ``metadata["omniflow"]``). A crossfade becomes an OTIO
transition. Each ``mix`` audio entry is its own audio track: a gap of ``at``
seconds, then the sound, cut at the end of the picture.

The timeline's rate is :data:`RATE` (24 fps) whatever the proxies' rate: edit
decision lists need a timecode rate, and seconds convert exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RATE = 24.0
FORMATS = {"otio": "otio_json", "fcpxml": "fcpx_xml", "edl": "cmx_3600"}


@dataclass(frozen=True)
class Shot:
    name: str  # the step id
    media: str  # path of the file, relative to the timeline file
    seconds: float
    marker: str  # what the marker says (the prompt)
    info: dict[str, Any] = field(default_factory=dict)  # prompt, model, take, key


@dataclass(frozen=True)
class Sound:
    name: str
    media: str
    at: float
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


def _t(seconds: float) -> Any:
    import opentimelineio as otio

    return otio.opentime.RationalTime(round(seconds * RATE, 6), RATE)


def _range(start: float, seconds: float) -> Any:
    import opentimelineio as otio

    return otio.opentime.TimeRange(_t(start), _t(seconds))


def _clip(name: str, media: str, seconds: float, info: dict[str, Any], start: float = 0.0,
          used: float | None = None) -> Any:
    import opentimelineio as otio

    ref = otio.schema.ExternalReference(target_url=media, available_range=_range(0, seconds))
    return otio.schema.Clip(name=name, media_reference=ref, metadata={"omniflow": dict(info)},
                            source_range=_range(start, seconds - start if used is None else used))


def build(name: str, shots: Sequence[Shot], sounds: Sequence[Sound] = (), crossfade: float = 0.0) -> Any:
    """The timeline: shots in order on V1, one audio track per sound."""
    import opentimelineio as otio

    timeline = otio.schema.Timeline(name=name)
    video = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for i, shot in enumerate(shots):
        if i and crossfade:
            video.append(otio.schema.Transition(name="crossfade", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                                                in_offset=_t(crossfade / 2), out_offset=_t(crossfade / 2)))
        # a crossfade overlaps neighbours: each side gives half of it to the transition (its handle)
        head = crossfade / 2 if i else 0.0
        tail = crossfade / 2 if i + 1 < len(shots) else 0.0
        clip = _clip(shot.name, shot.media, shot.seconds, shot.info, head, shot.seconds - head - tail)
        clip.markers.append(otio.schema.Marker(name=shot.marker[:200] or shot.name, marked_range=_range(0, 0),
                                               color=otio.schema.MarkerColor.RED, metadata={"omniflow": dict(shot.info)}))
        video.append(clip)
    timeline.tracks.append(video)
    length = sum(s.seconds for s in shots) - crossfade * max(0, len(shots) - 1)
    for i, sound in enumerate(sounds):
        track = otio.schema.Track(name=f"A{i + 1}", kind=otio.schema.TrackKind.Audio)
        if sound.at > 0:
            track.append(otio.schema.Gap(source_range=_range(0, sound.at)))
        used = max(0.0, min(sound.seconds, length - sound.at))
        track.append(_clip(sound.name, sound.media, sound.seconds, sound.info, 0.0, used))
        timeline.tracks.append(track)
    return timeline


def write(timeline: Any, path: Path, fmt: str) -> Path:
    import opentimelineio as otio

    otio.adapters.write_to_file(timeline, str(path), adapter_name=FORMATS[fmt])
    return path


def read(path: Path, fmt: str) -> Any:
    import opentimelineio as otio

    return otio.adapters.read_from_file(str(path), adapter_name=FORMATS[fmt])
