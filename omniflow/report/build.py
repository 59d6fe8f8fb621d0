"""``build_report``: write the static review folder for a pipeline.

Layout of the folder (everything relative, nothing fetched from anywhere)::

    index.html              the page: variants x steps
    report.css, report.js   one stylesheet, one small filter script
    media/<sha256>.<ext>    outputs, copied from the cache under their hash
    media/<sha256>.poster.png
    contact-sheets/<variant>.png, contact-sheets/all-variants.png

The HTML is a pure function of the pipeline, plan, cache entries, journal
and prices: no build time is written, so rebuilding an unchanged project
rewrites nothing and a diff of two reports shows only what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from omniflow.errors import CacheError, UsageError
from omniflow.report.model import ReportData, collect
from omniflow.store import write_atomic

SHEETS_DIR = "contact-sheets"
STATIC = ("report.css", "report.js")


@dataclass(frozen=True)
class ReportResult:
    """What a build wrote."""

    out: Path
    index: Path | None  # None when only contact sheets were asked for
    data: ReportData
    sheets: tuple[Path, ...]
    media_copied: int
    media_reused: int
    html: str = ""  # the page as rendered (with a review token, it is served, not written)


def gather(pipeline: Any, plan: Any = None) -> tuple[ReportData, Any]:
    """Read plan, cache, journal and prices for ``pipeline``; returns (values, cache)."""
    from omniflow.config import load_config
    from omniflow.planning.plan import plan_pipeline
    from omniflow.store import Cache, Journal, state_dir

    config = load_config(pipeline.root)
    plan = plan or plan_pipeline(pipeline, config=config)
    state = state_dir(pipeline.root)
    cache = Cache(state)
    rows: list[Any] = []
    journal_path = state / "journal.sqlite"
    if journal_path.exists():
        with Journal(journal_path) as journal:
            rows = journal.all()
    return collect(plan, cache=cache, journal_rows=rows, config=config), cache


def build_report(pipeline: Any, out: Path, *, sheets: bool = True, page: bool = True,
                 plan: Any = None) -> ReportResult:
    """Write the review folder for ``pipeline`` into ``out`` (created if needed).

    ``page=False`` writes only the contact sheets (``report --contact-sheet``);
    ``sheets=False`` skips them (they decode three frames per clip).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; -o takes a folder")
    data, cache = gather(pipeline, plan)
    return write_report(data, cache, out, sheets=sheets, page=page)


def write_report(data: ReportData, cache: Any, out: Path, *, sheets: bool = True, page: bool = True,
                 review: str | None = None, link_sheets: bool | None = None) -> ReportResult:
    """Write the folder for values already gathered; see :func:`build_report`.

    ``review`` is the session token of ``omniflow review``: the page gets Pick
    buttons and the token, and is returned in ``html`` instead of being written
    (the token never lands on disk). ``link_sheets`` links the contact sheets
    even when this call does not redraw them (default: when it draws them).
    """
    from omniflow.report.contact import report_sheets, sheet_filename

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot create {out}: {exc.strerror or exc}") from None
    written_sheets: tuple[Path, ...] = ()
    if sheets:
        written_sheets = tuple(s.path for s in report_sheets(data, cache, out / SHEETS_DIR))
    if not page:
        return ReportResult(out, None, data, written_sheets, 0, 0)

    from omniflow.report.media import MediaFolder

    media = MediaFolder(cache, out)
    for row in data.rows:
        for cell in row.cells:
            for obj in () if cell.is_copy else cell.outputs:  # a shared output is added by its first row
                media.add(obj)
            for take in cell.takes:  # a candidate shared by several variants: copied once, then reused
                for obj in take.outputs:
                    media.add(obj)
    links = None
    if sheets if link_sheets is None else link_sheets:
        links = {
            "all": f"{SHEETS_DIR}/all-variants.png",
            "rows": [f"{SHEETS_DIR}/{quote(sheet_filename(r.label))}" for r in data.rows],
        }
    html = render_html(data, sheets=links, review=review)
    for name in STATIC:
        _write_if_changed(out / name, resources.files("omniflow.report").joinpath(name).read_bytes())
    if review is not None:
        return ReportResult(out, None, data, written_sheets, media.copied, media.reused, html)
    index = out / "index.html"
    _write_if_changed(index, html.encode("utf-8"))
    return ReportResult(out, index, data, written_sheets, media.copied, media.reused, html)


def render_html(data: ReportData, *, sheets: dict[str, Any] | None = None, review: str | None = None) -> str:
    """The page's HTML for ``data`` (deterministic); ``review``: the token of a review session."""
    import jinja2

    from omniflow.report.media import is_video, media_name, poster_name

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("omniflow.report", "."),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    template = env.get_template("report.html")
    # a filter is worth showing only for a key with more than one value
    filters = [(k, vals) for k, vals in data.dims if len(vals) > 1]
    return template.render(
        d=data, filters=filters, sheets=sheets, is_video=is_video, review=review,
        media=lambda o: quote(media_name(o)), poster=lambda o: quote(poster_name(o)),
        money=lambda x: f"{x:.2f}", num=lambda x: f"{x:g}",
    )


def _write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    write_atomic(path, data)
