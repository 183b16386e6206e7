"""The monthly numbers, exactly as docs/metrics.md defines them: the report's public shapes
and entry points. Durations are seconds, never rounded.

The figures come from one of three engines (reports.engines), chosen here per report:

- SQLite: `sqlite_scan` (SQL counts; means and medians in Python, SQLite having no percentile).
- PostgreSQL: deploy counts and lead-time medians from `postgres_rollup` (per-month rollups kept
  exact by triggers, reports.models) when they are bucketed in OPSLOG_REPORT_TIME_ZONE, with a
  filter on environments' lead times from `postgres_environments` (one pass, the kept first
  deliveries sparing most of the anti-join); otherwise from `postgres_scan`. Incidents always come from
  `postgres_scan` (AVG, percentile_cont in the database). Both ways give the same numbers to the
  bit (tests/reports/test_rollup.py).
"""

import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from reports.engines import postgres_environments, postgres_rollup, postgres_scan, sqlite_scan
from reports.engines.results import DeployCounts, Durations, IncidentCounts
from reports.engines.rows import COUNTED_STATUSES, counted_deploys, counted_incidents
from reports.engines.scope import Filters, Span, add_months, month_starts
from reports.models import RollupZone

__all__ = [
    "COUNTED_STATUSES",
    "LEVELS",
    "MAX_MONTHS",
    "SORTED_MEDIAN_MAX_ROWS",
    "Dora",
    "Durations",
    "Figures",
    "Filters",
    "LeftOut",
    "Report",
    "add_months",
    "counted_deploys",
    "counted_incidents",
    "dora_levels",
    "month_starts",
    "monthly_report",
    "quarterly_report",
    "report_zone",
    "rollup_zone",
    "today",
    "weekly_report",
    "yearly_report",
]

logger = logging.getLogger(__name__)

MAX_MONTHS = 240
EVERYTHING = Filters()  # the default: frozen, so one instance serves every call
# Up to this many values, a lead-time median over the whole range is computed with a sort; above
# it, read off the lead-seconds index (see reports.engines.postgres_scan.lead_medians).
SORTED_MEDIAN_MAX_ROWS = 500_000


# --- Shapes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeftOut:
    """A metric left out of a DORA level because it had nothing to measure, and why."""

    metric: str  # a key of Dora: lead_time, change_failure_rate or time_to_restore
    reason: str  # "no commits", "no deploys", "no restored incidents"


@dataclass(frozen=True)
class Dora:
    deploy_frequency: str | None = None
    lead_time: str | None = None
    change_failure_rate: str | None = None
    time_to_restore: str | None = None
    overall: str | None = None
    # The metrics with nothing to measure, in the bands' order. Deploy frequency is never among
    # them: a period with no deploys measured 0, which is low.
    left_out: tuple[LeftOut, ...] = ()

    def left_out_text(self) -> str:
        """ "lead time (no commits); time to restore (no restored incidents)", or "" when none."""
        return "; ".join(f"{METRIC_NAMES[item.metric]} ({item.reason})" for item in self.left_out)


@dataclass(frozen=True)
class Figures:
    """One period's numbers: a month, a year or the whole range."""

    start: dt.date
    end: dt.date  # exclusive
    deploys: int = 0
    deployers: int = 0
    incidents: int = 0
    deploy_related_incidents: int = 0
    unresolved_incidents: int = 0
    incident_rate: float | None = None
    change_failure_rate: float | None = None
    rework_rate: float | None = None
    mttd_seconds: Durations = field(default_factory=Durations)
    mttr_seconds: Durations = field(default_factory=Durations)
    time_to_restore_seconds: Durations = field(default_factory=Durations)
    mtta_seconds: Durations = field(default_factory=Durations)
    lead_time_seconds: Durations = field(default_factory=Durations)
    failed_deploys: int = 0
    rework_deploys: int = 0
    dora: Dora = field(default_factory=Dora)
    # The period hasn't ended yet in the reporting time zone: its figures are so far. For a range,
    # whether any of its periods is partial.
    partial: bool = False

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class Report:
    time_zone: str
    first_month: dt.date
    last_month: dt.date
    periods: list[Figures]
    # totals.dora is over the complete periods only unless partial ones were asked for: a month
    # three days old would otherwise set the range's level.
    totals: Figures
    # The partial periods whose figures were left out of totals.dora (empty when asked for them).
    left_out_of_level: tuple[Figures, ...] = ()
    # The figures totals.dora was rated on: the totals, or those of the complete periods only
    # (None when no period is complete and partial ones were left out).
    rated: Figures | None = None


def report_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.OPSLOG_REPORT_TIME_ZONE)


# --- The report ------------------------------------------------------------------------------------


def monthly_report(
    *, first: dt.date, last: dt.date, filters: Filters = EVERYTHING, include_partial: bool = False
) -> Report:
    """Every month from `first` to `last` (inclusive, any day in them), and totals over the range.

    A month that hasn't ended is `partial`, and left out of the range's DORA level unless
    `include_partial`. A constant number of queries whatever the range or the data (twice as
    many when the range has both complete and partial months: the level is computed apart).
    """
    span = Span.of_months(first=first, last=last, zone=report_zone())
    return _with_level(span=span, filters=filters, include_partial=include_partial)


