"""``plan --diff REV``: what changed in a pipeline since a git revision, and what it costs to catch up.

The file's text at ``REV`` is read with ``git show REV:<path>`` (run in the
pipeline's folder, so any repository layout works), rendered with the same
backend as the working copy, and compared variant by variant and step by
step: which request fields changed (with old and new values when short),
which upstream steps changed, take bumps, added and removed steps and
variants. Steps whose key did not change are only counted. The last lines
are the plan's to-run totals: what bringing the outputs up to date would
generate and cost.

Local input files (``images: [assets/x.png]``) are read from the working
tree for both sides: git holds the old YAML, not necessarily the old assets,
so an asset edited since ``REV`` is not reported as a change.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omniflow.core.keys import FILE_PREFIX, UPSTREAM_PREFIX, upstream_key
from omniflow.errors import UsageError

_SHORT = 48  # longest value shown inline as old -> new


def git_show(path: Path, rev: str) -> tuple[str, str]:
    """(text of ``path`` at ``rev``, its path from the repository root); UsageError when impossible."""
    folder = path.resolve().parent
    prefix = _git(folder, "rev-parse", "--show-prefix", what=f"{folder} is not inside a git repository").strip()
    rel = f"{prefix}{path.name}"
    _git(folder, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", what=f"unknown git revision {rev!r}")
    text = _git(folder, "show", f"{rev}:{rel}", what=f"{rel} did not exist at {rev}")
    return text, rel


def _git(cwd: Path, *args: str, what: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        raise UsageError("plan --diff needs git, and git is not installed") from None
    except OSError as exc:
        raise UsageError(f"cannot run git: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise UsageError(what)
    return proc.stdout


def load_at(pipeline: Any, rev: str, *, set: Mapping[str, Any] | None = None) -> Any:  # noqa: A002
    """The pipeline as it was at ``rev`` (same backend; errors are located at ``REV:path``)."""
    from omniflow.language import loads
    from omniflow.store.picks import picks_path_for

    text, rel = git_show(Path(pipeline.path), rev)
    try:  # the picks as they were too: a pick is an input of the keys downstream
        picks_text, _ = git_show(picks_path_for(Path(pipeline.path)), rev)
    except UsageError:
        picks_text = None  # none committed at that revision
    return loads(text, file=f"{rev}:{rel}", base_dir=Path(pipeline.path).parent, set=set, backend=pipeline.backend,
                 picks_text=picks_text, picks=picks_text is not None)


def diff_against(pipeline: Any, rev: str, plan: Any, *, set: Mapping[str, Any] | None = None) -> list[str]:  # noqa: A002
    """Lines describing what changed since ``rev`` and what a run would now cost.

    ``set`` are the ``--set`` overrides to apply to the old version too (the
    working copy in ``pipeline`` is already rendered with them).
    """
    old = load_at(pipeline, rev, set=set)
    lines = [f"{pipeline.name}: {pipeline.path} at {rev} -> working tree ({pipeline.backend})"]
    return lines + diff_pipelines(old, pipeline) + totals_lines(plan)


def diff_pipelines(old: Any, new: Any) -> list[str]:
    """Per variant and step, what differs between two rendered pipelines."""
    lines: list[str] = []
    old_variants = {v.name: v for v in old.variants}
    new_names = [v.name for v in new.variants]
    single = len(new.variants) == 1 and len(old.variants) == 1 and new_names == [""] and "" in old_variants
    unchanged = 0
    groups: dict[tuple[str, ...], list[str]] = {}  # identical changes, listed once for all their variants
    for v in new.variants:
        before = old_variants.get(v.name)
        if before is None:
            lines.append(f"+ variant {v.name or 'default'} (new: {len(v.steps)} steps)")
            continue
        body, same = _diff_variant(before, v)
        unchanged += same
        if body:
            groups.setdefault(tuple(body), []).append(v.name or "default")
    for body, names in groups.items():
        if not single:
            if len(names) == len(new.variants) > 1:
                lines.append(f"all {len(names)} variants")
            else:
                lines.append(("variant " if len(names) == 1 else f"{len(names)} variants: ") + "; ".join(names))
        lines.extend(body)
    for name in old_variants:
        if name not in new_names:
            lines.append(f"- variant {name or 'default'} (removed)")
    if not lines:
        lines.append("no changes: every step has the same key as at that revision")
    elif unchanged:
        lines.append(f"({unchanged} step{'s' if unchanged != 1 else ''} unchanged)")
    return lines


def _diff_variant(old: Any, new: Any) -> tuple[list[str], int]:
    out: list[str] = []
    same = 0
    old_steps = {s.id: s for s in old.steps}
    new_steps = {s.id: s for s in new.steps}
    # key -> step id of each side, made once: step_changes names upstream placeholders with them
    old_ids = {s.key: s.id for s in old.steps}
    new_ids = {s.key: s.id for s in new.steps}
    for step in new.steps:
        before = old_steps.get(step.id)
        if before is None:
            what = f"{step.kind}" + (f", {step.model}" if step.model else "")
            out.append(f"  + {step.id} (added: {what})")
        elif before.key == step.key:
            same += 1
        else:
            changes = step_changes(before, step, old_steps, new_steps, old_ids, new_ids)
            out.append(f"  ~ {step.id}: " + "; ".join(changes))
    for sid in old_steps:
        if sid not in new_steps:
            out.append(f"  - {sid} (removed)")
    return out, same


def step_changes(old: Any, new: Any, old_steps: Mapping[str, Any], new_steps: Mapping[str, Any],
                 old_ids: Mapping[str, str], new_ids: Mapping[str, str]) -> list[str]:
    """Why a step's key changed: kind, take, request fields, upstream steps."""
    changes = []
    if old.kind != new.kind:
        changes.append(f"kind {old.kind} -> {new.kind}")
    if old.take != new.take and old.candidates and [c.key for c in old.candidates] == [c.key for c in new.candidates]:
        changes.append(f"pick {old.take} -> {new.take}")  # the same candidates, another one chosen
    elif old.take != new.take:
        changes.append(f"take {old.take} -> {new.take}")
    for name in sorted(set(old.request) | set(new.request)):
        if name not in old.request:
            changes.append(f"{name} added: {_show(new.request[name], new_ids)}")
        elif name not in new.request:
            changes.append(f"{name} removed")
        elif not _same_shape(old.request[name], new.request[name], old_ids, new_ids):
            a, b = old.request[name], new.request[name]
            if isinstance(a, str) and isinstance(b, str) and not a.startswith(UPSTREAM_PREFIX):
                changes.append(f"{name} {text_change(a, b)}")
            else:
                sa, sb = _show(a, old_ids), _show(b, new_ids)
                changes.append(f"{name} {sa} -> {sb}" if len(sa) + len(sb) <= 2 * _SHORT else f"{name} changed")
    ups = [u for u in new.inputs if u in old_steps and u in new_steps and old_steps[u].key != new_steps[u].key]
    if ups:
        changes.append("upstream changed: " + ", ".join(ups))
    return changes or ["key changed"]


