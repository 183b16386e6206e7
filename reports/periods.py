"""The report's periods by name: week, month, quarter, year. How each is labelled, parsed and
defaulted, shared by the API, the dashboard and the drill-downs.

Weeks are ISO weeks (Monday to Sunday, `2026-W05`: the week's ISO year, which for the first days of
January can be the year before); quarters are calendar quarters (`2026-Q1`). All in the reporting
time zone: a week starts at Monday 00:00 local and ends at the next Monday 00:00 local, so a week
with a summer-time change is 167 or 169 hours long.
"""

import datetime as dt
import re

from reports.engines.scope import add_months

GRAINS = ("week", "month", "quarter", "year")
WEEK_RE = re.compile(r"^(\d{4})-[Ww](\d{2})$", re.ASCII)
QUARTER_RE = re.compile(r"^(\d{4})-[Qq](\d)$", re.ASCII)
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)

# The longest report of each period: 20 years, as for months (240).
MAX_WEEKS = 1044  # 20 years of ISO weeks are 1,043 or 1,044 weeks
MAX_QUARTERS = 80
# Without `from`: this many periods up to `to`.
DEFAULT_WEEKS = 12
DEFAULT_QUARTERS = 8


def week_start(day: dt.date) -> dt.date:
    """The Monday starting `day`'s ISO week."""
    return day - dt.timedelta(days=day.weekday())


def quarter_start(day: dt.date) -> dt.date:
    """The first day of `day`'s calendar quarter."""
    return dt.date(day.year, day.month - (day.month - 1) % 3, 1)


def period_start(grain: str, day: dt.date) -> dt.date:
    """The first day of the `grain` period holding `day`."""
    if grain == "week":
        return week_start(day)
    if grain == "quarter":
        return quarter_start(day)
    if grain == "year":
        return dt.date(day.year, 1, 1)
    return day.replace(day=1)


def week_label(start: dt.date) -> str:
    """`2026-W05`: the ISO year and week of `start`."""
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


def quarter_label(start: dt.date) -> str:
    """`2026-Q1`."""
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def label(grain: str, start: dt.date) -> str:
    """The period starting `start` in its own notation: 2026-W05, 2026-01, 2026-Q1, 2026."""
    if grain == "week":
        return week_label(start)
    if grain == "quarter":
        return quarter_label(start)
    if grain == "year":
        return f"{start:%Y}"
    return f"{start:%Y-%m}"


def weeks_between(first: dt.date, last: dt.date) -> int:
    """How many ISO weeks `first`'s to `last`'s covers, both included."""
    return (week_start(last) - week_start(first)).days // 7 + 1


def quarters_between(first: dt.date, last: dt.date) -> int:
    """How many quarters `first`'s to `last`'s covers, both included."""
    return (last.year - first.year) * 4 + (last.month - 1) // 3 - (first.month - 1) // 3 + 1


def previous_start(grain: str, start: dt.date, count: int) -> dt.date:
    """The start of the `grain` period `count` periods before the one starting `start`."""
    if grain == "week":
        return start - dt.timedelta(weeks=count)
    if grain == "quarter":
        return add_months(start, -3 * count)
    if grain == "year":
        return dt.date(start.year - count, 1, 1)
    return add_months(start, -count)
