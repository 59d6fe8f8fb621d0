"""The pipeline language: YAML storyboards → located checks → rendered variants with keys.

``load(path, set=..., backend=..., strict=...)`` is the entry point; it
imports neither httpx, PyAV, Pillow nor rich.
"""

from omniflow.core.kinds import KINDS, Kind
from omniflow.language.loader import find_root, load, loads
from omniflow.language.model import Pipeline, RenderedStep, Variant

__all__ = ["KINDS", "Kind", "Pipeline", "RenderedStep", "Variant", "find_root", "load", "loads"]