def text_change(old: str, new: str, context: int = 16) -> str:
    """A one-line view of an edit: the changed middle with a little context, e.g. ``"…rain, [soft -> hard] light"``."""
    if len(old) + len(new) <= _SHORT:
        return f"{json.dumps(old, ensure_ascii=False)} -> {json.dumps(new, ensure_ascii=False)}"
    p = 0
    while p < min(len(old), len(new)) and old[p] == new[p]:
        p += 1
    s = 0
    while s < min(len(old), len(new)) - p and old[-1 - s] == new[-1 - s]:
        s += 1
    head = ("…" if p > context else "") + old[max(0, p - context):p]
    tail = old[len(old) - s:][:context] + ("…" if s > context else "")
    mid_old, mid_new = old[p:len(old) - s], new[p:len(new) - s]
    return f'"{head}[{_clip(mid_old)} -> {_clip(mid_new)}]{tail}"'


def _clip(text: str) -> str:
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"


def _same_shape(old: Any, new: Any, old_ids: Mapping[str, str], new_ids: Mapping[str, str]) -> bool:
    """Equal once upstream placeholders are compared by step id (their keys are reported as upstream)."""
    return json.dumps(_named(old, old_ids), sort_keys=True) == json.dumps(_named(new, new_ids), sort_keys=True)


def _show(value: Any, ids: Mapping[str, str]) -> str:
    text = json.dumps(_named(value, ids, files=True), ensure_ascii=False)
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + '..."'


def _named(node: Any, ids: Mapping[str, str], *, files: bool = False) -> Any:
    """Upstream placeholders as ``<step id>`` (as they are when no step has the key); local files as ``<file>`` if ``files``."""
    if files and isinstance(node, str) and node.startswith(FILE_PREFIX):
        return "<file>"
    key = upstream_key(node)
    if key is not None:
        return f"<{ids[key]}>" if key in ids else node
    if isinstance(node, Mapping):
        return {k: _named(v, ids, files=files) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_named(v, ids, files=files) for v in node]
    return node


def totals_lines(plan: Any) -> list[str]:
    """The cost of bringing the outputs up to date: the plan's to-run totals."""
    t = plan.totals
    if not t.to_run and not t.blocked:
        return ["up to date: nothing to run"]
    secs = ", ".join(f"{m} {s:g} s" for m, s in sorted(t.generated_seconds.items())) or "0 s"
    line = f"to bring outputs up to date: {t.to_run} to run, {t.cached} cached, {t.blocked} blocked (distinct steps); generated: {secs}"
    lines = [line]
    if t.cost is not None:
        note = f" (no price for {', '.join(t.unpriced)})" if t.unpriced else ""
        lines.append(f"cost: {t.cost:.2f}{note}")
    elif t.unpriced:
        lines.append(f"cost: unknown (no price for {', '.join(t.unpriced)}; set prices in omniflow.toml)")
    return lines
