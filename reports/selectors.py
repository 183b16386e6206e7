"""The monthly numbers, exactly as docs/metrics.md defines them: the report's public shapes
and entry points. Durations are seconds, never rounded.

The figures come from one of three engines (reports.engines), chosen here per report:

- SQLite: `sqlite_scan` (SQL counts; means and medians in Python, SQLite having no percentile).
- PostgreSQL: deploy counts and lead-time medians from `postgres_rollup` (per-month and per-week
  rollups kept exact by triggers, reports.models) when they are bucketed in
  OPSLOG_REPORT_TIME_ZONE (by one environment, its lead times from the rollups by environment),
  with a filter on several environments' lead times from
  `postgres_environments` (one pass, the kept first deliveries sparing most of the anti-join);
  otherwise from
  `postgres_scan`. Incident figures come from `postgres_rollup` too when no service, team or
  severity filters them (the incident rollups have none in their key), otherwise from
  `postgres_scan` (AVG, percentile_cont in the database). Both ways give the same numbers to the
  bit (tests/reports/test_rollup.py, tests/reports/test_incident_rollup.py).
"""

import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from deploys.models import Deploy
from incidents.models import Incident
from reports import bands
from reports.engines import postgres_environments, postgres_rollup, postgres_scan, sqlite_scan
from reports.engines.results import DeployCounts, Durations, IncidentCounts, RecoveryCounts
from reports.engines.rows import (
    COUNTED_STATUSES,
    cause_pairs,
    caused_deploy_q,
    counted_deploys,
    counted_incidents,
    deploy_related_q,
)
from reports.engines.scope import Filters, Span, add_months, month_starts
from reports.models import RollupZone