def yearly_report(
    *, first: dt.date, last: dt.date, filters: Filters = EVERYTHING, include_partial: bool = False
) -> Report:
    """Every calendar year from `first`'s to `last`'s, and totals; partial years as in monthly_report."""
    span = Span.of_years(first=first, last=last, zone=report_zone())
    return _with_level(span=span, filters=filters, include_partial=include_partial)


def weekly_report(
    *, first: dt.date, last: dt.date, filters: Filters = EVERYTHING, include_partial: bool = False
) -> Report:
    """Every ISO week (Monday to Sunday) from `first`'s to `last`'s, and totals; the same figures as
    monthly_report, only bucketed by week (the OpenDORA API's weekly aggregation)."""
    span = Span.of_weeks(first=first, last=last, zone=report_zone())
    return _with_level(span=span, filters=filters, include_partial=include_partial)


def quarterly_report(
    *, first: dt.date, last: dt.date, filters: Filters = EVERYTHING, include_partial: bool = False
) -> Report:
    """Every calendar quarter from `first`'s to `last`'s, and totals, as monthly_report."""
    span = Span.of_quarters(first=first, last=last, zone=report_zone())
    return _with_level(span=span, filters=filters, include_partial=include_partial)


def today() -> dt.date:
    """Today in the reporting time zone: periods ending after it are partial."""
    return timezone.now().astimezone(report_zone()).date()


def _with_level(*, span: Span, filters: Filters, include_partial: bool) -> Report:
    report = _report(span=span, filters=filters)
    partial = [f for f in report.periods if f.partial]
    if include_partial or not partial:
        return replace(report, rated=report.totals)
    complete = len(report.periods) - len(partial)
    rated = None
    if complete:
        # Partial periods are always the last ones (they haven't ended); the complete ones' level
        # needs their own medians, so the head of the span is reported again.
        head = replace(span, starts=span.starts[:complete], ends=span.ends[:complete])
        rated = _report(span=head, filters=filters).totals
    # Nothing complete to rate: no level rather than a level of a few days.
    dora = rated.dora if rated is not None else Dora()
    return replace(report, totals=replace(report.totals, dora=dora), left_out_of_level=tuple(partial), rated=rated)


def _report(*, span: Span, filters: Filters) -> Report:
    """The report over `span`, each part from the engine that can serve it (see the module's doc)."""
    postgres = connection.vendor == "postgresql"
    with _report_transaction(postgres=postgres):
        # The rollups are bucketed in one zone: in another, months would start at other instants.
        zone = rollup_zone()
        # Rollups are per month: weeks don't fit in them, so weekly reports scan.
        rollup = zone is not None and zone == settings.OPSLOG_REPORT_TIME_ZONE and span.grain != "week"
        if zone is not None and not rollup:
            _warn_zone_once(zone)
        if rollup:
            deploys = postgres_rollup.deploy_figures(span=span, filters=filters)
        elif postgres:
            deploys = postgres_scan.deploy_figures(span=span, filters=filters)
        else:
            deploys = sqlite_scan.deploy_figures(span=span, filters=filters)
        if postgres:
            incidents = postgres_scan.incident_figures(span=span, filters=filters)
        else:
            incidents = sqlite_scan.incident_figures(span=span, filters=filters)
        lead = None
        # The rollup keeps each commit's first production delivery: with a filter on environments
        # "first" means first among those, which only the scan computes.
        if rollup and not filters.environments:
            lead = postgres_rollup.lead_medians(span=span, filters=filters)  # None: drifted, scan
        elif rollup:
            # First deliveries among the chosen environments, in one pass over their deploys (#19).
            lead = postgres_environments.lead_medians(span=span, filters=filters)
        if lead is None and postgres:
            lead = postgres_scan.lead_medians(span=span, filters=filters, sorted_median_max_rows=SORTED_MEDIAN_MAX_ROWS)
        elif lead is None:
            lead = sqlite_scan.lead_medians(span=span, filters=filters)

    now = today()
    periods = [
        _figures(start=start, end=end, deploys=d, incidents=i, lead_median=median, partial=end > now)
        for start, end, d, i, median in zip(span.starts, span.ends, deploys.periods, incidents.periods, lead.periods)
    ]
    return Report(
        time_zone=settings.OPSLOG_REPORT_TIME_ZONE,
        first_month=span.starts[0],
        last_month=add_months(span.ends[-1], -1),
        periods=periods,
        totals=_figures(
            start=span.starts[0],
            end=span.ends[-1],
            deploys=deploys.totals,
            incidents=incidents.totals,
            lead_median=lead.total,
            partial=span.ends[-1] > now,
        ),
    )


