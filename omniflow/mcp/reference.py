"""The read-only resources: the pipeline language reference, its JSON Schema, the model catalogue.

The language reference is ``docs/language.md``: an installed wheel carries it
as the package data ``omniflow.mcp.docs`` (pyproject maps that package onto
``docs/``); a checkout (an editable install) reads the file in place.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

LANGUAGE_URI = "omniflow://docs/language.md"
SCHEMA_URI = "omniflow://schema/pipeline.schema.json"
MODELS_URI = "omniflow://models.json"


def language_reference() -> str:
    """docs/language.md, from the installed package or else the checkout."""
    try:
        return resources.files("omniflow.mcp.docs").joinpath("language.md").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    # a checkout: omniflow/mcp/reference.py -> <repo>/docs/language.md
    return (Path(__file__).resolve().parents[2] / "docs" / "language.md").read_text(encoding="utf-8")


def pipeline_schema() -> str:
    """What ``omniflow schema`` prints."""
    from omniflow.language.editor_schema import text

    return text()


def model_catalogue() -> dict[str, Any]:
    """What ``omniflow models --json`` prints: families and each model's constraints."""
    from omniflow.core.catalog import describe_catalogue

    return describe_catalogue()


def model_catalogue_text() -> str:
    return json.dumps(model_catalogue(), indent=2, sort_keys=True)