__all__ = [
    "COUNTED_STATUSES",
    "Attributed",
    "Cause",
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
    "attributed_deploys",
    "attributed_incidents",
    "deploy_related_incidents",
    "dora_levels",
    "failed_deploys",
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

    # A key of Dora: lead_time, change_failure_rate or failed_deployment_recovery_time.
    metric: str
    # "no commits", "no deploys", "no failed deploys", "no recovered failed deploys", or the
    # edition's reason for publishing no bands ("not banded in the 2024 edition").
    reason: str


@dataclass(frozen=True)
class Dora:
    deploy_frequency: str | None = None
    lead_time: str | None = None
    change_failure_rate: str | None = None
    # Rated for reference (the earlier definition of recovery): never in `overall`.
    time_to_restore: str | None = None
    overall: str | None = None
    # The metrics with nothing to measure, in the bands' order. Deploy frequency is never among
    # them: a period with no deploys measured 0, which is low.
    left_out: tuple[LeftOut, ...] = ()
    # DORA's current recovery metric (since 2023), the fourth of the level.
    failed_deployment_recovery_time: str | None = None

    def left_out_text(self) -> str:
        """ "lead time (no commits); failed deployment recovery time (no failed deploys)", or "" when none."""
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
    # Failed deployment recovery time over the period's failed deploys (by their deployed_at),
    # those recovered; the others are counted here and left out of mean and median.
    failed_deployment_recovery_seconds: Durations = field(default_factory=Durations)
    unrecovered_failed_deploys: int = 0

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


def year_line(*, report: Report, first: dt.date, last: dt.date, filters: Filters = EVERYTHING) -> list[Figures]:
    """The figures of each calendar year from `first`'s to `last`'s, level included, as
    `yearly_report(first=first, last=last, filters=filters, include_partial=True).periods`: the
    dashboard's year-by-year line beside `report` (the same range and filters, any grain).

    When `report` spans exactly one calendar year (its first period starts on 1 January and its
    last ends on the next), that year's figures are its totals: the same instants, rows and
    filters, so the same numbers, and no query. Rated on themselves, as a partial year is.
    """
    start, end = report.periods[0].start, report.periods[-1].end
    if (start.month, start.day) == (1, 1) and end == dt.date(start.year + 1, 1, 1):
        return [replace(report.totals, dora=dora_levels(report.totals))]
    return yearly_report(first=first, last=last, filters=filters, include_partial=True).periods


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
        # Per month (quarters and years are sums of months) and per ISO week.
        rollup = zone is not None and zone == settings.OPSLOG_REPORT_TIME_ZONE
        if zone is not None and not rollup:
            _warn_zone_once(zone)
        if rollup:
            deploys = postgres_rollup.deploy_figures(span=span, filters=filters)
        elif postgres:
            deploys = postgres_scan.deploy_figures(span=span, filters=filters)
        else:
            deploys = sqlite_scan.deploy_figures(span=span, filters=filters)
        incidents = None
        if rollup and postgres_rollup.incident_rollup(filters=filters):
            incidents = postgres_rollup.incident_figures(span=span, filters=filters)  # None: drifted, scan
        if incidents is None and postgres:
            incidents = postgres_scan.incident_figures(span=span, filters=filters)
        elif incidents is None:
            incidents = sqlite_scan.incident_figures(span=span, filters=filters)
        lead = None
        # The rollups keep each commit's first production delivery and its first delivery within
        # each environment: with a filter on several environments "first" means first among
        # those, which only a pass over their deploys computes.
        if rollup and (not filters.environments or postgres_rollup.environment_rollup(filters=filters)):
            lead = postgres_rollup.lead_medians(span=span, filters=filters)  # None: drifted, scan
        elif rollup:
            # First deliveries among the chosen environments, in one pass over their deploys (#19).
            lead = postgres_environments.lead_medians(span=span, filters=filters)
        if lead is None and postgres:
            lead = postgres_scan.lead_medians(span=span, filters=filters, sorted_median_max_rows=SORTED_MEDIAN_MAX_ROWS)
        elif lead is None:
            lead = sqlite_scan.lead_medians(span=span, filters=filters)
        recovery = None
        if rollup and postgres_rollup.recovery_rollup(filters=filters):
            recovery = postgres_rollup.recovery_figures(span=span, filters=filters)  # None: drifted
        if recovery is None and postgres:
            # With the rollups, the cause pairs' linked deploys come off reports_deploylink (kept
            # by the same kind of triggers), and the linked rule's recoveries off
            # reports_recoverytime; the scan reads the links themselves.
            recovery = postgres_scan.recovery_figures(
                span=span,
                filters=filters,
                kept_links=rollup,
                kept_recoveries=rollup and postgres_rollup.kept_recoveries(filters=filters),
            )
        elif recovery is None:
            recovery = sqlite_scan.recovery_figures(span=span, filters=filters)

    now = today()
    periods = [
        _figures(start=start, end=end, deploys=d, incidents=i, lead_median=median, recovery=r, partial=end > now)
        for start, end, d, i, median, r in zip(
            span.starts, span.ends, deploys.periods, incidents.periods, lead.periods, recovery.periods
        )
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
            recovery=recovery.totals,
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
            # One statement, and is_local (the third argument): the settings end with this
            # transaction, so other queries keep the server's. The per-period sorts stay in memory
            # (the default 4 MB work_mem spills to disk). The tables a report reads are hot in the
            # cache: with the default random_page_cost (4, for spinning disks) the planner
            # seq-scans a million deploys to join ten thousand incident links instead of looking
            # each one up by primary key. The report's queries are estimated costly (failed
            # deployment recovery time's correlated subqueries above all) but run in
            # milliseconds: compiling them with JIT took 4.8 of 5.1 s at 200,000 deploys, and
            # starting parallel workers for them cost more than it saved (#19's bench).
            cursor.execute(
                "SELECT set_config('work_mem', '64MB', true), set_config('random_page_cost', '1.1', true),"
                " set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)"
            )
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
    recovery: RecoveryCounts,
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
        failed_deployment_recovery_seconds=recovery.recovery,
        unrecovered_failed_deploys=recovery.unrecovered,
    )
    return replace(figures, dora=dora_levels(figures))


# --- Attribution's drill-down ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """One cause pair seen from one side: the deploy or incident on the other, and whether the
    pair was inferred (never stored) rather than linked."""

    other: Deploy | Incident
    inferred: bool


@dataclass(frozen=True)
class Attributed:
    """A row a count counts, with why: its cause pairs (and for a deploy, whether it was rolled back)."""

    row: Deploy | Incident
    causes: tuple[Cause, ...]
    rolled_back: bool = False

    @property
    def inferred(self) -> bool:
        """Counted only through inferred pairs: the rule's inference made it count."""
        return not self.rolled_back and bool(self.causes) and all(c.inferred for c in self.causes)


def _day_span(since: dt.date, until: dt.date) -> Span:
    """Whole days [since, until] in the reporting time zone, as one period."""
    return Span(starts=(since,), ends=(until + dt.timedelta(days=1),), zone=report_zone(), grain="month")


def _pairs(filters: Filters, span: Span, *, column: str, ids: list[int]) -> list[tuple[int, int, bool]]:
    """The rule's cause pairs whose `column` (deploy_id or incident_id) is one of `ids`."""
    if not ids:
        return []
    sql, params = cause_pairs(filters, span)
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.deploy_id, p.incident_id, p.inferred FROM ({sql}) AS p WHERE p.{column} IN ({marks}) "
            "ORDER BY p.deploy_id, p.incident_id",
            [*params, *ids],
        )
        return [(deploy_id, incident_id, bool(inferred)) for deploy_id, incident_id, inferred in cursor.fetchall()]


def failed_deploys(*, since: dt.date, until: dt.date, filters: Filters) -> QuerySet[Deploy]:
    """Exactly the deploys a report's failed-deploys count counts over the days [since, until]
    under `filters` (its attribution rule too), newest first; attributed_deploys adds why each one
    counts, a page at a time."""
    span = _day_span(since, until)
    return (
        counted_deploys(filters, span.since, span.until)
        .filter(Q(status=Deploy.Status.ROLLED_BACK) | caused_deploy_q(filters, span))
        .select_related("service", "environment")
        .order_by("-deployed_at", "-id")
    )