@contextmanager
def _report_transaction(*, postgres: bool) -> Iterator[None]:
    """On PostgreSQL, a transaction whose planner settings suit the report's queries."""
    if not postgres:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The per-period sorts stay in memory (the default 4 MB spills to disk); LOCAL ends
            # with this transaction, so other queries keep the server's setting.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            # The tables a report reads are hot in the cache: with the default random_page_cost
            # (4, for spinning disks) the planner seq-scans a million deploys to join ten
            # thousand incident links instead of looking each one up by primary key.
            cursor.execute("SET LOCAL random_page_cost = 1.1")
        yield


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _figures(
    *,
    start: dt.date,
    end: dt.date,
    deploys: DeployCounts,
    incidents: IncidentCounts,
    lead_median: float | None,
    partial: bool,
) -> Figures:
    figures = Figures(
        start=start,
        end=end,
        deploys=deploys.deploys,
        deployers=deploys.deployers,
        incidents=incidents.incidents,
        deploy_related_incidents=incidents.deploy_related,
        unresolved_incidents=incidents.unresolved,
        incident_rate=_ratio(incidents.deploy_related, deploys.deploys),
        change_failure_rate=_ratio(deploys.failed, deploys.deploys),
        rework_rate=_ratio(deploys.rework, deploys.deploys),
        mttd_seconds=incidents.mttd,
        mttr_seconds=incidents.mttr,
        time_to_restore_seconds=incidents.time_to_restore,
        mtta_seconds=incidents.mtta,
        lead_time_seconds=Durations(None, lead_median),
        failed_deploys=deploys.failed,
        rework_deploys=deploys.rework,
        partial=partial,
    )
    return replace(figures, dora=dora_levels(figures))


# --- The rollups' zone -------------------------------------------------------------------------

_warned_zones: set[str] = set()


def _warn_zone_once(zone: str) -> None:
    if zone not in _warned_zones:
        _warned_zones.add(zone)
        logger.warning(
            "report: the rollups are in %s, not OPSLOG_REPORT_TIME_ZONE=%s; reports scan (slower) until "
            "`manage.py rebuild_report_rollup` is run",
            zone,
            settings.OPSLOG_REPORT_TIME_ZONE,
        )


def rollup_zone() -> str | None:
    """The time zone the report rollups (reports.models) are bucketed in; None where there are none."""
    if connection.vendor != "postgresql":
        return None
    return RollupZone.objects.values_list("zone", flat=True).first()


# --- DORA --------------------------------------------------------------------------------------

LEVELS = ["elite", "high", "medium", "low"]
DAY = 86400.0


# How the level names a metric it left out ("left out: lead time (no commits)").
METRIC_NAMES = {
    "deploy_frequency": "deploy frequency",
    "lead_time": "lead time",
    "change_failure_rate": "change failure rate",
    "time_to_restore": "time to restore",
}
# Why a metric has nothing to measure: the only reasons a metric is left out of the level.
NOTHING_TO_MEASURE = {
    "lead_time": "no commits",
    "change_failure_rate": "no deploys",
    "time_to_restore": "no restored incidents",
}


def _deploy_frequency_level(deploys: int, days: int) -> str:
    # No deploys is a measurement, not missing data: a frequency of 0 is low.
    per_day = deploys / days
    if per_day >= 1:
        return "elite"
    if per_day >= 1 / 7:
        return "high"
    # "At least once a month": once in the longest month (31 days) still counts.
    if per_day >= 1 / 31:
        return "medium"
    return "low"


def _lead_time_level(median: float | None) -> str | None:
    if median is None:
        return None
    if median < DAY:
        return "elite"
    if median < 7 * DAY:
        return "high"
    if median < 30 * DAY:
        return "medium"
    return "low"


def _change_failure_level(rate: float | None) -> str | None:
    if rate is None:
        return None
    if rate <= 0.05:
        return "elite"
    if rate <= 0.10:
        return "high"
    if rate <= 0.15:
        return "medium"
    return "low"


def _restore_level(median: float | None) -> str | None:
    if median is None:
        return None
    if median < 3600:
        return "elite"
    if median < DAY:
        return "high"
    if median < 7 * DAY:
        return "medium"
    return "low"


def dora_levels(figures: Figures) -> Dora:
    """DORA 2023 bands per metric; overall is the lowest of those with something to measure, and
    `left_out` says which had nothing (no deploys, commits or restored incidents) and why."""
    levels = Dora(
        deploy_frequency=_deploy_frequency_level(figures.deploys, figures.days),
        lead_time=_lead_time_level(figures.lead_time_seconds.median),
        change_failure_rate=_change_failure_level(figures.change_failure_rate),
        time_to_restore=_restore_level(figures.time_to_restore_seconds.median),
    )
    present = [
        level
        for level in (levels.deploy_frequency, levels.lead_time, levels.change_failure_rate, levels.time_to_restore)
        if level is not None
    ]
    left_out = tuple(LeftOut(key, reason) for key, reason in NOTHING_TO_MEASURE.items() if getattr(levels, key) is None)
    return replace(levels, overall=max(present, key=LEVELS.index) if present else None, left_out=left_out)
