"""The command line: a thin click group whose commands load lazily.

Each command lives in its own module and is imported only when it runs, so
``omniflow --help`` does not pay for PyAV, rich, jsonschema or httpx.
"""

from __future__ import annotations

import importlib
import sys

import click

# command name -> "module:attribute"
COMMANDS = {
    "validate": "omniflow.cli.validate:validate",
    "plan": "omniflow.cli.plan:plan",
    "run": "omniflow.cli.run:run",
    "status": "omniflow.cli.plan:status",
    "graph": "omniflow.cli.graph:graph",
    "export": "omniflow.cli.export:export",
    "report": "omniflow.cli.report:report",
    "pick": "omniflow.cli.pick:pick",
    "review": "omniflow.cli.review:review",
    "models": "omniflow.cli.models:models",
    "schema": "omniflow.cli.models:schema",
    "cache": "omniflow.cli.cache:cache",
    "clean": "omniflow.cli.clean:clean",
    "emulator": "omniflow.cli.emulator:emulator",
    "push": "omniflow.cli.remote:push",
    "pull": "omniflow.cli.remote:pull",
    "remote": "omniflow.cli.remote:remote",
    "init": "omniflow.cli.init:init",
    "ledger": "omniflow.cli.ledger:ledger",
    "log": "omniflow.cli.ledger:log",
    "adopt": "omniflow.cli.ledger:adopt",
    "forget": "omniflow.cli.ledger:forget",
    "mcp": "omniflow.cli.mcp:mcp",
}

HELP = {
    "validate": "Check pipeline files: YAML, schemas, templates, graph. No network.",
    "plan": "Show what a run would do: cached / to-run / blocked, why, seconds, cost.",
    "run": "Run a pipeline (or targets): create tasks, poll, download, cache.",
    "status": "Short table of the last run of each variant, from the lock.",
    "graph": "Print the step DAG as mermaid or dot.",
    "export": "Write the edit of a concat/mix step as OTIO, FCPXML or EDL for real editors.",
    "report": "Write a static HTML review page and contact sheets.",
    "pick": "List a multi-take step's candidates, or pick the one that feeds what follows.",
    "review": "Serve the review page on 127.0.0.1 with a Pick button on every candidate.",
    "models": "List models, families and their constraints.",
    "schema": "Print the JSON Schema of the pipeline language (for editors).",
    "cache": "Inspect, verify and garbage-collect the cache.",
    "clean": "Remove files under outputs/<name>/ that no lock entry references.",
    "emulator": "The embedded OmniRouters emulator.",
    "push": "Upload cached outputs the locks reference to the remote.",
    "pull": "Download outputs the locks reference from the remote.",
    "remote": "Check the remote cache's objects and entries (remote verify).",
    "init": "Scaffold a project: example storyboard, config, pre-commit and CI files.",
    "ledger": "What was bought, per run and step: model, seconds, cost, multipliers, refunds; totals.",
    "log": "List past runs: when, pipeline, backend, ran/cached/failed, cost, exit code.",
    "adopt": "Bind a step left unknown to the task id found in the provider's console.",
    "forget": "Record that a step left unknown made no task, so the next run creates it.",
    "mcp": "Serve this project to coding agents over MCP (stdio); runs only approved saved plans.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # not built yet
            raise
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every command module.
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """The package, the pipeline language it reads and the date of its model catalogue.

    Imported only when asked, like the commands: ``--help`` stays cheap.
    """
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from omniflow.core.catalog import CATALOGUE_DATE
    from omniflow.core.keys import LANGUAGE_VERSION

    click.echo(f"omniflow {version('omniflow')} "
               f"(pipeline language {LANGUAGE_VERSION}, model catalogue {CATALOGUE_DATE})")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version, the pipeline language version and the model catalogue date.")
def cli() -> None:
    """omniflow: YAML storyboards to generated video, cached and crash-safe.

    Exit codes: 0 ok, 1 some steps failed, 2 invalid pipeline or usage,
    3 refused by budget, 130 interrupted.
    """


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="omniflow")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
