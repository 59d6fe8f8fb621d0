"""``omniflow export FILE [STEP] --format otio|fcpxml|edl -o PATH``: the edit, for real editors.

Reads the edit from the pipeline (which clips, in which order, which sounds
at which offsets) and the lock (which files were made: their materialized
copies under outputs/, their durations, keys and models). No network, no
rendering: the clips must have been run (``omniflow run``) first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from omniflow.cli._common import echo_err, handles_errors
from omniflow.cli._load import load_pipeline, pipeline_options
from omniflow.errors import OmniflowError, UsageError

EDIT_KINDS = ("concat", "mix")


@click.command()
@click.argument("file")
@click.argument("step", required=False)
@click.option("--variant", default=None, help="Variant name (default: the first).")
@click.option("--format", "fmt", type=click.Choice(["otio", "fcpxml", "edl"]), required=True,
              help="otio (OpenTimelineIO JSON), fcpxml (Final Cut Pro X / Resolve), edl (CMX 3600, picture only).")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@pipeline_options
@handles_errors
def export(file: str, step: str | None, variant: str | None, fmt: str, out: str, sets: tuple[str, ...],
           backend: str | None, strict: bool) -> None:
    """Write the edit of a concat or mix step (default: the last one) as a timeline.

    Clips in cut order with their files under outputs/ (paths relative to the
    written file), in and out points, the mix's audio tracks at their
    offsets, and a marker per shot with its prompt, model, take and key.
    """
    from omniflow.media import timeline
    from omniflow.store.lock import read_lock

    pipeline = load_pipeline(file, sets=sets, backend=backend, strict=strict, announce=False)
    chosen = _variant(pipeline, variant)
    lock = read_lock(pipeline.lock_path)
    if lock is None:
        raise OmniflowError(f"{pipeline.lock_path.name}: no lock yet; run the pipeline first (omniflow run {file})")
    target = _target(pipeline, chosen, step)
    dest = Path(out)
    edit = Edit(pipeline, chosen, lock, dest.resolve().parent)
    shots, sounds, crossfade = edit.resolve(target)
    tl = timeline.build(f"{pipeline.name}:{target.id}", shots, sounds, crossfade)
    dest.parent.mkdir(parents=True, exist_ok=True)
    timeline.write(tl, dest, fmt)
    tracks = f"{len(shots)} clip(s)" + (f", {len(sounds)} audio track(s)" if sounds else "")
    if fmt == "edl" and sounds:
        tracks += " (an EDL carries the picture cut only)"
    click.echo(f"wrote {dest}: {target.id}, {tracks}")


def _variant(pipeline: Any, name: str | None) -> Any:
    if name is None:
        return pipeline.variants[0]
    names = [v.name for v in pipeline.variants]
    if name not in names:
        from omniflow.language.suggest import did_you_mean

        raise UsageError(f"no variant {name!r}{did_you_mean(name, names)}; variants: {', '.join(names)}")
    return pipeline.variants[names.index(name)]


def _target(pipeline: Any, variant: Any, step: str | None) -> Any:
    ids = [s.id for s in variant.steps]
    if step is None:
        edits = [sid for sid in pipeline.step_ids if sid in ids and variant.step(sid).kind in EDIT_KINDS]
        if not edits:
            raise UsageError("the pipeline has no concat or mix step to export")
        return variant.step(edits[-1])
    if step not in ids:
        from omniflow.language.suggest import did_you_mean

        raise UsageError(f"no step {step!r}{did_you_mean(step, ids)}")
    found = variant.step(step)
    if found.kind not in EDIT_KINDS:
        raise UsageError(f"{step} is {found.kind} step; export takes a concat or mix step")
    return found


class Edit:
    """Steps of one variant resolved to their made files, relative to where the timeline goes."""

    def __init__(self, pipeline: Any, variant: Any, lock: Any, base: Path) -> None:
        self.pipeline, self.variant, self.lock, self.base = pipeline, variant, lock, base
        self.by_key = {s.key: s for s in variant.steps}

    def step_of(self, placeholder: Any, where: str) -> Any:
        from omniflow.core.keys import upstream_key

        key = upstream_key(placeholder)
        if key is None or key not in self.by_key:
            raise UsageError(f"{where}: {placeholder!r} is not a step of this pipeline")
        return self.by_key[key]

    def resolve(self, target: Any) -> tuple[list[Any], list[Any], float]:
        from omniflow.media.timeline import Sound

        sounds: list[Any] = []
        video = target
        if target.kind == "mix":
            video = self.step_of(target.request.get("video"), f"{target.id}.video")
            for i, entry in enumerate(target.request.get("audio") or []):
                src = self.step_of(entry.get("from"), f"{target.id}.audio[{i}].from")
                media, seconds, info = self.made(src)
                sounds.append(Sound(src.id, media, float(entry.get("at") or 0), seconds, info))
        clips = [video]
        crossfade = 0.0
        if video.kind == "concat":
            clips = [self.step_of(p, f"{video.id}.inputs[{i}]") for i, p in enumerate(video.request.get("inputs") or [])]
            transition = video.request.get("transition")
            if isinstance(transition, dict) and isinstance(transition.get("crossfade"), (int, float)):
                crossfade = float(transition["crossfade"])
        return [self.shot(s) for s in clips], sounds, crossfade

    def shot(self, step: Any) -> Any:
        from omniflow.media.timeline import Shot

        media, seconds, info = self.made(step)
        return Shot(step.id, media, seconds, str(info.get("prompt") or step.id), info)

    def made(self, step: Any) -> tuple[str, float, dict[str, Any]]:
        """The step's materialized file (relative), its seconds, and what a marker tells about it."""
        entry = self.lock.step(self.variant.name, step.id)
        if entry is None or not entry.outputs:
            raise OmniflowError(f"{step.id}: not in the lock yet; run the pipeline first")
        if entry.key != step.key:
            echo_err(f"warning: {step.id} changed since it was made (the lock has an older take); exporting that")
        obj = entry.outputs[0]
        path = self._output_path(step.id, obj.ext)
        if not path.is_file():
            raise OmniflowError(f"{path}: missing; run the pipeline again to materialize its outputs")
        seconds = obj.duration
        if seconds is None:
            from omniflow.media.audio import media_duration

            seconds = media_duration(path)
        request = entry.request or {}
        info = {"step": step.id, "kind": step.kind, "prompt": request.get("prompt") or request.get("input") or "",
                "model": entry.model or "", "take": step.take, "key": entry.key, "task_id": entry.task_id or ""}
        return os.path.relpath(path, self.base), float(seconds), info

    def _output_path(self, step_id: str, ext: str) -> Path:
        # design §2: outputs/<pipeline>/[<variant>/]<step>.<ext>
        base = self.pipeline.root / "outputs" / self.pipeline.name
        if self.variant.name:
            base = base / self.variant.name
        return base / f"{step_id}{ext}"
