"""The lock file: ``<pipeline>.lock`` beside the pipeline, YAML, meant to be committed.

Per variant and step it records what was sent and what came back (design §2):
key, kind, model, the request as sent (real URLs), backend, task id, the
upstream outputs consumed, the outputs (sha256, bytes, media type, duration,
width, height), submitted/completed times and generated seconds.

Deterministic: keys sorted at every level (so variants and steps are in name
order whatever order they were added in), no timestamps but the recorded ones,
the safe dumper with unicode kept, long strings never folded. Written atomically.
Never a secret: the API key travels only in a header, and writing refuses any
text that contains the ``OMNIROUTERS_API_KEY`` of the environment.

A variant named ``""`` (no matrix) is stored as ``default``.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omniflow.errors import CacheError, Location, PipelineError, Problem
from omniflow.store._atomic import describe_oserror, write_atomic
from omniflow.store.cache import Entry

LOCK_VERSION = 1
DEFAULT_VARIANT = "default"
_HEADER = "# omniflow lock file: generated, deterministic; commit it with the pipeline.\n"


def variant_label(name: str) -> str:
    """The name a variant has in the lock (``""`` -> ``default``)."""
    return name or DEFAULT_VARIANT


@dataclass(frozen=True)
class LockStep(Entry):
    """What one step of one variant produced: the fields and checks of its cache index entry."""

    @classmethod
    def from_entry(cls, entry: Entry) -> LockStep:
        return cls(**vars(entry))

    def to_entry(self) -> Entry:
        """The cache index entry this step implies (``omniflow pull`` rebuilds the index with it)."""
        return Entry(**vars(self))


@dataclass(frozen=True)
class LockFile:
    """A whole lock: pipeline name and variant -> step id -> LockStep."""

    pipeline: str
    variants: Mapping[str, Mapping[str, LockStep]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Normalize once: "" -> "default", and plain sorted dicts so equality
        # and output never depend on insertion order.
        normal = {
            variant_label(v): {s: steps[s] for s in sorted(steps)}
            for v, steps in self.variants.items()
        }
        object.__setattr__(self, "variants", {v: normal[v] for v in sorted(normal)})

    def step(self, variant: str, step: str) -> LockStep | None:
        return self.variants.get(variant_label(variant), {}).get(step)

    def with_step(self, variant: str, step: str, lock_step: LockStep) -> LockFile:
        variants = {v: dict(steps) for v, steps in self.variants.items()}
        variants.setdefault(variant_label(variant), {})[step] = lock_step
        return replace(self, variants=variants)

    def pruned(self, keep: Mapping[str, Collection[str]]) -> LockFile:
        """Only the variants and steps in ``keep`` (variant -> step ids): drops what the pipeline lost."""
        wanted = {variant_label(v): set(s) for v, s in keep.items()}
        variants = {
            v: {s: st for s, st in steps.items() if s in wanted[v]}
            for v, steps in self.variants.items()
            if v in wanted
        }
        return replace(self, variants={v: s for v, s in variants.items() if s})

    def object_shas(self) -> set[str]:
        """Every output sha256 the lock references (what ``cache gc`` keeps, ``push`` uploads)."""
        return {o.sha256 for steps in self.variants.values() for st in steps.values() for o in st.outputs}

    def to_json(self) -> dict[str, Any]:
        return {
            "omniflow": LOCK_VERSION,
            "pipeline": self.pipeline,
            "variants": {
                v: {s: st.to_json() for s, st in steps.items()} for v, steps in self.variants.items()
            },
        }


# PyYAML writes NEL / LINE SEPARATOR / PARAGRAPH SEPARATOR raw inside plain or
# single-quoted scalars and reads them back folded (a prompt holding "\x85" came
# back changed). Double quotes escape them (\N, \L, \P), so those strings use them.
_YAML_BREAKS = frozenset("\x85\u2028\u2029")


class _NoAliases:
    """Dumper mix-in: a step shared by variants is written out in each, never as &id001 / *id001."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


@functools.lru_cache(maxsize=1)
def _dumper() -> type:
    import yaml

    # Always the pure-Python emitter, never CSafeDumper: libyaml writes
    # characters beyond U+FFFF as "\U0001F305" where the Python emitter keeps
    # them, so the same lock would differ between machines with and without
    # libyaml. Determinism beats the ~4x speed-up.
    class LockDumper(_NoAliases, yaml.SafeDumper):
        pass

    def represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
        style = '"' if _YAML_BREAKS.intersection(data) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    LockDumper.add_representer(str, represent_str)
    return LockDumper


