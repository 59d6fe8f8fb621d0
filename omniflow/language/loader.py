"""``load(path)``: a pipeline file → a frozen, rendered :class:`Pipeline`, or every problem in it."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omniflow.config import InputsConfig, load_config
from omniflow.errors import (
    Location,
    OmniflowError,
    PipelineError,
    Problem,
    UsageError,
    sorted_problems,
)
from omniflow.language.analysis import analyse
from omniflow.language.assets import Assets
from omniflow.language.matrix import expand
from omniflow.language.model import Pipeline, Variant
from omniflow.language.render import Found, Renderer
from omniflow.language.structure import Checker, Spec
from omniflow.language.suggest import did_you_mean
from omniflow.language.templates import Templates
from omniflow.language.yamlnodes import parse, value_error
from omniflow.store.picks import DEFAULT_VARIANT, Picks, loads_picks, picks_path_for, read_picks
from omniflow.store.root import find_root

# A pipeline is text a person writes: 10,000 steps are about 1 MB.
MAX_FILE_BYTES = 64 * 1024 * 1024


def load(
    path: str | os.PathLike[str],
    *,
    set: Mapping[str, Any] | None = None,  # noqa: A002 - the documented name (`--set`)
    backend: str = "emulator",
    strict: bool = False,
    memo: bool = True,
) -> Pipeline:
    """Load, check and render a pipeline file.

    Raises :class:`PipelineError` listing every problem of the file (warnings
    included, for context) when there is at least one error; otherwise
    warnings are on ``Pipeline.warnings``. ``strict`` turns warnings into
    errors. ``set`` overrides vars (string values are parsed as YAML scalars).
    A successful load is memoised under ``.omniflow/memo/`` (see
    :mod:`omniflow.language.memo`); ``memo=False`` neither reads nor writes it.
    """
    from omniflow.language import memo as _memo

    p = Path(path)
    file = str(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PipelineError([Problem(Location(file, 1, 1), "", f"the file is {size:,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes for a pipeline")])
        data = p.read_bytes()
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such pipeline file: {file}") from None
    except IsADirectoryError:
        raise UsageError(f"{file} is a folder, not a pipeline file") from None
    except UnicodeDecodeError as exc:
        raise PipelineError([Problem(byte_location(file, data, exc.start), "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    root = find_root(p.parent)
    inputs = load_config(root).inputs  # what local files may be used is part of the answer
    folder = _memo.memo_dir(root) if memo and _memo.enabled() else None
    key = ""
    if folder is not None:
        try:  # the picks are an input of the load: they choose which candidate feeds what follows
            picks = picks_path_for(Path(file)).read_bytes()
        except OSError:
            picks = None
        key = _memo.memo_key(data, file=file, root=root, set_values=set, backend=backend, strict=strict,
                             inputs=inputs, picks=picks)
        hit = _memo.read(folder, file, key)
        if isinstance(hit, Pipeline):
            return hit
    started = time.time_ns()
    pipeline, refs = _loads(text, file=file, base_dir=p.parent, set=set, backend=backend, strict=strict,
                            inputs=inputs)
    if folder is not None:
        _memo.write(folder, file, key, pipeline, started_ns=started, refs=refs)
    return pipeline


def byte_location(file: str, data: bytes, offset: int) -> Location:
    """file:line:col of a byte offset (the column counts bytes: the line is not text yet)."""
    line = data.count(b"\n", 0, offset) + 1
    return Location(file, line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1)


def loads(
    text: str,
    *,
    file: str = "<pipeline>",
    base_dir: str | os.PathLike[str] = ".",
    set: Mapping[str, Any] | None = None,  # noqa: A002
    backend: str = "emulator",
    strict: bool = False,
    inputs: InputsConfig | None = None,
    picks_text: str | None = None,
    picks: bool = True,
) -> Pipeline:
    """Like :func:`load`, from text; local files are looked up relative to ``base_dir``.

    ``inputs`` (default: the project's ``[inputs]``) says which local files may be used.
    The picks are read from ``<base_dir>/<stem>.picks.yaml`` unless ``picks_text`` gives
    that file's text (e.g. as it was at a git revision) or ``picks`` is False (none).
    """
    return _loads(text, file=file, base_dir=base_dir, set=set, backend=backend, strict=strict, inputs=inputs,
                  picks_text=picks_text, picks=picks)[0]


def _loads(
    text: str,
    *,
    file: str,
    base_dir: str | os.PathLike[str],
    set: Mapping[str, Any] | None,  # noqa: A002
    backend: str,
    strict: bool,
    inputs: InputsConfig | None,
    picks_text: str | None = None,
    picks: bool = True,
) -> tuple[Pipeline, dict[str, str]]:
    """:func:`loads`, plus where each local file reference led (path as written -> file), for the memo."""
    doc, problems = parse(text, file)
    if doc is None:
        raise PipelineError(problems)
    checker = Checker(doc)
    spec = checker.check()
    problems += checker.problems
    pinned = any(k in spec.dims for k in (set or {}))  # --set style=noir: the other variants are not loaded
    _apply_set(spec, set or {})
    templates = Templates()
    analysis = analyse(doc, spec, templates)
    problems += analysis.problems
    combos, unused = expand(spec.dims, spec.exclude, spec.include)
    for i in unused:
        problems.append(Problem(doc.loc(("matrix", "exclude", i)), f"matrix.exclude[{i}]", "this exclude entry matches no combination", "error" if strict else "warning"))
    if spec.dims and not combos:
        problems.append(Problem(doc.loc(("matrix",)), "matrix", "exclude removes every combination: nothing to run"))
    names: dict[str, int] = {}
    for c in combos:
        if c.name in names:
            problems.append(Problem(doc.loc(("matrix",)), "matrix", f"two combinations have the same variant name {c.name!r} (values differ only in case or punctuation)"))
        names[c.name] = 1
    base = Path(base_dir)
    root = find_root(base)
    assets = Assets(base, root, inputs if inputs is not None else load_config(root).inputs)
    picks_path = base / picks_path_for(Path(file)).name
    chosen = _read_picks(picks_path, problems, picks_text) if picks else None
    renderer = Renderer(doc, spec, analysis, templates, backend, assets, strict,
                        picks=chosen.variants if chosen is not None else {})
    variants: list[Variant] = []
    found_by: dict[tuple[Location, str, str, str], list[str]] = {}
    # Render even when the shape has errors: the user gets every problem at once.
    for c in combos:
        found: list[Found] = []
        steps = renderer.render_variant(c.name, c.values, found)
        variants.append(Variant(c.name, c.values, tuple(steps)))
        for f in found:
            found_by.setdefault((f.location, f.path, f.message, f.severity), []).append(c.name)
    for (loc, path_, message, severity), where in found_by.items():
        if len(combos) > 1 and len(where) < len(combos):
            shown = "; ".join(where[:3]) + (f"; and {len(where) - 3} more" if len(where) > 3 else "")
            message = f"{message} [variant {shown}]"
        problems.append(Problem(loc, path_, message, severity))
    if chosen is not None:
        problems += check_picks(chosen, spec, variants, pinned=pinned)
    if strict:
        problems = [Problem(p.location, p.path, p.message, "error") for p in problems]
    if any(p.is_error for p in problems):
        raise PipelineError(problems)
    pipeline = Pipeline(
        path=Path(file),
        name=spec.name,
        description=spec.description,
        backend=backend,
        variants=tuple(variants),
        step_ids=tuple(spec.steps),
        warnings=tuple(sorted_problems(problems)),
        lock_path=base / (Path(file).stem + ".lock"),
        root=root,
        picks_path=picks_path,
    )
    return pipeline, assets.refs


def _apply_set(spec: Spec, overrides: Mapping[str, Any]) -> None:
    """``--set key=value``: override a var, or pin a matrix dimension to one value."""
    import yaml

    for key, raw in overrides.items():
        value = raw
        if isinstance(raw, str):
            try:
                parsed = yaml.safe_load(raw) if raw.strip() else raw
            except yaml.YAMLError:
                parsed = raw
            except ValueError as exc:  # e.g. an integer of more digits than Python converts
                raise UsageError(f"--set {key}: {value_error(raw, exc)}") from None
            value = parsed if isinstance(parsed, (str, int, float, bool)) else raw
        if key in spec.dims:
            spec.dims[key] = [value]
            spec.exclude = [(i, e) for i, e in spec.exclude if key not in e]
            spec.include = []
        elif key in spec.vars:
            spec.vars[key] = value
        else:
            known = sorted(set(spec.vars) | set(spec.dims))
            raise UsageError(f"--set {key}: no variable named {key!r}{did_you_mean(key, known)} (vars: {', '.join(known) or 'none'})")


def _read_picks(path: Path, problems: list[Problem], text: str | None = None) -> Picks | None:
    """The picks file beside the pipeline (or its ``text``), or None; a broken one is one more located problem."""
    try:
        return read_picks(path) if text is None else loads_picks(text, str(path))
    except PipelineError as exc:
        problems += exc.problems
        return None
    except OmniflowError as exc:  # unreadable
        problems.append(Problem(Location(str(path), 1, 1), "", str(exc)))
        return None


def check_picks(picks: Picks, spec: Spec, variants: list[Variant], *, pinned: bool = False) -> list[Problem]:
    """Every pick must name a variant, a step with takes in it, and one of that step's candidates.

    ``pinned``: ``--set`` fixed a matrix value, so a variant the picks name may exist without it.
    """
    out: list[Problem] = []
    by_label = {(v.name or DEFAULT_VARIANT): v for v in variants}
    for label, steps in picks.variants.items():
        variant = by_label.get(label)
        if variant is None and pinned:
            continue
        if variant is None:
            out.append(Problem(picks.variant_at[label], label, f"unknown variant {label!r}{did_you_mean(label, by_label)} "
                               f"(variants: {', '.join(by_label)})"))
            continue
        rendered = {s.id: s for s in variant.steps}
        for sid, take in steps.items():
            where = f"{label}.{sid}"
            if sid not in spec.declared:
                out.append(Problem(picks.step_at[(label, sid)], where, f"unknown step {sid!r}{did_you_mean(sid, list(spec.steps))}"))
                continue
            step = rendered.get(sid)
            if step is None:
                continue  # it did not render: its own problems are reported
            if not step.candidates:
                out.append(Problem(picks.step_at[(label, sid)], where, f"step {sid!r} has no takes, so there is nothing to pick "
                                   "(give it takes: N to make N candidates)"))
                continue
            takes = [c.take for c in step.candidates]
            if take not in takes:
                out.append(Problem(picks.take_at[(label, sid)], where, f"take {take} is not a candidate of {sid!r} "
                                   f"(its takes are {takes[0]} to {takes[-1]})"))
    return out
