"""What a report covers: its filters and its span of periods, handed to every engine."""

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db.models.functions import TruncMonth, TruncQuarter, TruncWeek, TruncYear


@dataclass(frozen=True)
class Filters:
    """What a report covers. Empty means everything."""

    services: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    severities: tuple[int, ...] = ()
    # Production environments to count; empty means every production environment.
    environments: tuple[str, ...] = ()
    # Which incidents count against which deploys (docs/metrics.md, "Attribution"): "linked", only
    # the causes someone linked; "inferred", those plus, for an incident without one, the latest
    # production deploy of its services at most `attribution_window` before its impact began.
    attribution: Literal["linked", "inferred"] = "linked"
    # None: OPSLOG_ATTRIBUTION_WINDOW_HOURS. Only the inferred rule reads it.
    attribution_window: dt.timedelta | None = None

    @property
    def window(self) -> dt.timedelta:
        """The inferred rule's window: `attribution_window`, or the setting."""
        if self.attribution_window is not None:
            return self.attribution_window
        return dt.timedelta(hours=settings.OPSLOG_ATTRIBUTION_WINDOW_HOURS)


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after `day`'s (before it when negative)."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first day of every month from `first`'s to `last`'s, inclusive; empty if `last` is earlier."""
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def instant(day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """Midnight starting `day` in `zone`."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


@dataclass(frozen=True)
class Span:
    """The periods of a report, back to back: ISO weeks (Monday to Sunday), months, quarters or
    calendar years in the reporting time zone.

    Period i is [starts[i], ends[i]) in `zone`, so ends[i] == starts[i + 1]. There is at least one
    period. Dates are local days; the `*_instants` and `since`/`until` are the same bounds as
    aware datetimes (midnight in `zone`), which is what the database compares timestamps with.
    """

    starts: tuple[dt.date, ...]
    ends: tuple[dt.date, ...]
    zone: zoneinfo.ZoneInfo
    grain: Literal["week", "month", "quarter", "year"]

    @classmethod
    def of_months(cls, *, first: dt.date, last: dt.date, zone: zoneinfo.ZoneInfo) -> "Span":
        """Every month from `first`'s to `last`'s (any day in them), inclusive."""
        starts = month_starts(first, last)
        return cls(starts=tuple(starts), ends=tuple(add_months(s, 1) for s in starts), zone=zone, grain="month")

    @classmethod
    def of_years(cls, *, first: dt.date, last: dt.date, zone: zoneinfo.ZoneInfo) -> "Span":
        """Every calendar year from `first`'s to `last`'s, inclusive."""
        starts = [dt.date(year, 1, 1) for year in range(first.year, last.year + 1)]
        return cls(starts=tuple(starts), ends=tuple(dt.date(s.year + 1, 1, 1) for s in starts), zone=zone, grain="year")

    @classmethod
    def of_weeks(cls, *, first: dt.date, last: dt.date, zone: zoneinfo.ZoneInfo) -> "Span":
        """Every ISO week (starting on Monday) from `first`'s to `last`'s, inclusive."""
        start, starts = first - dt.timedelta(days=first.weekday()), []
        while start <= last:
            starts.append(start)
            start += dt.timedelta(days=7)
        return cls(starts=tuple(starts), ends=tuple(s + dt.timedelta(days=7) for s in starts), zone=zone, grain="week")

    @classmethod
    def of_quarters(cls, *, first: dt.date, last: dt.date, zone: zoneinfo.ZoneInfo) -> "Span":
        """Every calendar quarter from `first`'s to `last`'s, inclusive."""
        starts = [m for m in month_starts(first, last) if m.month % 3 == 1]
        head = first.replace(day=1, month=first.month - (first.month - 1) % 3)
        if not starts or starts[0] != head:
            starts.insert(0, head)
        return cls(starts=tuple(starts), ends=tuple(add_months(s, 3) for s in starts), zone=zone, grain="quarter")

    @property
    def since(self) -> dt.datetime:
        """Where the first period starts (included)."""
        return instant(self.starts[0], self.zone)

    @property
    def until(self) -> dt.datetime:
        """Where the last period ends (excluded)."""
        return instant(self.ends[-1], self.zone)

    # Lists, not tuples: psycopg sends a list as an SQL array.
    @property
    def start_instants(self) -> list[dt.datetime]:
        return [instant(s, self.zone) for s in self.starts]

    @property
    def end_instants(self) -> list[dt.datetime]:
        return [instant(e, self.zone) for e in self.ends]

    @property
    def trunc(self) -> type[TruncWeek] | type[TruncMonth] | type[TruncQuarter] | type[TruncYear]:
        """The database function that truncates a timestamp to its period (given `tzinfo=zone`)."""
        return {"week": TruncWeek, "month": TruncMonth, "quarter": TruncQuarter, "year": TruncYear}[self.grain]

    def index_of(self, moment: dt.datetime) -> int:
        """The period an aware `moment` falls in; AssertionError when it is outside the span."""
        local = moment.astimezone(self.zone).date()
        for index, (start, end) in enumerate(zip(self.starts, self.ends)):
            if start <= local < end:
                return index
        raise AssertionError(f"{moment} outside the report")

    def index_of_truncated(self, value: dt.datetime | dt.date) -> int:
        """The period whose start `value` is, as `trunc(…, tzinfo=zone)` gives it back: a date, or a
        datetime at that local midnight (naive where the database has no time zones)."""
        if isinstance(value, dt.datetime):
            value = (value.astimezone(self.zone) if value.tzinfo else value).date()
        return self.starts.index(value)
