"""The monthly numbers, exactly as docs/metrics.md defines them.

Deploy-side figures are SQL aggregates. Durations are seconds, never rounded. Means and medians
are computed by the database on PostgreSQL (AVG, percentile_cont); SQLite has no percentile
function, so there the duration values are fetched and the median taken in Python with
`statistics.median` (the same interpolation between the two middle values).

On PostgreSQL, deploy counts and lead-time medians come from per-month rollups (reports.models,
kept exact by triggers) when they are bucketed in OPSLOG_REPORT_TIME_ZONE; otherwise, and for a
filter on environments' lead times, the deploys and commits are scanned. Both ways give the same
numbers to the bit (tests/reports/test_rollup.py).
"""

import datetime as dt
import logging
import statistics
import zoneinfo
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.aggregates import Aggregate
from django.db.models.functions import TruncMonth, TruncYear

from deploys.models import Deploy, DeployCommit, Environment
from incidents.models import Incident, IncidentDeploy

logger = logging.getLogger(__name__)

COUNTED_STATUSES = list(Deploy.COUNTED_STATUSES)
MAX_MONTHS = 240
# Up to this many values, a lead-time median over the whole range is computed with a sort; above
# it, read off the lead-seconds index (see _lead_times).
SORTED_MEDIAN_MAX_ROWS = 500_000


# --- Shapes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What a report covers. Empty means everything."""

    services: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    severities: tuple[int, ...] = ()
    # Production environments to count; empty means every production environment.
    environments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Durations:
    """Seconds; None when no incident qualifies."""

    mean: float | None = None
    median: float | None = None


@dataclass(frozen=True)
class Dora:
    deploy_frequency: str | None = None
    lead_time: str | None = None
    change_failure_rate: str | None = None
    time_to_restore: str | None = None
    overall: str | None = None


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
    lead_time_seconds: Durations = field(default_factory=Durations)
    failed_deploys: int = 0
    rework_deploys: int = 0
    dora: Dora = field(default_factory=Dora)

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class Report:
    time_zone: str
    first_month: dt.date
    last_month: dt.date
    periods: list[Figures]
    totals: Figures


# --- Periods ----------------------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def report_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.OPSLOG_REPORT_TIME_ZONE)


