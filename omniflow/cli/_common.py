"""What every command shares: error-to-exit-code mapping and the output channel."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from omniflow.errors import EXIT_INTERRUPTED, OmniflowError, PipelineError, Problem

F = TypeVar("F", bound=Callable[..., Any])


def echo_err(text: str) -> None:
    click.echo(text, err=True)


def human_size(n: int) -> str:
    """``1536`` -> ``1.5 KiB``: a byte count for a person."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def print_problems(problems: list[Problem]) -> None:
    for p in problems:
        echo_err(str(p))


def handles_errors(func: F) -> F:
    """Turn omniflow's errors into one clear message and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            print_problems(exc.problems)
            n = sum(1 for p in exc.problems if p.is_error)
            echo_err(f"{n} error{'s' if n != 1 else ''}")
            sys.exit(exc.exit_code)
        except OmniflowError as exc:
            echo_err(f"error: {exc}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            echo_err("interrupted")
            sys.exit(EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]
