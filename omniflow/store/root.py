"""Where a project's state lives: the folder holding the nearest ``.omniflow``."""

from __future__ import annotations

from pathlib import Path

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