def _instant(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


# --- Querysets -----------------------------------------------------------------------------------


def _counted_deploy_q(
    filters: Filters, since: dt.datetime, until: dt.datetime, prefix: str = "", environment_ids=None
) -> Q:
    """The condition on a deploy (reached through `prefix`, e.g. "deploy__") that makes it counted.

    `environment_ids`, when given, are the counted environments' ids, looked up beforehand so a
    scan of many deploys needs no join to the environment table.
    """
    conditions = {
        "status__in": COUNTED_STATUSES,
        "deployed_at__gte": since,
        "deployed_at__lt": until,
    }
    if environment_ids is not None:
        conditions["environment_id__in"] = environment_ids
    else:
        conditions["environment__is_production"] = True
        if filters.environments:
            conditions["environment__slug__in"] = filters.environments
    if filters.services:
        conditions["service__slug__in"] = filters.services
    if filters.teams:
        conditions["service__dev_team__in"] = filters.teams
    return Q(**{prefix + name: value for name, value in conditions.items()})


def counted_deploys(filters: Filters, since: dt.datetime, until: dt.datetime) -> QuerySet[Deploy]:
    """Production deploys that went live (succeeded or rolled back) in [since, until)."""
    return Deploy.objects.filter(_counted_deploy_q(filters, since, until))


def counted_incidents(filters: Filters, since: dt.datetime, until: dt.datetime) -> QuerySet[Incident]:
    """Incidents whose impact started in [since, until), archived ones left out (filed by mistake or twice)."""
    qs = Incident.objects.filter(started_at__gte=since, started_at__lt=until, archived_at__isnull=True)
    if filters.severities:
        qs = qs.filter(severity__in=filters.severities)
    service_match = Q()
    if filters.services:
        service_match &= Q(slug__in=filters.services)
    if filters.teams:
        service_match &= Q(dev_team__in=filters.teams)
    if filters.services or filters.teams:
        # Exists, not a join: an incident affecting two matching services counts once.
        from deploys.models import Service

        qs = qs.filter(Exists(Service.objects.filter(service_match, incidents=OuterRef("pk"))))
    return qs


def _is_deploy_related():
    return Exists(IncidentDeploy.objects.filter(incident=OuterRef("pk"), relation=IncidentDeploy.Relation.CAUSE))


# --- Durations ----------------------------------------------------------------------------------


class _Epoch(Func):
    """Seconds between two timestamps, as a float (PostgreSQL)."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "
    output_field = FloatField()


class _Median(Aggregate):
    """percentile_cont(0.5): the median, interpolated between the two middle values (PostgreSQL)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _duration_aggregates(prefix: str, start: str, end: str) -> dict:
    seconds = _Epoch(F(end), F(start))
    present = Q(**{f"{start}__isnull": False, f"{end}__isnull": False})
    return {
        f"{prefix}_mean": Avg(seconds, filter=present),
        f"{prefix}_median": _Median(seconds, filter=present),
    }


INCIDENT_DURATIONS = [
    ("mttd", "started_at", "detected_at"),
    ("mttr", "detected_at", "resolved_at"),
    ("ttr", "started_at", "resolved_at"),
]


def _summary(values: list[float]) -> Durations:
    if not values:
        return Durations()
    return Durations(mean=statistics.fmean(values), median=statistics.median(values))


# --- The report ------------------------------------------------------------------------------------


def monthly_report(*, first: dt.date, last: dt.date, filters: Filters = Filters()) -> Report:
    """Every month from `first` to `last` (inclusive, any day in them), and totals over the range.

    A constant number of queries whatever the range or the data.
    """
    return _report(first=first, last=last, filters=filters, grain="month")


def yearly_report(*, first: dt.date, last: dt.date, filters: Filters = Filters()) -> Report:
    """Every calendar year from `first`'s to `last`'s, and totals."""
    return _report(first=first, last=last, filters=filters, grain="year")


def _report(*, first: dt.date, last: dt.date, filters: Filters, grain: str) -> Report:
    tz = report_zone()
    if grain == "month":
        starts = month_starts(first, last)
        ends = [add_months(s, 1) for s in starts]
        trunc = TruncMonth
    else:
        starts = [dt.date(year, 1, 1) for year in range(first.year, last.year + 1)]
        ends = [dt.date(s.year + 1, 1, 1) for s in starts]
        trunc = TruncYear
    since, until = _instant(starts[0], tz), _instant(ends[-1], tz)

    deploys = counted_deploys(filters, since, until)
    incidents = counted_incidents(filters, since, until)
    buckets = {s: {} for s in starts}
    totals: dict = {}
    bounds = [_instant(s, tz) for s in starts], [_instant(e, tz) for e in ends]

    with transaction.atomic() if _postgres() else nullcontext():
        if _postgres():
            with connection.cursor() as cursor:
                # The per-period sorts stay in memory (the default 4 MB spills to disk); LOCAL ends
                # with this transaction, so other queries keep the server's setting.
                cursor.execute("SET LOCAL work_mem = '64MB'")
                # The tables a report reads are hot in the cache: with the default random_page_cost
                # (4, for spinning disks) the planner seq-scans a million deploys to join ten
                # thousand incident links instead of looking each one up by primary key.
                cursor.execute("SET LOCAL random_page_cost = 1.1")
        # The rollups are bucketed in one zone: in another, months would start at other instants.
        zone = rollup_zone()
        rollup = zone is not None and zone == settings.OPSLOG_REPORT_TIME_ZONE
        if zone is not None and not rollup:
            _warn_zone_once(zone)
        if rollup:
            _rollup_deploy_figures(filters, since, until, starts, ends, bounds, buckets, totals)
        else:
            _deploy_figures(deploys, filters, since, until, trunc, tz, starts, bounds, buckets, totals)
        _incident_figures(incidents, trunc, tz, starts, ends, buckets, totals)
        if not (
            rollup
            and not filters.environments
            and _rollup_lead_medians(filters, since, until, starts, ends, bounds, buckets, totals)
        ):
            _lead_times(_first_production_commits(filters, since, until), tz, starts, ends, bounds, buckets, totals)

    periods = [_figures(s, e, buckets[s]) for s, e in zip(starts, ends)]
    return Report(
        time_zone=settings.OPSLOG_REPORT_TIME_ZONE,
        first_month=starts[0],
        last_month=add_months(ends[-1], -1),
        periods=periods,
        totals=_figures(starts[0], ends[-1], totals),
    )


def _period_key(value: dt.datetime | dt.date, tz: zoneinfo.ZoneInfo) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.astimezone(tz) if value.tzinfo else value
        return value.date()
    return value


def _first_production_commits(filters: Filters, since: dt.datetime, until: dt.datetime) -> QuerySet[DeployCommit]:
    """Commits that reached production for the first time in the range's counted deploys, with a
    positive lead time; annotated `delivered` (the deploy's time) and, on PostgreSQL, `lead`."""
    if not filters.environments:
        # deploys.services keeps the first delivery of each sha, and its lead, on the commit row.
        qs = DeployCommit.objects.filter(
            first_delivered_at__gte=since, first_delivered_at__lt=until, lead_seconds__isnull=False
        )
        if filters.services:
            qs = qs.filter(deploy__service__slug__in=filters.services)
        if filters.teams:
            qs = qs.filter(deploy__service__dev_team__in=filters.teams)
        return qs.annotate(delivered=F("first_delivered_at"), lead=F("lead_seconds"))

    # "First" among the chosen environments only: computed here, with an anti-join.
    # Through the join, not `deploy__in=<subquery>`: SQLite's planner would scan every deploy per commit.
    counted = Q(deploy__environment__is_production=True, deploy__status__in=COUNTED_STATUSES)
    counted &= Q(deploy__environment__slug__in=filters.environments)
    earlier = DeployCommit.objects.filter(counted, sha=OuterRef("sha")).filter(
        Q(deploy__deployed_at__lt=OuterRef("deploy__deployed_at"))
        | Q(deploy__deployed_at=OuterRef("deploy__deployed_at"), deploy_id__lt=OuterRef("deploy_id"))
    )
    qs = (
        DeployCommit.objects.filter(deploy__in=counted_deploys(filters, since, until), authored_at__isnull=False)
        .filter(authored_at__lt=F("deploy__deployed_at"))
        .exclude(Exists(earlier))
        .annotate(delivered=F("deploy__deployed_at"))
    )
    if _postgres():
        qs = qs.annotate(lead=_Epoch(F("deploy__deployed_at"), F("authored_at")))
    return qs


def _per_bucket(
    qs: QuerySet, column: str, bounds: tuple[list, list], aggregates: str, per_group=None, params=()
) -> list[tuple]:
    """PostgreSQL: `aggregates` over the rows of `qs` in each [since, until) bucket, in bucket order.

    One query; each bucket is a range scan of the index on `column` (the bounds are the period
    starts in the reporting time zone, worked out in Python), so there is no per-row time-zone
    arithmetic, and medians sort one bucket's rows at a time. With `per_group` (a column and the
    aggregates per value of it), `aggregates` run over those groups, aliased g.
    """
    sql, inner_params = qs.order_by().query.sql_with_params()
    rows = f'FROM ({sql}) AS x WHERE x."{column}" >= b.since AND x."{column}" < b.until'
    if per_group:
        group, group_aggregates = per_group
        rows = f'FROM (SELECT x."{group}", {group_aggregates} {rows} GROUP BY x."{group}") AS g'
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT agg.* FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS b(since, until, i) "
            f"CROSS JOIN LATERAL (SELECT {aggregates} {rows}) AS agg ORDER BY b.i",
            [*bounds, *params, *inner_params],
        )
        return cursor.fetchall()


