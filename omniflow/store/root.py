"""Where a project's state lives: the folder holding the nearest ``.omniflow``."""

from __future__ import annotations

import os
from pathlib import Path

from omniflow.errors import CacheError

STATE_DIR = ".omniflow"


def find_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds a ``.omniflow`` folder, else the cwd.

    ``start`` may be a file (a pipeline): the search begins at its folder.
    """
    here = Path(start).resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / STATE_DIR).is_dir():
            return folder
    return Path.cwd()


def state_dir(root: Path) -> Path:
    """The ``.omniflow`` folder of a project root (``root`` itself if it already is one)."""
    root = Path(root)
    return root if root.name == STATE_DIR else root / STATE_DIR


def lock_path_for(pipeline: Path) -> Path:
    """``pipelines/x.yaml`` -> ``pipelines/x.lock`` (design §7)."""
    pipeline = Path(pipeline)
    return pipeline.with_name(pipeline.stem + ".lock")


def project_of(state: Path) -> Path:
    """The project folder of a state folder (``root/.omniflow`` -> ``root``; any other folder is its own)."""
    state = Path(state)
    return state.parent if state.name == STATE_DIR else state


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_inside(project: Path, folder: Path) -> None:
    """Refuse (CacheError) to write in ``folder`` when a symlink on the way to it leads out of ``project``.

    Every existing component from ``project`` down to ``folder`` is looked at;
    a symlink whose target resolves inside the project is fine, one leading
    elsewhere is refused, naming the link and where it leads: a project
    (a cloned repository) must never make omniflow write over files outside it.
    Components that do not exist yet are created by omniflow as real folders.
    A ``folder`` that is not below ``project`` at all is the caller's own choice.
    """
    base = os.path.abspath(project)
    rel = os.path.relpath(os.path.abspath(folder), base)
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return
    real_base = os.path.realpath(base)
    here = base
    for part in rel.split(os.sep):
        here = os.path.join(here, part)
        if os.path.islink(here):
            target = os.path.realpath(here)
            if not _within(target, real_base):
                raise CacheError(
                    f"{here} is a symlink to {target}, outside the project {base}: omniflow does not write "
                    "through it (replace it with a folder, or a link that stays inside the project)"
                )
        elif not os.path.lexists(here):
            return  # from here down omniflow makes real folders