_PLAIN_KEY = re.compile(r"\A[A-Za-z0-9_.:=,@+-]+\Z")


def _libyaml_safe(node: Any) -> bool:
    """True when libyaml's emitter writes exactly what the Python one does for this data.

    Shown by a property test (tests/store/test_lock.py): plain keys shorter than
    120 characters (from 123 the Python emitter writes a key in the ``? key``
    form, libyaml only from 129), and strings with no character beyond U+FFFF
    and no NEL/LS/PS. Anything else takes the pure-Python emitter, so a lock's
    text never depends on the machine.
    """
    if isinstance(node, str):
        return not _YAML_BREAKS.intersection(node) and all(ord(c) <= 0xFFFF for c in node)
    if isinstance(node, dict):
        return all(isinstance(k, str) and len(k) < 120 and _PLAIN_KEY.match(k) and _libyaml_safe(v)
                   for k, v in node.items())
    if isinstance(node, list):
        return all(_libyaml_safe(v) for v in node)
    return True


@functools.lru_cache(maxsize=1)
def _fast_dumper() -> type | None:
    import yaml

    base = getattr(yaml, "CSafeDumper", None)
    if base is None:
        return None

    class FastLockDumper(_NoAliases, base):  # type: ignore[misc, valid-type]
        pass

    return FastLockDumper


def _dump(data: Any) -> str:
    import yaml

    fast = _fast_dumper()
    # 5-10x faster, and the same text (see _libyaml_safe)
    dumper = fast if fast is not None and _libyaml_safe(data) else _dumper()
    return yaml.dump(
        data,
        Dumper=dumper,
        sort_keys=True,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 20,  # never fold a prompt across lines: clean diffs
        indent=2,
    )


StepTexts = dict[tuple[str, str], tuple[LockStep, str | None, str]]


def dumps_lock(lock: LockFile, memo: StepTexts | None = None) -> str:
    """The exact text :func:`write_lock` writes.

    Each step is dumped on its own, as ``{variant: {step: ...}}``, and the
    pieces are joined under ``variants:`` two columns further right: the same
    text as dumping the whole lock at once (a property test checks it), but a
    writer that keeps ``memo`` ((variant, step) -> (LockStep, its variant's
    line, its shifted lines)) between calls dumps and shifts only the steps
    that changed. Rewriting a 1,000-step lock during a run then costs
    milliseconds instead of ~0.2 s.
    """
    joined = _joined(lock, {} if memo is None else memo)
    return joined if joined is not None else _HEADER + _dump(lock.to_json())


def _joined(lock: LockFile, memo: StepTexts) -> str | None:
    """The lock from its steps' pieces; None when its shape needs the whole dump (no steps, a '? key')."""
    if not lock.variants or not all(lock.variants.values()):
        return None  # written as {} by the whole dump
    parts = [_HEADER, _dump({"omniflow": LOCK_VERSION, "pipeline": lock.pipeline}), "variants:\n"]
    for variant, steps in lock.variants.items():
        for i, (step, lock_step) in enumerate(steps.items()):
            known = memo.get((variant, step))
            if known is None or known[0] is not lock_step:
                known = memo[(variant, step)] = (lock_step, *_piece(variant, step, lock_step))
            _, head, body = known
            if head is None:
                return None
            if i == 0:
                parts.append(head)
            parts.append(body)
    return "".join(parts)


def _piece(variant: str, step: str, lock_step: LockStep) -> tuple[str | None, str]:
    """One step's text two columns right: (its variant's line, its own lines); None for a '? key' variant."""
    head, _, body = _dump({variant: {step: lock_step.to_json()}}).partition("\n")
    if not head.endswith(":") or head.startswith("?"):  # a long variant name YAML writes as "? key"
        return None, ""
    # an empty line (inside a quoted multi-line string) stays empty
    return f"  {head}\n", "".join(f"  {line}\n" if line else "\n" for line in body.split("\n")[:-1])


