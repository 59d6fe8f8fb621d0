"""``omniflow report``: the static HTML review page and contact sheets."""

from __future__ import annotations

from pathlib import Path

import click

from omniflow.cli._common import echo_err, handles_errors
from omniflow.cli._load import load_pipeline, pipeline_options


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(file_okay=False), default="report", show_default=True,
              help="Folder to write (created; files already there are reused).")
@click.option("--contact-sheet", "sheets_only", is_flag=True,
              help="Write only the contact sheets (DIR/contact-sheets/*.png).")
@click.option("--no-contact-sheets", "no_sheets", is_flag=True, help="Skip the contact sheets (faster).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser, if there is one.")
@pipeline_options
@handles_errors
def report(file: str, out: str, sheets_only: bool, no_sheets: bool, open_browser: bool, sets: tuple[str, ...],
           backend: str | None, strict: bool) -> None:
    """Write a static review page: one row per variant, one column per step, clips, prompts, status, cost.

    Nothing is sent anywhere: the page is built from the cache, the lock and
    the journal. The folder is self-contained (open it from disk, zip it).
    """
    from omniflow.errors import UsageError
    from omniflow.report import build_report

    if sheets_only and no_sheets:
        raise UsageError("--contact-sheet and --no-contact-sheets contradict each other")
    pipeline = load_pipeline(file, sets=sets, backend=backend, strict=strict, announce=False)
    result = build_report(pipeline, Path(out), sheets=not no_sheets, page=not sheets_only)
    counts = result.data.summary.counts
    state = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if result.index is not None:
        click.echo(f"report: {result.index} ({len(result.data.rows)} variants; {state})")
    if result.sheets:
        click.echo(f"contact sheets: {len(result.sheets)} in {result.out / 'contact-sheets'}")
    if open_browser:
        target = result.index or (result.sheets[-1] if result.sheets else None)
        if target is not None:
            _open(target)


def _open(path: Path) -> None:
    """Open ``path`` in the default browser; say so (and do nothing) when there is none."""
    import webbrowser

    uri = path.resolve().as_uri()
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        echo_err(f"no browser found; open {uri} yourself")
        return
    if not browser.open(uri):
        echo_err(f"could not open a browser; open {uri} yourself")
