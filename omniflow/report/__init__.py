"""The review page and contact sheets (``omniflow report``).

- :func:`build_report` writes a static, self-contained folder: ``index.html``
  (variants x steps: clips, prompts, models, keys, task ids, status, cost),
  ``media/`` (outputs under their content hash, poster frames) and
  ``contact-sheets/`` (first/middle/last frame of every shot, per variant and
  for the whole sweep).
- :func:`collect` gives the values the page is drawn from, without writing.
- :func:`contact_sheet` draws a sheet for any list of videos.
- :func:`write_report` writes the folder from values already gathered
  (``omniflow review`` renders its page with Pick buttons through it).

Heavy libraries (jinja2, PyAV, Pillow) are imported only when a build runs.
"""

from omniflow.report.build import ReportResult, build_report, gather, render_html, write_report
from omniflow.report.contact import Sheet, Shot, Tile, contact_sheet, report_sheets
from omniflow.report.model import Cell, ReportData, Row, Summary, Take, collect

__all__ = [
    "Cell",
    "ReportData",
    "ReportResult",
    "Row",
    "Sheet",
    "Shot",
    "Summary",
    "Take",
    "Tile",
    "build_report",
    "collect",
    "contact_sheet",
    "gather",
    "render_html",
    "report_sheets",
    "write_report",
]
