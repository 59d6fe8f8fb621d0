"""``omniflow mcp``: serve the project to a coding agent over MCP (stdio)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from omniflow.cli._common import handles_errors


@click.command()
@click.option("--project", "project", type=click.Path(file_okay=False, exists=True), default=None,
              help="The project folder (default: the working directory).")
@handles_errors
def mcp(project: str | None) -> None:
    """Run a Model Context Protocol server over stdio for one project.

    Tools: validate, plan, run (only a saved plan, with its digest), status,
    pick, report, models, ledger. Resources: the language reference, the JSON
    Schema, the model catalogue. See docs/agents.md.
    """
    from omniflow.errors import UsageError

    try:
        from omniflow.mcp.server import serve
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "mcp":
            raise UsageError("omniflow mcp needs the MCP SDK: pip install 'omniflow[mcp]'") from None
        raise
    root = Path(project).resolve() if project else Path.cwd()
    # the loader finds a pipeline's project from the working directory, as for every command
    os.chdir(root)
    serve(root)