def write_lock(path: Path, lock: LockFile, memo: StepTexts | None = None) -> None:
    """Write ``lock`` to ``path`` atomically (nothing happens if the bytes are unchanged)."""
    path = Path(path)
    text = dumps_lock(lock, memo)
    secret = os.environ.get("OMNIROUTERS_API_KEY", "")
    if len(secret) >= 8 and secret in text:
        raise CacheError(f"refusing to write {path}: it would contain the OMNIROUTERS_API_KEY")
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass  # absent or unreadable: write it
    write_atomic(path, data, tmp_dir=path.parent)


def update_lock(
    path: Path, variant: str, step: str, lock_step: LockStep, *, pipeline: str | None = None
) -> LockFile:
    """Re-read the lock, set one step, rewrite atomically; returns the new lock.

    For one-off edits; the run engine batches its writes (run.outputs.LockWriter).
    ``pipeline`` names a lock that does not exist yet (default: the file's stem).
    """
    path = Path(path)
    current = read_lock(path) or LockFile(pipeline or path.stem)
    new = current.with_step(variant, step, lock_step)
    write_lock(path, new)
    return new


class _Invalid(Exception):
    def __init__(self, where: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.where = where
        self.message = message


def read_lock(path: Path) -> LockFile | None:
    """The lock at ``path``, or None if there is none.

    A lock broken by hand is a :class:`PipelineError` with a located problem
    (file:line:col); the file is never touched.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = describe_oserror(exc) if isinstance(exc, OSError) else "not UTF-8 text"
        raise CacheError(f"cannot read {path}: {reason}") from exc
    try:
        # libyaml's parser when present (about 10x faster on big locks); both
        # keep node marks, so problems are located either way
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PipelineError(
            [Problem(Location(str(path), line, col), "", f"broken lock file: {problem}; "
                     "fix it or delete it (the next run rewrites it)")]
        ) from exc
    try:
        return lock_from_data(data)
    except _Invalid as exc:
        mark = _locate(node, exc.where)
        where = ".".join(str(p) for p in exc.where)
        loc = Location(str(path), mark.line + 1, mark.column + 1) if mark else Location(str(path), 1, 1)
        raise PipelineError([Problem(loc, where, f"broken lock file: {exc.message}")]) from exc


def lock_from_data(data: Any) -> LockFile:
    """Build a LockFile from parsed YAML; raises the located-by-path _Invalid on bad shapes."""
    if not isinstance(data, dict):
        raise _Invalid((), "expected a mapping with omniflow, pipeline and variants")
    version = data.get("omniflow")
    if version != LOCK_VERSION:
        raise _Invalid(("omniflow",), f"unsupported lock version {version!r} (expected {LOCK_VERSION})")
    pipeline = data.get("pipeline")
    if not isinstance(pipeline, str):
        raise _Invalid(("pipeline",), "pipeline must be a string")
    variants = data.get("variants") or {}
    if not isinstance(variants, dict):
        raise _Invalid(("variants",), "variants must be a mapping of variant -> steps")
    out: dict[str, dict[str, LockStep]] = {}
    for vname, steps in variants.items():
        if not isinstance(vname, str):
            raise _Invalid(("variants",), f"variant name {vname!r} must be a string")
        if not isinstance(steps, dict):
            raise _Invalid(("variants", vname), "a variant must be a mapping of step id -> step")
        out[vname] = {}
        for sid, raw in steps.items():
            where: tuple[str | int, ...] = ("variants", vname, str(sid))
            if not isinstance(sid, str):
                raise _Invalid(("variants", vname), f"step id {sid!r} must be a string")
            if isinstance(raw, dict):
                for ts in ("submitted_at", "completed_at"):
                    if hasattr(raw.get(ts), "isoformat"):  # YAML read an unquoted time
                        raw[ts] = raw[ts].isoformat().replace("+00:00", "Z")
            try:
                out[vname][sid] = LockStep.from_json(raw)
            except ValueError as exc:
                field_name = str(exc).split(" ", 1)[0]
                sub = (field_name,) if isinstance(raw, dict) and field_name in raw else ()
                raise _Invalid(where + sub, str(exc)) from exc
    return LockFile(pipeline, out)


def _locate(node: Any, where: tuple[str | int, ...]) -> Any:
    """The start mark of the YAML node at ``where`` (or of the deepest existing parent)."""
    import yaml

    if node is None:
        return None
    for part in where:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    node = v
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    return node.start_mark