def attributed_deploys(
    deploys: Iterable[Deploy], *, since: dt.date, until: dt.date, filters: Filters
) -> list[Attributed]:
    """`deploys` (a page of failed_deploys), each with the incidents it caused (linked or
    inferred) and whether it was rolled back. 2 queries."""
    deploys = list(deploys)
    pairs = _pairs(filters, _day_span(since, until), column="deploy_id", ids=[d.pk for d in deploys])
    incidents = Incident.objects.in_bulk({incident_id for _, incident_id, _ in pairs})
    causes: dict[int, list[Cause]] = {}
    for deploy_id, incident_id, inferred in pairs:
        causes.setdefault(deploy_id, []).append(Cause(incidents[incident_id], inferred))
    return [
        Attributed(
            row=deploy,
            causes=tuple(causes.get(deploy.pk, ())),
            rolled_back=deploy.status == Deploy.Status.ROLLED_BACK,
        )
        for deploy in deploys
    ]


def deploy_related_incidents(*, since: dt.date, until: dt.date, filters: Filters) -> QuerySet[Incident]:
    """Exactly the incidents a report's deploy-related count counts over the days [since, until]
    under `filters`, newest first; attributed_incidents adds their causing deploys a page at a time."""
    span = _day_span(since, until)
    return (
        counted_incidents(filters, span.since, span.until)
        .filter(deploy_related_q(filters, span))
        .order_by("-started_at", "-id")
    )


def attributed_incidents(
    incidents: Iterable[Incident], *, since: dt.date, until: dt.date, filters: Filters
) -> list[Attributed]:
    """`incidents` (a page of deploy_related_incidents), each with its causing deploys (linked or
    inferred). 2 queries."""
    incidents = list(incidents)
    pairs = _pairs(filters, _day_span(since, until), column="incident_id", ids=[i.pk for i in incidents])
    deploys = Deploy.objects.select_related("service", "environment").in_bulk({d for d, _, _ in pairs})
    causes: dict[int, list[Cause]] = {}
    for deploy_id, incident_id, inferred in pairs:
        causes.setdefault(incident_id, []).append(Cause(deploys[deploy_id], inferred))
    return [Attributed(row=incident, causes=tuple(causes.get(incident.pk, ()))) for incident in incidents]


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

LEVELS = bands.LEVELS
DAY = bands.DAY


# How the level names a metric it left out ("left out: lead time (no commits)").
METRIC_NAMES = {
    "deploy_frequency": "deploy frequency",
    "lead_time": "lead time",
    "change_failure_rate": "change failure rate",
    "failed_deployment_recovery_time": "failed deployment recovery time",
    "time_to_restore": "time to restore",
}
# The metrics of the overall level (DORA's four since 2023). Time to restore, the earlier
# definition of recovery, is rated for reference beside them but not in the level.
LEVEL_METRICS = ["deploy_frequency", "lead_time", "change_failure_rate", "failed_deployment_recovery_time"]


def _metric_values(figures: Figures) -> dict[str, float | None]:
    """The value each metric is rated on (None: nothing to measure)."""
    return {
        # No deploys is a measurement, not missing data: a frequency of 0 is low.
        "deploy_frequency": figures.deploys / figures.days,
        "lead_time": figures.lead_time_seconds.median,
        "change_failure_rate": figures.change_failure_rate,
        "failed_deployment_recovery_time": figures.failed_deployment_recovery_seconds.median,
        "time_to_restore": figures.time_to_restore_seconds.median,
    }


def _nothing_to_measure(figures: Figures, metric: str) -> str:
    """Why `metric` has no value in `figures`: the only reasons a metric is left out of the level
    (besides an edition that publishes no bands for it)."""
    if metric == "lead_time":
        return "no commits"
    if metric == "change_failure_rate":
        return "no deploys"
    # failed_deployment_recovery_time
    return "no failed deploys" if not figures.failed_deploys else "no recovered failed deploys"


def dora_levels(figures: Figures) -> Dora:
    """The level per metric under the DORA bands of OPSLOG_DORA_BANDS (reports.bands); overall is
    the lowest of the four level metrics with a level, and `left_out` says which of those had
    none, and why (nothing to measure, or no bands in the edition). Time to restore is rated for
    reference and never in `overall` nor `left_out`."""
    edition = bands.current()
    values = _metric_values(figures)
    levels: dict[str, str | None] = {}
    left_out = []
    for metric in bands.METRICS:
        rating, value = edition.metrics[metric], values[metric]
        levels[metric] = rating.rate(value) if value is not None and rating.rated else None
        if metric in LEVEL_METRICS and levels[metric] is None:
            reason = _nothing_to_measure(figures, metric) if value is None else rating.why_not
            left_out.append(LeftOut(metric, reason))
    present = [levels[metric] for metric in LEVEL_METRICS if levels[metric] is not None]
    return Dora(
        **levels,
        overall=max(present, key=LEVELS.index) if present else None,
        left_out=tuple(left_out),
    )
