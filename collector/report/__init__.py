"""Reports: facts per school as of a date, the indicators officials publish, the
regional roll-up, the ledger (台账), and the formats they are printed in."""

from __future__ import annotations

from collections.abc import Callable

from collector.judge.registry import LEVELS
from collector.report.build import VIEWS, Report, build
from collector.report.digest import as_digest
from collector.report.formats import TEXT_FORMATS
from collector.report.ledger import SORTS
from collector.report.page import as_html
from collector.report.period import ReportError


def _xlsx(report: Report) -> bytes:
    try:
        from collector.report.xlsx import as_xlsx  # XlsxWriter loads only for a workbook
    except ImportError as err:
        raise ReportError("--format xlsx needs XlsxWriter, which the collector extra "
                          "installs: pip install 'schoolnet-audit[collector]'") from err
    return as_xlsx(report)


FORMATS: dict[str, Callable[[Report], str | bytes]] = {**TEXT_FORMATS, "html": as_html,
                                                       "xlsx": _xlsx, "digest": as_digest}
# The formats that list schools (a ledger, the schools below target) in every view.
PER_SCHOOL_FORMATS = frozenset({"html", "xlsx", "digest"})

__all__ = ["FORMATS", "LEVELS", "PER_SCHOOL_FORMATS", "SORTS", "VIEWS", "Report", "ReportError",
           "build"]
