"""``omniflow review``: serve the report on 127.0.0.1 with a Pick button on every candidate."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click

from omniflow.cli._common import echo_err, handles_errors
from omniflow.cli._load import load_pipeline, parse_sets, pipeline_options


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on (default 8765, or any free one when it is taken; 0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback shows the report to the network.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser, if there is one.")
@pipeline_options
@handles_errors
def review(file: str, port: int | None, host: str, open_browser: bool, sets: tuple[str, ...],
           backend: str | None, strict: bool) -> None:
    """Serve the review page: the candidates of every multi-take step side by side, each with a Pick button.

    A Pick writes the picks file beside the lock (as `omniflow pick` does) and
    marks the steps it puts to run again. Only this page can pick: a request
    from any other origin, or without the page's token, is refused. Ctrl-C stops.
    """
    from omniflow.language import load
    from omniflow.review import ReviewSession
    from omniflow.review.server import is_wildcard, serve

    pipeline = load_pipeline(file, sets=sets, backend=backend, strict=strict, announce=False)
    values = parse_sets(sets)

    def reload() -> object:
        return load(Path(file), set=values, backend=pipeline.backend, strict=strict)

    out = Path(tempfile.mkdtemp(prefix="omniflow-review-"))
    try:
        session = ReviewSession(reload, out)
        session.page()  # the first build (media, contact sheets) before the URL is shown
        if is_wildcard(host) or host.strip("[]") not in ("127.0.0.1", "localhost", "::1"):
            echo_err(f"warning: listening on {host}: anyone who can reach it can see this report "
                     "(a pick still needs the page's token)")

        def ready(url: str) -> None:
            click.echo(f"review: {url} (Ctrl-C to stop)")
            if open_browser:
                _open(url)

        serve(session, host=host, port=port, ready=ready)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _open(url: str) -> None:
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        echo_err(f"no browser found; open {url} yourself")
        return
    if not browser.open(url):
        echo_err(f"could not open a browser; open {url} yourself")
