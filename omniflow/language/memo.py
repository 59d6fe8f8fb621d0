"""The load memo: a loaded :class:`Pipeline`, pickled under ``.omniflow/memo/``.

Loading a 10,000-step file takes most of a second (YAML, checks, templates,
keys); a plan that finds nothing to do should not pay it again. ``load``
keeps its result here, keyed by the sha256 of everything that can change it:

- the pipeline file's bytes, the path as given, the working directory and the
  project root (they fix ``Pipeline.path``, ``lock_path`` and ``root``);
- the bytes of the picks file beside it (``<stem>.picks.yaml``), when there is one;
- the ``--set`` values, the backend, ``strict`` and the project's ``[inputs]``
  settings (they decide which local files are refused);
- the code that loads: the size and mtime of every
  module the loader runs, the *content* of the shipped JSON Schemas, the
  Python version and the installed Jinja2 and PyYAML;
- the local files the pipeline references (assets): their paths, sizes,
  mtimes and sha256s are stored beside the pipeline and checked on every hit
  (a changed size or mtime re-hashes the file; a different hash is a miss),
  and each reference as written must still lead to the same file (a symlink
  retargeted, say outside the project, is a miss, so the load checks it anew).

Only successful loads are kept, so errors are always found afresh; warnings
are part of the ``Pipeline`` and come back with it (the CLI prints them on a
hit exactly as on a miss).

Trust: pickle runs code while loading, so a memo is read only from the
project's own ``.omniflow/memo/`` folder, which omniflow writes atomically.
Anyone who can write there can already rewrite the cache index and the lock,
i.e. what a run sends and trusts; the memo adds no new way in. Nothing is
memoised when the project has no ``.omniflow`` folder (creating one would
move the project root). ``OMNIFLOW_NO_MEMO=1`` turns the memo off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MEMO_DIR = "memo"
FORMAT = 2  # 2: the record keeps where each local file reference led ("refs")
KEEP_PER_FILE = 4  # memos kept per pipeline file (e.g. both backends, a --set or two)
# A file whose mtime is this close to the moment its stat was taken may change again
# within the same mtime tick: such files are re-hashed on every check ("racy git").
RACY_NS = 2_000_000_000

# The modules whose behaviour a loaded Pipeline depends on, relative to the package.
# (core/ holds the catalogue, kinds, keys and graph since the layout change: the old
# top-level names no longer existed, so an edited catalogue kept a stale memo)
_CODE = ("__init__.py", "core", "errors.py", "language", "store/picks.py")


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("OMNIFLOW_NO_MEMO", "") in ("", "0")


def stat_sig(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def code_fingerprint() -> bytes:
    """What identifies the loading code: version, module stats, schema bytes, libraries."""
    h = hashlib.sha256()
    h.update(f"{sys.version}|{FORMAT}|{pickle.HIGHEST_PROTOCOL}".encode())
    # the package folder, without importing the facade from below it (omniflow's version lives
    # in its __init__.py, whose size and mtime are hashed with the other modules)
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name in _CODE:
        path = os.path.join(pkg, name)
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".py")) if os.path.isdir(path) else [path]
        for f in files:
            h.update(f"{f}|{stat_sig(f)}\n".encode())
    from importlib import resources

    # schema *content*: a schema edited and restored within one mtime tick must still count
    schemas = resources.files("omniflow.schemas")
    stack = [schemas]
    found = []
    while stack:
        node = stack.pop()
        for child in node.iterdir():
            if child.is_dir():
                stack.append(child)
            elif child.name.endswith(".json"):
                found.append(child)
    for child in sorted(found, key=lambda c: str(c)):
        h.update(str(child).encode() + b"\0" + child.read_bytes() + b"\0")
    from importlib.util import find_spec

    for lib in ("jinja2", "yaml", "_yaml"):
        spec = find_spec(lib)
        origin = spec.origin if spec is not None else None
        h.update(f"{lib}|{origin}|{stat_sig(origin) if origin else None}\n".encode())
    return h.digest()


def memo_key(data: bytes, *, file: str, root: Path, set_values: Mapping[str, Any] | None, backend: str,
             strict: bool, inputs: Any = None, picks: bytes | None = None) -> str:
    """sha256 over everything that can change the result of ``load`` (assets are checked apart).

    ``picks``: the bytes of the pipeline's picks file, when it has one.
    """
    h = hashlib.sha256()
    h.update(code_fingerprint())
    sets = sorted((str(k), repr(v)) for k, v in (set_values or {}).items())
    h.update(repr((file, os.getcwd(), str(root), sets, backend, bool(strict), repr(inputs))).encode())
    h.update(hashlib.sha256(data).digest())
    if picks is not None:
        h.update(b"picks\0" + hashlib.sha256(picks).digest())
    return h.hexdigest()


def memo_dir(root: Path) -> Path | None:
    """``<root>/.omniflow/memo``, or None when the project has no ``.omniflow`` folder."""
    state = Path(root) / ".omniflow"
    return state / MEMO_DIR if state.is_dir() else None


def file_prefix(file: str) -> str:
    """16 hex digits naming one pipeline file: its memos share it, so older ones can be pruned."""
    return hashlib.sha256(os.path.abspath(file).encode()).hexdigest()[:16]


def read(folder: Path, file: str, key: str) -> Any | None:
    """The memoised Pipeline for ``key``, or None (absent, unreadable, or an asset changed)."""
    path = folder / f"{file_prefix(file)}-{key}.pickle"
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    try:
        record = pickle.loads(raw)  # noqa: S301 - our own file in our own cache folder (see module doc)
    except Exception:  # a torn or foreign file is a miss, never an error
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return None
    if not _assets_unchanged(record.get("assets", ()), record.get("taken_ns", 0)):
        return None
    if any(os.path.realpath(ref) != target for ref, target in record.get("refs", {}).items()):
        return None
    return record.get("pipeline")


def _assets_unchanged(assets: Iterable[tuple[str, int, int, str]], taken_ns: int) -> bool:
    for path, size, mtime_ns, digest in assets:
        sig = stat_sig(path)
        if sig is None:
            return False
        if sig == (size, mtime_ns) and mtime_ns < taken_ns - RACY_NS:
            continue
        from omniflow.language.assets import open_regular

        f = open_regular(path)  # a FIFO or device put in the file's place must not hang the check
        if f is None:
            return False
        try:
            with f:
                if hashlib.file_digest(f, "sha256").hexdigest() != digest:
                    return False
        except OSError:
            return False
    return True


def assets_of(pipeline: Any) -> list[tuple[str, int, int, str]]:
    """(path, size, mtime_ns, sha256) of every local file the pipeline's requests refer to."""
    seen: dict[str, str] = {}
    for variant in pipeline.variants:
        for step in variant.steps:
            for digest, path in step.files.items():
                seen[path] = digest
    out = []
    for path, digest in sorted(seen.items()):
        sig = stat_sig(path)
        if sig is not None:
            out.append((path, sig[0], sig[1], digest))
    return out


