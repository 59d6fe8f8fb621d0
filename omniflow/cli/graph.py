"""``omniflow graph FILE --format mermaid|dot``: the step DAG of one variant."""

from __future__ import annotations

import click

from omniflow.cli._common import handles_errors
from omniflow.cli._load import load_pipeline, pipeline_options
from omniflow.errors import UsageError


@click.command()
@click.argument("file")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@click.option("--variant", default=None, help="Variant name (default: the first).")
@pipeline_options
@handles_errors
def graph(file: str, fmt: str, variant: str | None, sets: tuple[str, ...], backend: str | None, strict: bool) -> None:
    """Print the step DAG as mermaid or dot (deterministic). No network.

    Solid edges carry data (templates, from, inputs); dashed edges are needs.
    """
    from omniflow.core.graph import to_dot, to_mermaid

    pipeline = load_pipeline(file, sets=sets, backend=backend, strict=strict, announce=False)
    chosen = pipeline.variants[0]
    if variant is not None:
        names = [v.name for v in pipeline.variants]
        if variant not in names:
            from omniflow.language.suggest import did_you_mean

            raise UsageError(f"no variant {variant!r}{did_you_mean(variant, names)}; variants: {', '.join(names)}")
        chosen = pipeline.variants[names.index(variant)]
    click.echo(to_mermaid(chosen) if fmt == "mermaid" else to_dot(chosen), nl=False)