def _deploy_figures(deploys, filters, since, until, trunc, tz, starts, bounds, buckets, totals) -> None:
    rolled_back = Deploy.Status.ROLLED_BACK
    cause, remediation = IncidentDeploy.Relation.CAUSE, IncidentDeploy.Relation.REMEDIATION
    if _postgres():
        environments = Environment.objects.filter(is_production=True)
        if filters.environments:
            environments = environments.filter(slug__in=filters.environments)
        ids = list(environments.values_list("id", flat=True))
        scanned = Deploy.objects.filter(_counted_deploy_q(filters, since, until, environment_ids=ids))
        # Causing and remediating deploys are tested against the (small) link table hashed once
        # (`id IN (SELECT …)`), not an EXISTS probe per deploy. A deploy that caused two incidents
        # counts once; a rolled-back one is already a failure. Grouped by deployer inside each
        # period (hashed, a few hundred groups) rather than a COUNT(DISTINCT deployer) that sorts
        # the period's every deploy.
        caused_sql, caused_params = _linked_deploy_ids(cause)
        rework_sql, rework_params = _linked_deploy_ids(remediation)
        rows = (
            _per_bucket(
                scanned.values("id", "deployed_at", "deployer", "status"),
                "deployed_at",
                bounds,
                "coalesce(sum(g.n), 0)::bigint, count(*), coalesce(sum(g.rolled_back), 0)::bigint, "
                "coalesce(sum(g.caused), 0)::bigint, coalesce(sum(g.rework), 0)::bigint",
                per_group=(
                    "deployer",
                    'count(*) AS n, count(*) FILTER (WHERE x."status" = %s) AS rolled_back, '
                    f'count(*) FILTER (WHERE x."status" <> %s AND x."id" IN ({caused_sql})) AS caused, '
                    f'count(*) FILTER (WHERE x."id" IN ({rework_sql})) AS rework',
                ),
                params=[rolled_back, rolled_back, *caused_params, *rework_params],
            )
            if ids
            else [(0, 0, 0, 0, 0)] * len(starts)
        )
        for start, (count, deployers, rolled, caused, rework) in zip(starts, rows):
            buckets[start].update(
                deploys=count, deployers=deployers, rolled_back=rolled, caused=caused, rework_deploys=rework
            )
    else:
        for row in (
            deploys.annotate(period=trunc("deployed_at", tzinfo=tz))
            .values("period")
            .annotate(
                deploys=Count("id"),
                deployers=Count("deployer", distinct=True),
                rolled_back=Count("id", filter=Q(status=rolled_back)),
            )
            .order_by()
        ):
            buckets[_period_key(row.pop("period"), tz)].update(row)
        # Causing and remediating deploys from the link table; distinct: a deploy that caused two
        # incidents counts once, and a rolled-back one is already a failure.
        links = IncidentDeploy.objects.filter(
            _counted_deploy_q(filters, since, until, "deploy__"), incident__archived_at__isnull=True
        )
        for row in (
            links.annotate(period=trunc("deploy__deployed_at", tzinfo=tz))
            .values("period")
            .annotate(
                caused=Count("deploy", distinct=True, filter=Q(relation=cause) & ~Q(deploy__status=rolled_back)),
                rework_deploys=Count("deploy", distinct=True, filter=Q(relation=remediation)),
            )
            .order_by()
        ):
            buckets[_period_key(row.pop("period"), tz)].update(row)
    totals["deployers"] = _distinct_deployers(deploys)
    _failed_and_totals(buckets, totals)


