"""The picks file: ``<pipeline>.picks.yaml`` beside the lock, which candidate of a multi-take step is used.

::

    # which candidate of each multi-take step feeds what follows (omniflow pick)
    default:
      shot1: 3
    style=noir,seconds=5:
      shot1: 2

One mapping per variant label (``default`` without a matrix) of step id ->
take. People commit it with the storyboard, so it is written the way the lock
is: one deterministic dump (a fixed header, keys sorted, the pure-Python
emitter), atomically, and not at all when the bytes would not change, so
re-picking the same take leaves the file byte-identical.

This module reads shapes only (a mapping of mappings of whole numbers >= 1),
each value with its file:line:col; whether a variant, step or take exists is
the pipeline's question (omniflow.language.loader checks it at load).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omniflow.errors import CacheError, Location, PipelineError, Problem
from omniflow.store._atomic import describe_oserror, write_atomic

DEFAULT_VARIANT = "default"
SUFFIX = ".picks.yaml"
_HEADER = "# which candidate of each multi-take step feeds what follows (omniflow pick)\n"


@dataclass(frozen=True)
class Picks:
    """variant label -> step id -> take, and where each was written."""

    path: str
    variants: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    variant_at: Mapping[str, Location] = field(default_factory=dict)  # where each variant's key is
    step_at: Mapping[tuple[str, str], Location] = field(default_factory=dict)  # (variant, step) -> its key
    take_at: Mapping[tuple[str, str], Location] = field(default_factory=dict)  # (variant, step) -> its value

    def take(self, variant: str, step: str) -> int | None:
        return self.variants.get(variant, {}).get(step)


def picks_path_for(pipeline_file: Path) -> Path:
    """``shots.yaml`` -> ``shots.picks.yaml`` in the same folder."""
    pipeline_file = Path(pipeline_file)
    return pipeline_file.with_name(pipeline_file.stem + SUFFIX)


def _broken(path: str, line: int, col: int, message: str) -> PipelineError:
    return PipelineError([Problem(Location(path, line, col), "", f"broken picks file: {message}")])


def loads_picks(text: str, path: str) -> Picks:
    """The picks in ``text`` (the file ``path``); a located PipelineError on bad YAML or shapes."""
    import yaml

    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise _broken(path, line, col, getattr(exc, "problem", None) or str(exc)) from None
    if node is None:
        return Picks(path)  # empty (or only comments): no picks

    def at(n: Any) -> Location:
        return Location(path, n.start_mark.line + 1, n.start_mark.column + 1)

    if not isinstance(node, yaml.MappingNode):
        raise _broken(path, *_lc(node), "expected a mapping of variant -> {step: take}")
    variants: dict[str, dict[str, int]] = {}
    variant_at: dict[str, Location] = {}
    step_at: dict[tuple[str, str], Location] = {}
    take_at: dict[tuple[str, str], Location] = {}
    for knode, vnode in node.value:
        if not isinstance(knode, yaml.ScalarNode) or knode.tag != "tag:yaml.org,2002:str":
            raise _broken(path, *_lc(knode), "a variant name must be a string")
        vname = knode.value
        if vname in variants:
            raise _broken(path, *_lc(knode), f"variant {vname!r} is given twice")
        if not isinstance(vnode, yaml.MappingNode):
            raise _broken(path, *_lc(vnode), f"variant {vname!r} must be a mapping of step id -> take")
        variant_at[vname] = at(knode)
        steps: dict[str, int] = {}
        for snode, tnode in vnode.value:
            if not isinstance(snode, yaml.ScalarNode) or snode.tag != "tag:yaml.org,2002:str":
                raise _broken(path, *_lc(snode), "a step id must be a string")
            sid = snode.value
            if sid in steps:
                raise _broken(path, *_lc(snode), f"step {sid!r} is picked twice in variant {vname!r}")
            text_value = tnode.value if isinstance(tnode, yaml.ScalarNode) else None
            if (tnode.tag != "tag:yaml.org,2002:int" or not isinstance(text_value, str)
                    or not text_value.isdigit() or len(text_value) > 6 or int(text_value) < 1):
                shown = text_value if text_value is not None else "a collection"
                raise _broken(path, *_lc(tnode), f"the take of {sid!r} must be a whole number >= 1, not {shown}")
            steps[sid] = int(text_value)
            step_at[(vname, sid)] = at(snode)
            take_at[(vname, sid)] = at(tnode)
        variants[vname] = steps
    return Picks(path, variants, variant_at, step_at, take_at)


def _lc(node: Any) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def read_picks(path: Path) -> Picks | None:
    """The picks file at ``path``, or None when there is none."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheError(f"cannot read {path}: {describe_oserror(exc)}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _broken(str(path), line, 1, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return loads_picks(text, str(path))


def dumps_picks(variants: Mapping[str, Mapping[str, int]]) -> str:
    """The one text of a set of picks: header, variants and steps sorted, no empty variant."""
    import yaml

    data = {v: {s: int(t) for s, t in sorted(steps.items())} for v, steps in sorted(variants.items()) if steps}
    if not data:
        return _HEADER
    return _HEADER + yaml.dump(data, Dumper=yaml.SafeDumper, sort_keys=True, allow_unicode=True,
                               default_flow_style=False, width=1 << 20, indent=2)


def write_pick(path: Path, variant: str, step: str, take: int) -> None:
    """Set one pick, keeping the rest; atomic, and nothing is written when the bytes are unchanged."""
    path = Path(path)
    current = read_picks(path)
    variants = {v: dict(s) for v, s in (current.variants if current else {}).items()}
    variants.setdefault(variant or DEFAULT_VARIANT, {})[step] = int(take)
    data = dumps_picks(variants).encode("utf-8")
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass  # absent: write it
    write_atomic(path, data, tmp_dir=path.parent)
