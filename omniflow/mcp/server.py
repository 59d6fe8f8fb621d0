"""The MCP server (official ``mcp`` SDK, stdio): omniflow's tools and resources for one project.

Each tool is a thin wrapper over :mod:`omniflow.mcp.tools`: it runs the
blocking library call on a worker thread (a run drives its own event loop
there) and turns omniflow's errors into tool errors carrying their one-line
message, never a traceback. The SDK diverts file descriptor 1 to stderr
while it serves, so a stray print cannot corrupt the protocol.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from omniflow.errors import OmniflowError, PipelineError, PlanMismatch
from omniflow.mcp import reference, tools
from omniflow.mcp.tools import Project

T = TypeVar("T")

INSTRUCTIONS = """\
omniflow turns YAML storyboards into generated video through a paid API.
Money is spent only by `run`, and only for a plan you saved with `plan` and
showed to the person: `run` needs that plan's path and digest and refuses
anything else (nothing is sent). Work in this order: `validate` the pipeline
file, `plan` it, show the steps, seconds and cost, and call `run` with the
digest only after the person approved. The project's [mcp] max_cost caps what
runs started here may cost per day. Read the resource
omniflow://docs/language.md for the pipeline language.
"""

READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
WRITES = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
PAYS = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=True)


def one_line(exc: OmniflowError) -> str:
    """The message a tool error carries: what the CLI prints, on one line."""
    if isinstance(exc, PipelineError):
        errors = [p for p in exc.problems if p.is_error] or list(exc.problems)
        more = f" (and {len(errors) - 1} more; call validate for all of them)" if len(errors) > 1 else ""
        return f"invalid pipeline: {errors[0]}{more}" if errors else "invalid pipeline"
    if isinstance(exc, PlanMismatch) and exc.differences:
        head = str(exc).splitlines()[0].rstrip(":")
        shown = "; ".join(exc.differences[:5])
        more = f"; and {len(exc.differences) - 5} more" if len(exc.differences) > 5 else ""
        return f"{head}: {shown}{more}"
    return " ".join(str(exc).split())


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn`` on a worker thread; omniflow's errors become tool errors."""
    try:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
    except OmniflowError as exc:
        raise ToolError(one_line(exc)) from None
    except OSError as exc:  # a folder that cannot be written, a file gone: say which, in one line
        where = f"{exc.filename}: " if exc.filename else ""
        raise ToolError(f"{where}{exc.strerror or exc}") from None


def build_server(root: Path) -> MCPServer:
    """The server for the project at ``root``."""
    from importlib.metadata import version

    project = Project(Path(root))
    server = MCPServer("omniflow", instructions=INSTRUCTIONS, version=version("omniflow"), log_level="WARNING")

    @server.tool(annotations=READ_ONLY)
    async def validate(files: list[str], strict: bool = False, sets: dict[str, str] | None = None) -> dict[str, Any]:
        """Check pipeline files (YAML, schemas, templates, graph; no network).

        Returns, per file, ok and its located problems (file, line, column, path,
        message, severity). Paths are relative to the project.
        """
        return await call(tools.validate, project, files, sets=sets, strict=strict)

    @server.tool(annotations=READ_ONLY)
    async def status(file: str) -> dict[str, Any]:
        """Per variant of a pipeline: steps done (cached), to run and blocked, and when it last completed."""
        return await call(tools.status, project, file)

    @server.tool(annotations=READ_ONLY)
    async def models() -> dict[str, Any]:
        """The model catalogue with each model's limits.

        seconds (hard API rule), aspect ratios, images_max, videos (advisory),
        this project's price and tasks-in-flight limit, and the day's max_cost.
        """
        return await call(tools.models, project)

    @server.tool(annotations=WRITES)
    async def report(file: str, out: str = "report", contact_sheets: bool = False) -> dict[str, Any]:
        """Write the static HTML review page of a pipeline (from cache, lock and journal; sends nothing).

        Returns the page's path relative to the project.
        """
        return await call(tools.report, project, file, out=out, contact_sheets=contact_sheets)

    @server.tool(annotations=WRITES)
    async def pick(file: str, target: str, take: int | None = None) -> dict[str, Any]:
        """List the candidates of a step with takes (target STEP or STEP@VARIANT), or pick one with take.

        A pick is written to <pipeline>.picks.yaml; it changes the keys of the
        steps downstream (listed), never a candidate's, and pays for nothing.
        """
        return await call(tools.pick, project, file, target, take)

    @server.tool(annotations=WRITES)
    async def plan(file: str, targets: list[str] | None = None) -> dict[str, Any]:
        """Plan a pipeline (or only targets STEP[@VARIANT] and their ancestors) and save the plan.

        Sends nothing. Returns the saved plan's path (under .omniflow/plans/) and
        digest, every step to run (label, model, key, seconds, cost, why), the
        totals (steps, seconds per model, cost) and today's spending under
        [mcp] max_cost. Show the steps and cost to the person; pass the path and
        digest to run only once they approved.
        """
        return await call(tools.plan, project, file, targets)

    @server.tool(annotations=PAYS)
    async def run(plan: str, digest: str, ctx: Context) -> dict[str, Any]:
        """Run exactly an approved saved plan: its path (from plan) and its digest are required.

        This is the only tool that spends money. Refused, with nothing sent: a
        missing or other digest, a plan file edited since it was saved, a plan
        that no longer matches what a run would buy (keys, prices, totals, older
        than 24 h), or a run that would take today's spending in this project
        over [mcp] max_cost. Reports a progress notification per finished step.
        Returns every step's state, key, task id, outputs and cost.
        """
        token = anyio.lowlevel.current_token()

        def on_step(done: int, total: int, message: str) -> None:
            try:
                anyio.from_thread.run(functools.partial(ctx.report_progress, done, total, message), token=token)
            except Exception:  # noqa: BLE001 - a lost notification (client gone) must not end a paid run
                pass

        return await call(tools.run, project, plan, digest, on_step=on_step)

    @server.tool(annotations=READ_ONLY)
    async def ledger(files: list[str] | None = None, since: str | None = None) -> dict[str, Any]:
        """What was bought: every create sent (from the journal), per run and per step.

        Model, seconds, estimated cost, billing multipliers, refunded or not;
        totals per model and per UTC day. files: only the runs of those
        pipelines; since: YYYY-MM-DD.
        """
        return await call(tools.ledger, project, files, since)

    _resources(server)
    return server


def _resources(server: MCPServer) -> None:
    @server.resource(reference.LANGUAGE_URI, name="language", title="The omniflow pipeline language",
                     mime_type="text/markdown")
    def language() -> str:
        """The pipeline language reference (docs/language.md)."""
        return reference.language_reference()

    @server.resource(reference.SCHEMA_URI, name="schema", title="JSON Schema of pipeline files",
                     mime_type="application/schema+json")
    def schema() -> str:
        """The JSON Schema (draft-07) of pipeline files, as `omniflow schema` prints it."""
        return reference.pipeline_schema()

    @server.resource(reference.MODELS_URI, name="models", title="The model catalogue",
                     mime_type="application/json")
    def catalogue() -> str:
        """Every model and family with its constraints, as `omniflow models --json` prints it."""
        return reference.model_catalogue_text()


def serve(root: Path) -> None:
    """Serve the project at ``root`` over stdio until the client closes the connection."""
    server = build_server(root)
    anyio.run(server.run_stdio_async)

