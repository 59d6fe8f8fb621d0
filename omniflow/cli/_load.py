"""Loading a pipeline for a command: --set parsing, backend choice, warnings."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from omniflow.cli._common import echo_err, print_problems
from omniflow.errors import UsageError


def parse_sets(pairs: Iterable[str]) -> dict[str, str]:
    """``("a=1", "b=x y")`` → ``{"a": "1", "b": "x y"}``; values are parsed later as YAML scalars."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def load_pipeline(file: str, *, sets: Iterable[str] = (), backend: str | None = None, strict: bool = False,
                  announce: bool = True) -> Any:
    """Load ``file`` for ``backend`` (chosen per design §4 and announced on stderr)."""
    from omniflow.backends import choose_backend
    from omniflow.language import load

    kind = choose_backend(backend, os.environ)
    if announce:
        source = "--backend" if backend else ("OMNIFLOW_BACKEND" if os.environ.get("OMNIFLOW_BACKEND") else
                                              "OMNIROUTERS_API_KEY is set" if kind == "omnirouters" else "default")
        echo_err(f"backend: {kind} ({source})")
    pipeline = load(Path(file), set=parse_sets(sets), backend=kind, strict=strict)
    if pipeline.warnings:
        print_problems(list(pipeline.warnings))
    return pipeline


def pipeline_options(func: Any) -> Any:
    """--set, --backend and --strict, shared by plan, run, graph and report."""
    func = click.option("--strict", is_flag=True, help="Treat warnings (rules from older docs) as errors.")(func)
    func = click.option("--backend", type=click.Choice(["emulator", "omnirouters"]), default=None,
                        help="Where remote steps run (default: OMNIFLOW_BACKEND, else omnirouters when "
                             "OMNIROUTERS_API_KEY is set, else the embedded emulator).")(func)
    func = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a var (repeatable).")(func)
    return func