def write(folder: Path, file: str, key: str, pipeline: Any, *, started_ns: int,
          refs: Mapping[str, str] | None = None) -> None:
    """Keep ``pipeline`` under ``key`` (atomic); failures are ignored: the memo is only a speed-up.

    ``started_ns`` is when the load began: an asset modified after that may
    not be what the load hashed, so it counts as racy and is re-hashed.
    ``refs`` maps each local file reference (absolute, as written) to the file it led to.
    """
    from omniflow.store._atomic import write_atomic

    record = {"format": FORMAT, "taken_ns": started_ns, "assets": assets_of(pipeline), "refs": dict(refs or {}),
              "pipeline": pipeline}
    try:
        data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        folder.mkdir(parents=True, exist_ok=True)
        prefix = file_prefix(file)
        write_atomic(folder / f"{prefix}-{key}.pickle", data, tmp_dir=folder)
        _prune(folder, prefix)
    except Exception:  # noqa: BLE001 - a memo that cannot be written is only a slower next load
        pass


def _prune(folder: Path, prefix: str) -> None:
    mine = []
    for entry in os.scandir(folder):
        if entry.name.startswith(prefix + "-") and entry.name.endswith(".pickle"):
            try:
                mine.append((entry.stat().st_mtime_ns, entry.path))
            except OSError:
                continue
    for _, path in sorted(mine, reverse=True)[KEEP_PER_FILE:]:
        try:
            os.unlink(path)
        except OSError:
            pass
