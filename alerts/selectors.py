"""Reads for alerts and the monthly alert review."""

import datetime as dt
import statistics
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import (
    Count,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
)
from django.db.models.aggregates import Aggregate
from django.db.models.functions import TruncMonth

from alerts.models import Alert

# Like the monthly report's longest range.
ALERT_REVIEW_MAX_MONTHS = 240


def alert_list(*, status: str = "", name: str = "") -> QuerySet[Alert]:
    """Alerts newest first, optionally only one status and/or one alert name (exact)."""
    alerts = Alert.objects.select_related("incident")
    if status:
        alerts = alerts.filter(status=status)
    if name:
        alerts = alerts.filter(name=name)
    return alerts.order_by("-starts_at", "-id")


def alert_names() -> list[str]:
    """Every alert name seen, for the list's filter."""
    return list(Alert.objects.order_by("name").values_list("name", flat=True).distinct())


def alert_detail(pk: int) -> Alert:
    return Alert.objects.select_related("integration", "incident").get(pk=pk)


@dataclass(frozen=True)
class AlertReviewRow:
    """One alert name in one month: how often it fired, and whether anyone needed to act."""

    name: str
    fired: int
    signal: int  # firings promoted to an incident
    noise: int  # firings that never became one
    median_firing_seconds: float | None  # over the resolved firings; None while none has resolved

    @property
    def signal_ratio(self) -> float | None:
        """Signal ÷ fired; None if it never fired."""
        return self.signal / self.fired if self.fired else None


@dataclass(frozen=True)
class AlertReviewMonth:
    month: dt.date  # the first day, in the reporting time zone
    rows: list[AlertReviewRow]

    @property
    def fired(self) -> int:
        return sum(row.fired for row in self.rows)

    @property
    def signal(self) -> int:
        return sum(row.signal for row in self.rows)

    @property
    def noise(self) -> int:
        return sum(row.noise for row in self.rows)


def next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


class _FiringSeconds(Func):
    """ends_at − starts_at in seconds, as a float (PostgreSQL)."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "
    output_field = FloatField()


class _Median(Aggregate):
    """percentile_cont(0.5): the median, interpolated between the two middle values (PostgreSQL).
    The same as reports.selectors' (incidents can't import reports, which reads incidents)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def alert_review(*, first: dt.date, last: dt.date) -> list[AlertReviewMonth]:
    """Etsy's monthly alert review (signal:noise), for every month from `first` to `last` (both
    included, any day in them; months in OPSLOG_REPORT_TIME_ZONE, an alert in the month it started
    firing). Per month and alert name: times fired, how many were promoted to an incident (signal)
    and how many not (noise), and the median time firing in seconds over the resolved firings
    (interpolated for an even count, like statistics.median). Noisiest first: most noise, then most
    fired, then by name. Every month of the range is present, empty ones with no rows.

    Counts are SQL aggregates; the median is percentile_cont on PostgreSQL. SQLite has no
    percentile function, so there the resolved firings' two times are fetched and the median taken
    in Python.
    """
    tz = zoneinfo.ZoneInfo(settings.OPSLOG_REPORT_TIME_ZONE)
    months = []
    month = first.replace(day=1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    since = dt.datetime.combine(months[0], dt.time.min, tzinfo=tz)
    until = dt.datetime.combine(next_month(months[-1]), dt.time.min, tzinfo=tz)
    alerts = Alert.objects.filter(starts_at__gte=since, starts_at__lt=until).order_by()

    def month_of(value) -> dt.date:
        if isinstance(value, dt.datetime):
            value = value.astimezone(tz).date() if value.tzinfo else value.date()
        return value.replace(day=1)

    aggregates = {
        "fired": Count("id"),
        "signal": Count("id", filter=Q(incident__isnull=False)),
    }
    postgres = connection.vendor == "postgresql"
    if postgres:
        aggregates["median"] = _Median(_FiringSeconds(F("ends_at"), F("starts_at")), filter=Q(ends_at__isnull=False))
    cells: dict[tuple[dt.date, str], dict] = {}
    for row in alerts.annotate(month=TruncMonth("starts_at", tzinfo=tz)).values("month", "name").annotate(**aggregates):
        cells[(month_of(row["month"]), row["name"])] = row
    if not postgres:
        durations: dict[tuple[dt.date, str], list[float]] = {}
        resolved = alerts.filter(ends_at__isnull=False).values_list("name", "starts_at", "ends_at")
        for name, starts_at, ends_at in resolved:
            durations.setdefault((month_of(starts_at), name), []).append((ends_at - starts_at).total_seconds())
        for key, row in cells.items():
            values = durations.get(key)
            row["median"] = statistics.median(values) if values else None

    by_month: dict[dt.date, list[AlertReviewRow]] = {m: [] for m in months}
    for (month, name), row in cells.items():
        by_month[month].append(
            AlertReviewRow(
                name=name,
                fired=row["fired"],
                signal=row["signal"],
                noise=row["fired"] - row["signal"],
                median_firing_seconds=row["median"],
            )
        )
    return [
        AlertReviewMonth(month=m, rows=sorted(rows, key=lambda r: (-r.noise, -r.fired, r.name)))
        for m, rows in by_month.items()
    ]
