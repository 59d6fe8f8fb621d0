"""The lock file: ``<pipeline>.lock`` beside the pipeline, YAML, meant to be committed.

Per variant and step it records what was sent and what came back (design §2):
key, kind, model, the request as sent (real URLs), backend, task id, the
upstream outputs consumed, the outputs (sha256, bytes, media type, duration,
width, height), submitted/completed times, generated seconds and ``cost``
(priced by omniflow.planning.cost when the step ran; absent in locks written
before the field existed, and for steps without a price).

One writer, one reader. :func:`dumps_lock` is one deterministic dump: keys
sorted at every level (so variants and steps are in name order whatever order
they were added in), no aliases, the pure-Python safe emitter whether libyaml
is installed or not (the text never depends on the machine), unicode kept,
long strings never folded. Written atomically. :func:`loads_lock` validates
every field and reports problems at file:line:col.
Never a secret: the API key travels only in a header, and writing refuses any
text that contains the ``OMNIROUTERS_API_KEY`` of the environment.

A variant named ``""`` (no matrix) is stored as ``default``.
"""

from __future__ import annotations

import functools
import os
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


@functools.lru_cache(maxsize=1)
def _dumper() -> type:
    import yaml

    # Always the pure-Python emitter, never CSafeDumper: libyaml writes
    # characters beyond U+FFFF as "\U0001F305" and folds long keys differently,
    # so the same lock would differ between machines with and without libyaml.
    class LockDumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # a step shared by variants is written out in each, never as &id001 / *id001

    def represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
        style = '"' if _YAML_BREAKS.intersection(data) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    LockDumper.add_representer(str, represent_str)
    return LockDumper


def dumps_lock(lock: LockFile) -> str:
    """The exact text :func:`write_lock` writes: one deterministic YAML dump of ``lock.to_json()``."""
    import yaml

    return _HEADER + yaml.dump(
        lock.to_json(),
        Dumper=_dumper(),
        sort_keys=True,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 20,  # never fold a prompt across lines: clean diffs
        indent=2,
    )


def write_lock(path: Path, lock: LockFile) -> bytes:
    """Write ``lock`` to ``path`` atomically (nothing happens if the bytes are unchanged); returns the bytes."""
    path = Path(path)
    text = dumps_lock(lock)
    secret = os.environ.get("OMNIROUTERS_API_KEY", "")
    if len(secret) >= 8 and secret in text:
        raise CacheError(f"refusing to write {path}: it would contain the OMNIROUTERS_API_KEY")
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return data
    except OSError:
        pass  # absent or unreadable: write it
    write_atomic(path, data, tmp_dir=path.parent)
    return data


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
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheError(f"cannot read {path}: {describe_oserror(exc)}") from exc
    return loads_lock(data, path)


def loads_lock(data: bytes, path: Path | str) -> LockFile:
    """The lock in ``data`` (the bytes of the file ``path``, named in errors).

    The one reader. Valid YAML in the shapes a lock uses is built straight from
    libyaml's events (:mod:`omniflow.store.lockyaml`: a 10,000-step lock in about a
    second and a few MB, where composing the whole node tree took ~8 s and
    ~280 MB); anything else -- no libyaml, explicit tags, merge keys, a YAML
    error, a field that fails validation -- is read again the located way, so a
    problem is reported at its file:line:col.
    """
    from omniflow.store.lockyaml import fast_load

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PipelineError([Problem(Location(str(path), line, col), "", f"broken lock file: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                     "fix it or delete it (the next run rewrites it)")]) from exc
    fast = fast_load(text)
    if fast is not None:
        try:
            return lock_from_data(fast)
        except _Invalid:
            pass  # located below
    return _located(text, str(path))


def _located(text: str, path: str) -> LockFile:
    """Compose the whole node tree (marks kept) so any problem names its line and column."""
    import yaml

    node = None
    try:
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
            [Problem(Location(path, line, col), "", f"broken lock file: {problem}; "
                     "fix it or delete it (the next run rewrites it)")]
        ) from exc
    except ValueError as exc:  # a scalar YAML reads but cannot build, e.g. the date 2025-13-45
        where, message = _unbuildable(node, exc)
        raise PipelineError([Problem(Location(path, *where), "", f"broken lock file: {message}")]) from exc
    try:
        return lock_from_data(data)
    except _Invalid as exc:
        mark = _locate(node, exc.where)
        where = ".".join(str(p) for p in exc.where)
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path, 1, 1)
        raise PipelineError([Problem(loc, where, f"broken lock file: {exc.message}")]) from exc


def _unbuildable(node: Any, exc: ValueError) -> tuple[tuple[int, int], str]:
    """Where a scalar that cannot be built is (an integer over Python's digit limit), and why."""
    import sys

    limit = sys.get_int_max_str_digits()
    stack = [node] if node is not None else []
    while stack and "integer string conversion" in str(exc):
        n = stack.pop()
        if isinstance(n.value, str):
            if n.tag.endswith(":int") and sum(c.isdigit() for c in n.value) > limit:
                digits = sum(c.isdigit() for c in n.value)
                return (n.start_mark.line + 1, n.start_mark.column + 1), f"an integer of {digits:,} digits is over the limit of {limit:,} digits"
        else:
            stack.extend(c for item in n.value for c in (item if isinstance(item, tuple) else (item,)))
    return (1, 1), str(exc)


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
