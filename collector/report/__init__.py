"""Reports: the regional roll-up (``rollup``) and the formats it is printed in (``formats``)."""

from collector.judge.registry import LEVELS
from collector.report.formats import FORMATS
from collector.report.rollup import RegionRow, latest_status, roll_up

__all__ = ["FORMATS", "LEVELS", "RegionRow", "latest_status", "roll_up"]