def _failed_and_totals(buckets: dict, totals: dict) -> None:
    for bucket in buckets.values():
        bucket["failed_deploys"] = (bucket.get("rolled_back") or 0) + (bucket.get("caused") or 0)
    # Every deploy falls in exactly one period, so these do add up.
    for name in ("deploys", "failed_deploys", "rework_deploys"):
        totals[name] = sum(bucket.get(name) or 0 for bucket in buckets.values())


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
    if not _postgres():
        return None
    from reports.models import RollupZone

    return RollupZone.objects.values_list("zone", flat=True).first()


def _service_filter_sql(filters: Filters, alias: str) -> tuple[str, list]:
    """SQL conditions on the service table (aliased `alias`) for the service and team filters."""
    sql, params = "", []
    if filters.services:
        sql += f" AND {alias}.slug = ANY(%s)"
        params.append(list(filters.services))
    if filters.teams:
        sql += f" AND {alias}.dev_team = ANY(%s)"
        params.append(list(filters.teams))
    return sql, params


def _rollup_deploy_figures(filters, since, until, starts, ends, bounds, buckets, totals) -> None:
    """PostgreSQL, from reports_deployrollup: a few thousand pre-counted rows instead of every deploy.

    Deploys, rolled back and distinct deployers per period, and distinct deployers over the range
    (the grouping set without the period); causing and remediating deploys from the link table,
    which is small.
    """
    conditions, params = _service_filter_sql(filters, "s")
    if filters.environments:
        conditions += " AND e.slug = ANY(%s)"
        params.append(list(filters.environments))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH rows AS (
                    SELECT width_bucket(r.month, %s::date[]) AS period, r.deployer, r.deploys, r.rolled_back
                    FROM reports_deployrollup r
                    JOIN deploys_environment e ON e.id = r.environment_id
                    JOIN deploys_service s ON s.id = r.service_id
                    WHERE r.month >= %s AND r.month < %s AND e.is_production {conditions}
                )
                SELECT g.period, sum(g.deploys)::bigint, count(*), sum(g.rolled_back)::bigint
                FROM (SELECT period, deployer, sum(deploys) AS deploys, sum(rolled_back) AS rolled_back
                      FROM rows GROUP BY GROUPING SETS ((period, deployer), (deployer))
                      HAVING sum(deploys) > 0) AS g
                GROUP BY g.period""",
            [starts, starts[0], ends[-1], *params],
        )
        for index, count, deployers, rolled_back in cursor.fetchall():
            if index is None:
                totals["deployers"] = deployers
            else:
                buckets[starts[index - 1]].update(deploys=count, deployers=deployers, rolled_back=rolled_back)

    cause, remediation = IncidentDeploy.Relation.CAUSE, IncidentDeploy.Relation.REMEDIATION
    links = (
        IncidentDeploy.objects.filter(
            _counted_deploy_q(filters, since, until, "deploy__"), incident__archived_at__isnull=True
        )
        .annotate(at=F("deploy__deployed_at"), deploy_status=F("deploy__status"))
        .values("deploy_id", "relation", "at", "deploy_status")
        .order_by()
    )
    sql, link_params = links.query.sql_with_params()
    with connection.cursor() as cursor:
        # A deploy that caused two incidents counts once; a rolled-back one is already a failure.
        cursor.execute(
            f"""SELECT width_bucket(x.at, %s::timestamptz[]),
                       count(DISTINCT x.deploy_id) FILTER (WHERE x.relation = %s AND x.deploy_status <> %s),
                       count(DISTINCT x.deploy_id) FILTER (WHERE x.relation = %s)
                FROM ({sql}) AS x GROUP BY 1""",
            [bounds[0], cause, Deploy.Status.ROLLED_BACK, remediation, *link_params],
        )
        for index, caused, rework in cursor.fetchall():
            buckets[starts[index - 1]].update(caused=caused, rework_deploys=rework)

    totals.setdefault("deployers", 0)
    _failed_and_totals(buckets, totals)


def _rollup_lead_medians(filters, since, until, starts, ends, bounds, buckets, totals) -> bool:
    """PostgreSQL: exact lead-time medians per period and over the range, in one query.

    reports_leadtimerollup counts first deliveries per month and lead-time bucket; its running
    sums say which bucket holds each middle value (the two ranks percentile_cont interpolates
    between) and at which offset. Only that bucket's values are then read, off
    reports_commit_lead_bucket_idx (a short range scan of one bucket and period), sorted and the
    one value taken. The last bounds are the whole range's (the grouping set without the period).

    False, with nothing set, when the rollup promises a value the commits don't have: it has
    drifted (rows loaded with triggers off, e.g. `pg_restore --disable-triggers`); the caller
    then reads the lead times the slow way, and `rebuild_report_rollup` mends it.
    """
    conditions, params = _service_filter_sql(filters, "s")
    values_join = values_condition = ""
    values_params = []
    if conditions:
        values_join = "JOIN deploys_deploy d ON d.id = c.deploy_id"
        values_condition = f"AND d.service_id IN (SELECT s.id FROM deploys_service s WHERE true {conditions})"
        values_params = params
    whole = len(starts) + 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH rows AS (
                    SELECT width_bucket(r.month, %s::date[]) AS period, r.bucket, r.commits
                    FROM reports_leadtimerollup r JOIN deploys_service s ON s.id = r.service_id
                    WHERE r.month >= %s AND r.month < %s {conditions}
                ), counts AS (
                    SELECT coalesce(period, %s) AS period, bucket, sum(commits)::bigint AS n
                    FROM rows GROUP BY GROUPING SETS ((period, bucket), (bucket))
                    HAVING sum(commits) > 0
                ), running AS (
                    SELECT period, bucket, n,
                           (sum(n) OVER (PARTITION BY period ORDER BY bucket))::bigint - n AS below,
                           (sum(n) OVER (PARTITION BY period))::bigint AS total
                    FROM counts
                ), targets AS (
                    -- 0-based ranks of the middle value(s): equal for an odd count.
                    SELECT DISTINCT r.period, r.total, k.rank, r.bucket, k.rank - r.below AS skip
                    FROM running r CROSS JOIN LATERAL (VALUES ((r.total - 1) / 2), (r.total / 2)) AS k(rank)
                    WHERE k.rank >= r.below AND k.rank < r.below + r.n
                )
                SELECT t.period, t.total, t.rank, v.lead
                FROM targets t
                JOIN unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS b(since, until, period)
                  ON b.period = t.period
                LEFT JOIN LATERAL (
                    SELECT c.lead_seconds AS lead
                    FROM deploys_deploycommit c {values_join}
                    WHERE c.lead_seconds IS NOT NULL AND reports_lead_bucket(c.lead_seconds) = t.bucket
                      AND c.first_delivered_at >= b.since AND c.first_delivered_at < b.until {values_condition}
                    ORDER BY c.lead_seconds OFFSET t.skip LIMIT 1
                ) AS v ON true""",
            [starts, starts[0], ends[-1], *params, whole, [*bounds[0], since], [*bounds[1], until], *values_params],
        )
        middles: dict[int, dict[int, float]] = {}
        counts: dict[int, int] = {}
        for index, total, rank, lead in cursor.fetchall():
            middles.setdefault(index, {})[rank] = lead
            counts[index] = total
    if any(
        values.get((counts[index] - 1) // 2) is None or values.get(counts[index] // 2) is None
        for index, values in middles.items()
    ):
        logger.warning("report: the lead-time rollup disagrees with the commits; run rebuild_report_rollup")
        return False
    for index, values in middles.items():
        total = counts[index]
        lower, upper = values[(total - 1) // 2], values[total // 2]
        # percentile_cont's interpolation, to the bit: lower + 0.5 * (upper - lower).
        median = lower if total % 2 else lower + (upper - lower) * 0.5
        (totals if index == whole else buckets[starts[index - 1]])["lead_median"] = median
    return True


def _linked_deploy_ids(relation: str) -> tuple[str, tuple]:
    links = IncidentDeploy.objects.filter(relation=relation, incident__archived_at__isnull=True)
    sql, params = links.order_by().values("deploy_id").query.sql_with_params()
    return sql, params


def _distinct_deployers(deploys: QuerySet[Deploy]) -> int:
    """Distinct deployers over the whole range (they don't add up over periods)."""
    if not _postgres():
        return deploys.order_by().values("deployer").distinct().count()
    # A loose index scan: walk the distinct names on the deployer index (a few hundred probes),
    # and keep those with a counted deploy in the range (one index range probe each), instead of
    # reading and hashing every deploy of the range.
    sql, params = deploys.order_by().values("deployer").query.sql_with_params()
    table = connection.ops.quote_name(Deploy._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH RECURSIVE names(deployer) AS (
                    SELECT min(deployer) FROM {table}
                    UNION ALL
                    SELECT (SELECT min(d.deployer) FROM {table} d WHERE d.deployer > names.deployer)
                    FROM names WHERE names.deployer IS NOT NULL
                )
                SELECT count(*) FROM names
                WHERE names.deployer IS NOT NULL
                  AND EXISTS (SELECT 1 FROM ({sql}) AS x WHERE x."deployer" = names.deployer)""",
            params,
        )
        return cursor.fetchone()[0]


def _incident_figures(incidents, trunc, tz, starts, ends, buckets, totals) -> None:
    aggregates = dict(
        incidents=Count("id"),
        deploy_related_incidents=Count("id", filter=Q(related=True)),
        unresolved_incidents=Count("id", filter=Q(resolved_at__isnull=True)),
    )
    if _postgres():
        for prefix, start, end in INCIDENT_DURATIONS:
            aggregates.update(_duration_aggregates(prefix, start, end))
    annotated = incidents.annotate(related=_is_deploy_related())
    for row in annotated.annotate(period=trunc("started_at", tzinfo=tz)).values("period").annotate(**aggregates):
        buckets[_period_key(row.pop("period"), tz)].update(row)
    totals.update(annotated.aggregate(**aggregates))
    if _postgres():
        return

    # SQLite: fetch the incidents' timestamps (incidents are few) and take means and medians here.
    values: dict = {s: {p: [] for p, _, _ in INCIDENT_DURATIONS} for s in starts}
    everything: dict = {p: [] for p, _, _ in INCIDENT_DURATIONS}
    for started, detected, resolved in incidents.values_list("started_at", "detected_at", "resolved_at"):
        stamps = {"started_at": started, "detected_at": detected, "resolved_at": resolved}
        key = _bucket_of(started, tz, starts, ends)
        for prefix, start, end in INCIDENT_DURATIONS:
            if stamps[start] is not None and stamps[end] is not None:
                seconds = (stamps[end] - stamps[start]).total_seconds()
                values[key][prefix].append(seconds)
                everything[prefix].append(seconds)
    for bucket, source in [(buckets[s], values[s]) for s in starts] + [(totals, everything)]:
        for prefix, _, _ in INCIDENT_DURATIONS:
            summary = _summary(source[prefix])
            bucket[f"{prefix}_mean"], bucket[f"{prefix}_median"] = summary.mean, summary.median


def _lead_times(lead, tz, starts, ends, bounds, buckets, totals) -> None:
    if _postgres():
        rows = _per_bucket(
            lead.values("delivered", "lead"),
            "delivered",
            bounds,
            'count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY x."lead")',
        )
        for start, (_, median) in zip(starts, rows):
            buckets[start]["lead_median"] = median
        # A short range's median: sort its values (half a million sort in about 100 ms).
        # A long range's: the one or two middle values read in order off the lead-seconds index,
        # interpolated as percentile_cont does, instead of sorting millions of values.
        count = sum(row[0] for row in rows)
        if 0 < count <= SORTED_MEDIAN_MAX_ROWS:
            totals["lead_median"] = lead.order_by().aggregate(median=_Median("lead"))["median"]
        elif count:
            middle = list(lead.order_by("lead").values_list("lead", flat=True)[(count - 1) // 2 : (count - 1) // 2 + 2])
            lower = middle[0]
            totals["lead_median"] = lower if count % 2 else lower + (middle[1] - lower) * 0.5
        return

    # SQLite: fetch the commits' two times and take the medians here.
    values: dict = {s: [] for s in starts}
    for delivered, authored in lead.values_list("delivered", "authored_at"):
        values[_bucket_of(delivered, tz, starts, ends)].append((delivered - authored).total_seconds())
    for start in starts:
        buckets[start]["lead_median"] = _summary(values[start]).median
    totals["lead_median"] = _summary([v for start in starts for v in values[start]]).median


def _bucket_of(moment: dt.datetime, tz: zoneinfo.ZoneInfo, starts: list[dt.date], ends: list[dt.date]) -> dt.date:
    local = moment.astimezone(tz).date()
    for start, end in zip(starts, ends):
        if start <= local < end:
            return start
    raise AssertionError(f"{moment} outside the report")


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _figures(start: dt.date, end: dt.date, row: dict) -> Figures:
    deploys = row.get("deploys") or 0
    figures = Figures(
        start=start,
        end=end,
        deploys=deploys,
        deployers=row.get("deployers") or 0,
        incidents=row.get("incidents") or 0,
        deploy_related_incidents=row.get("deploy_related_incidents") or 0,
        unresolved_incidents=row.get("unresolved_incidents") or 0,
        incident_rate=_ratio(row.get("deploy_related_incidents") or 0, deploys),
        change_failure_rate=_ratio(row.get("failed_deploys") or 0, deploys),
        rework_rate=_ratio(row.get("rework_deploys") or 0, deploys),
        mttd_seconds=Durations(row.get("mttd_mean"), row.get("mttd_median")),
        mttr_seconds=Durations(row.get("mttr_mean"), row.get("mttr_median")),
        time_to_restore_seconds=Durations(row.get("ttr_mean"), row.get("ttr_median")),
        lead_time_seconds=Durations(None, row.get("lead_median")),
        failed_deploys=row.get("failed_deploys") or 0,
        rework_deploys=row.get("rework_deploys") or 0,
    )
    return replace(figures, dora=dora_levels(figures))


# --- DORA --------------------------------------------------------------------------------------

LEVELS = ["elite", "high", "medium", "low"]
DAY = 86400.0


def _deploy_frequency_level(deploys: int, days: int) -> str | None:
    if not deploys:
        return None
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
    """DORA 2023 bands per metric; overall is the lowest of those with data."""
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
    return replace(levels, overall=max(present, key=LEVELS.index) if present else None)
