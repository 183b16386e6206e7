"""The PostgreSQL rollup engine: deploy counts, lead-time medians and (without a filter on them)
the incident figures off the per-month rollups (per-week ones for a span of weeks).

reports_deployrollup and reports_leadtimerollup (reports.models; SQL in reports.rollup_sql) hold a
few thousand pre-counted rows instead of a million deploys, kept exact by triggers. Valid only
when the rollups are bucketed in the reporting time zone (in another, months would start at other
instants): reports.selectors checks that before choosing this engine.
"""

import logging
from dataclasses import replace

from django.db import connection

from deploys.models import Deploy
from incidents.models import IncidentDeploy
from reports import rollup_sql
from reports.engines.results import (
    DeployCounts,
    DeployFigures,
    Durations,
    IncidentCounts,
    IncidentFigures,
    LeadMedians,
    RecoveryCounts,
    RecoveryFigures,
)
from reports.engines.rows import (
    counted_incidents,
    deploy_related_q,
    inferred_pairs_of_counted_sql,
    is_deploy_related,
    kept_links_sql,
    key_conditions_sql,
    recovery_durations_sql,
)
from reports.engines.scope import Filters, Span

logger = logging.getLogger(__name__)


# The rollup tables and their period column per grain: weeks have their own (ISO weeks don't fit in
# months); quarters and years are sums of months.
_WEEK_TABLES = ("reports_deployweekrollup", "reports_leadtimeweekrollup", "week")
_WEEK_ALL_TABLES = ("reports_deployweekallrollup", "reports_leadtimeweekallrollup", "week")
_MONTH_TABLES = ("reports_deployrollup", "reports_leadtimerollup", "month")
_MONTH_ALL_TABLES = ("reports_deploymonthallrollup", "reports_leadtimemonthallrollup", "month")
# Lead times by environment: (table, period column), per month and (True) per week.
_ENV_TABLES = {False: ("reports_envleadtimerollup", "month"), True: ("reports_envleadtimeweekrollup", "week")}


def _tables(span: Span, filters: Filters) -> tuple[str, str, str]:
    """(deploy rollup, lead-time rollup, period column) for `span`'s grain; without a service or
    team filter, the rollups over all services (a fifth of the rows at five services)."""
    by_service = bool(filters.services or filters.teams)
    if span.grain != "week":
        return _MONTH_TABLES if by_service else _MONTH_ALL_TABLES
    return _WEEK_TABLES if by_service else _WEEK_ALL_TABLES


def deploy_figures(*, span: Span, filters: Filters) -> DeployFigures:
    """Counted deploys, deployers, rolled-back, causing and remediating deploys per period, and the
    range's distinct deployers (2 queries).

    Deploys, rolled back and distinct deployers per period, and distinct deployers over the range
    (the grouping set without the period), from reports_deployrollup; causing and remediating
    deploys from reports_deploylink, the links by their deploy's time.
    """
    conditions, params = key_conditions_sql(filters, "r", environments=True)
    deploy_table, _, column = _tables(span, filters)
    starts = list(span.starts)
    periods = [DeployCounts()] * len(starts)
    deployers = 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH rows AS (
                    SELECT width_bucket(r.{column}, %s::date[]) AS period, r.deployer, r.deploys, r.rolled_back
                    FROM {deploy_table} r
                    WHERE r.{column} >= %s AND r.{column} < %s {conditions}
                )
                SELECT g.period, sum(g.deploys)::bigint, count(*), sum(g.rolled_back)::bigint
                FROM (SELECT period, deployer, sum(deploys) AS deploys, sum(rolled_back) AS rolled_back
                      FROM rows GROUP BY GROUPING SETS ((period, deployer), (deployer))
                      HAVING sum(deploys) > 0) AS g
                GROUP BY g.period""",
            [starts, span.starts[0], span.ends[-1], *params],
        )
        for index, count, period_deployers, rolled_back in cursor.fetchall():
            if index is None:
                deployers = period_deployers
            else:
                periods[index - 1] = DeployCounts(deploys=count, deployers=period_deployers, rolled_back=rolled_back)

    # Causing and remediating deploys off reports_deploylink (rows.kept_links_sql): only the span's
    # links are read. Causing ones under the report's attribution rule (rows.cause_pairs), not
    # rolled back (a rolled-back one is already a failure), each deploy once however many incidents
    # it caused; remediating ones counted (succeeded or rolled back), each once.
    succeeded = [Deploy.Status.SUCCEEDED]
    caused_sql, caused_params = kept_links_sql(
        filters, span, relation=IncidentDeploy.Relation.CAUSE, statuses=succeeded
    )
    if filters.attribution == "inferred":
        inferred_sql, inferred_params = inferred_pairs_of_counted_sql(filters, span, statuses=succeeded)
        caused_sql, caused_params = f"{caused_sql} UNION ALL {inferred_sql}", [*caused_params, *inferred_params]
    rework_sql, rework_params = kept_links_sql(
        filters, span, relation=IncidentDeploy.Relation.REMEDIATION, statuses=list(Deploy.COUNTED_STATUSES)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT b, sum(caused)::bigint, sum(rework)::bigint FROM (
                    SELECT width_bucket(c.deployed_at, %s::timestamptz[]) AS b, count(DISTINCT c.deploy_id) AS caused,
                           0 AS rework
                    FROM ({caused_sql}) AS c GROUP BY 1
                    UNION ALL
                    SELECT width_bucket(x.deployed_at, %s::timestamptz[]), 0, count(DISTINCT x.deploy_id)
                    FROM ({rework_sql}) AS x GROUP BY 1
                ) AS t GROUP BY b""",
            [span.start_instants, *caused_params, span.start_instants, *rework_params],
        )
        for index, caused_count, rework in cursor.fetchall():
            periods[index - 1] = replace(periods[index - 1], caused=caused_count, rework=rework)
    return DeployFigures(periods=tuple(periods), deployers=deployers)


def environment_rollup(*, filters: Filters) -> bool:
    """Whether lead_medians answers a filter on environments: one environment."""
    return len(filters.environments) == 1


def lead_medians(*, span: Span, filters: Filters) -> LeadMedians | None:
    """Exact lead-time medians per period and over the range, in one query; None when the rollup
    has drifted from the commits.

    reports_leadtimerollup counts first deliveries per month and lead-time bucket; its running
    sums say which bucket holds each middle value (the two ranks percentile_cont interpolates
    between) and at which offset. Only that bucket's values are then read, off
    reports_commit_lead_bucket_idx (a short range scan of one bucket and period), sorted and the
    one value taken. The last bounds are the whole range's (the grouping set without the period).

    With a filter on one environment, "first reaches production" means first reaches that
    environment: the same off reports_envleadtimerollup (or its weekly twin) and the commits' first
    deliveries within their environment (env_lead_seconds). Not for several environments (first
    among a set is the earliest of each one's firsts, which counts can't combine):
    `environment_rollup` says when this serves. None when the rollup promises a value
    the commits don't have: it has drifted (rows loaded with triggers off, e.g. `pg_restore
    --disable-triggers`); the caller then reads the lead times the slow way, and
    `rebuild_report_rollup` mends it.
    """
    by_environment = bool(filters.environments)
    assert not by_environment or environment_rollup(filters=filters)
    conditions, params = key_conditions_sql(filters, "r", environments=by_environment)
    values_join = values_condition = ""
    values_params = []
    if filters.services or filters.teams:
        # The bucket indexes hold every service's values: each read value's deploy is checked
        # against the filters' (the same array as the rollup rows').
        values_join = "JOIN deploys_deploy d ON d.id = c.deploy_id"
        values_condition, values_params = key_conditions_sql(filters, "d", environments=False)
    if by_environment:
        # The environment is in the index (the commit row's copy of its deploy's); a production one.
        values_condition += " AND c.env_delivered_to_id = (SELECT e.id FROM deploys_environment e WHERE e.is_production AND e.slug = %s)"
        values_params.append(filters.environments[0])
        lead_table, column = _ENV_TABLES[span.grain == "week"]
        delivered, lead_seconds = "c.env_first_delivered_at", "c.env_lead_seconds"
    else:
        _, lead_table, column = _tables(span, filters)
        delivered, lead_seconds = "c.first_delivered_at", "c.lead_seconds"
    starts = list(span.starts)
    whole = len(starts) + 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH rows AS (
                    SELECT width_bucket(r.{column}, %s::date[]) AS period, r.bucket, r.commits
                    FROM {lead_table} r
                    WHERE r.{column} >= %s AND r.{column} < %s {conditions}
                ), counts AS (
                    SELECT coalesce(period, %s) AS period, bucket, sum(commits)::bigint AS n
                    FROM rows GROUP BY GROUPING SETS ((period, bucket), (bucket))
                    HAVING sum(commits) > 0
                ), running AS (
                    -- Summed as float8: exact for counts under 2^53, and a sum of bigint would be
                    -- numeric, several times slower over tens of thousands of rows.
                    SELECT period, bucket, n,
                           (sum(n::float8) OVER (PARTITION BY period ORDER BY bucket))::bigint - n AS below,
                           (sum(n::float8) OVER (PARTITION BY period))::bigint AS total
                    FROM counts
                ), targets AS (
                    -- 0-based ranks of the middle value(s): equal for an odd count. Only the one or
                    -- two buckets holding them are joined to the ranks; two in one bucket are read
                    -- in one go (`take` values from the first's offset).
                    SELECT r.period, r.total, min(k.rank) AS rank, r.bucket, min(k.rank) - r.below AS skip,
                           count(DISTINCT k.rank) AS take
                    FROM running r CROSS JOIN LATERAL (VALUES ((r.total - 1) / 2), (r.total / 2)) AS k(rank)
                    WHERE r.below <= r.total / 2 AND (r.total - 1) / 2 < r.below + r.n
                      AND k.rank >= r.below AND k.rank < r.below + r.n
                    GROUP BY r.period, r.total, r.bucket, r.below
                )
                SELECT t.period, t.total, t.rank, v.leads
                FROM targets t
                JOIN unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS b(since, until, period)
                  ON b.period = t.period
                LEFT JOIN LATERAL (
                    SELECT array_agg(u.lead ORDER BY u.lead) AS leads FROM (
                        SELECT {lead_seconds} AS lead
                        FROM deploys_deploycommit c {values_join}
                        WHERE {lead_seconds} IS NOT NULL AND reports_lead_bucket({lead_seconds}) = t.bucket
                          AND {delivered} >= b.since AND {delivered} < b.until {values_condition}
                        ORDER BY {lead_seconds} OFFSET t.skip LIMIT t.take
                    ) AS u
                ) AS v ON true""",
            [
                starts,
                span.starts[0],
                span.ends[-1],
                *params,
                whole,
                [*span.start_instants, span.since],
                [*span.end_instants, span.until],
                *values_params,
            ],
        )
        middles: dict[int, dict[int, float]] = {}
        counts: dict[int, int] = {}
        for index, total, rank, leads in cursor.fetchall():
            for offset, lead in enumerate(leads or ()):
                middles.setdefault(index, {})[rank + offset] = lead
            middles.setdefault(index, {})
            counts[index] = total
    if any(
        values.get((counts[index] - 1) // 2) is None or values.get(counts[index] // 2) is None
        for index, values in middles.items()
    ):
        logger.warning("report: the lead-time rollup disagrees with the commits; run rebuild_report_rollup")
        return None
    medians: list[float | None] = [None] * whole
    for index, values in middles.items():
        total = counts[index]
        lower, upper = values[(total - 1) // 2], values[total // 2]
        # percentile_cont's interpolation, to the bit: lower + 0.5 * (upper - lower).
        medians[index - 1] = lower if total % 2 else lower + (upper - lower) * 0.5
    return LeadMedians(periods=tuple(medians[:-1]), total=medians[-1])


# The incident rollups per grain (quarters and years are sums of months).
_INCIDENT_TABLES = {False: ("reports_incidentrollup", "month"), True: ("reports_incidentweekrollup", "week")}
# (IncidentCounts field, measure) of the durations, in rollup_sql.INCIDENT_DURATION_COLUMNS' order.
_DURATION_FIELDS = (("mttd", "mttd"), ("mttr", "mttr"), ("time_to_restore", "ttr"), ("mtta", "mtta"))


def incident_rollup(*, filters: Filters) -> bool:
    """Whether incident_figures answers: the incident rollups have no service or severity in their key."""
    return not (filters.services or filters.teams or filters.severities)


def incident_figures(*, span: Span, filters: Filters) -> IncidentFigures | None:
    """Incident counts, means and medians per period and over the range, in one query; None when
    the rollup has drifted from the incidents.

    Off reports_incidentrollup (or its weekly twin). For each period (and the whole range), one
    short scan of the rollup's key index gives each measure's bucket counts and sums of seconds:
    the totals (counts; the means, numeric, so the scan's avg to the bit) and, for the durations,
    which bucket holds each middle value and at which offset (the two ranks percentile_cont
    interpolates between). Only that bucket's values are then read, off the
    duration's bucket index (one UNION ALL branch per duration; only the target's runs).
    Deploy-related incidents depend on the attribution rule: counted from the span's incidents and
    the rule's cause pairs. Only without a service, team or severity filter (`incident_rollup`);
    environments don't filter incidents.
    """
    assert incident_rollup(filters=filters)
    table, column = _INCIDENT_TABLES[span.grain == "week"]
    durations = [measure for measure, _, _ in rollup_sql.INCIDENT_DURATION_COLUMNS]
    values = " UNION ALL ".join(
        f"""SELECT {rollup_sql.incident_interval_sql(measure, "i")} AS duration FROM incidents_incident i
            WHERE t.measure = '{measure}' AND {rollup_sql.incident_present_sql(measure, "i")}
              AND reports_incident_bucket({rollup_sql.incident_seconds_sql(measure, "i")}::double precision) = t.bucket
              AND i.started_at >= t.since AND i.started_at < t.until"""
        for measure in durations
    )
    related = counted_incidents(filters, span.since, span.until)
    if filters.attribution == "linked":
        # The linked rule's pairs are cause links to incidents not archived, and these incidents
        # aren't: an EXISTS probe per incident of the span, not a join of every link of all time.
        related = related.filter(is_deploy_related())
    else:
        related = related.filter(deploy_related_q(filters, span))
    related_sql, related_params = related.order_by().values("started_at").query.sql_with_params()
    whole = len(span.starts) + 1
    # A span of months or weeks: each period is one rollup period, read by equality, so its rows
    # come off the key index already in (measure, bucket) order (no sort per period). Quarters and
    # years, and the whole range, are ranges of them.
    single = span.grain in ("month", "week")
    each_period = _incident_middles(
        table, f"r.{column} = p.first" if single else f"r.{column} >= p.first AND r.{column} < p.last"
    )
    over_range = _incident_middles(table, f"r.{column} >= p.first AND r.{column} < p.last")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH targets AS (
                    -- Per period (the whole range last) and measure: the total, the mean, and the
                    -- 0-based ranks of the middle value(s) (equal for an odd count) with the bucket
                    -- holding each and the offset in it.
                    -- Two middle values in one bucket are read in one go (`take` of them).
                    SELECT p.period, p.since, p.until, w.measure, w.total, w.mean, min(k.rank) AS rank,
                           w.bucket, min(k.rank) - w.below AS skip, count(*) AS take
                    FROM unnest(%s::date[], %s::date[], %s::timestamptz[], %s::timestamptz[])
                         WITH ORDINALITY AS p(first, last, since, until, period)
                    CROSS JOIN LATERAL ({each_period}) AS w
                    CROSS JOIN generate_series((w.total - 1) / 2, w.total / 2) AS k(rank)
                    WHERE k.rank >= w.below AND k.rank < w.below + w.n
                    GROUP BY p.period, p.since, p.until, w.measure, w.total, w.mean, w.bucket, w.below
                    UNION ALL
                    SELECT %s, p.since, p.until, w.measure, w.total, w.mean, min(k.rank), w.bucket,
                           min(k.rank) - w.below, count(*)
                    FROM (SELECT %s::date AS first, %s::date AS last, %s::timestamptz AS since,
                                 %s::timestamptz AS until) AS p
                    CROSS JOIN LATERAL ({over_range}) AS w
                    CROSS JOIN generate_series((w.total - 1) / 2, w.total / 2) AS k(rank)
                    WHERE k.rank >= w.below AND k.rank < w.below + w.n
                    GROUP BY p.since, p.until, w.measure, w.total, w.mean, w.bucket, w.below
                )
                SELECT 'figure', t.period, t.measure, t.total, t.mean, t.rank, v.seconds
                FROM targets t
                LEFT JOIN LATERAL (
                    SELECT array_agg(EXTRACT(EPOCH FROM x.duration) ORDER BY x.duration) AS seconds FROM (
                        SELECT u.duration FROM ({values}) AS u ORDER BY u.duration OFFSET t.skip LIMIT t.take
                    ) AS x
                ) AS v ON t.measure = ANY(%s)
                UNION ALL
                SELECT 'related', width_bucket(x."started_at", %s::timestamptz[]), NULL, count(*), NULL, NULL, NULL
                FROM ({related_sql}) AS x GROUP BY 2""",
            [
                list(span.starts),
                list(span.ends),
                list(span.start_instants),
                list(span.end_instants),
                whole,
                span.starts[0],
                span.ends[-1],
                span.since,
                span.until,
                durations,
                span.start_instants,
                *related_params,
            ],
        )
        result = cursor.fetchall()
    totals: dict[tuple[int, str], tuple[int, object]] = {}
    middles: dict[tuple[int, str], dict[int, object]] = {}
    related_per_period = [0] * len(span.starts)
    for kind, index, measure, total, mean, rank, value in result:
        if kind == "related":
            related_per_period[index - 1] = total
            continue
        totals[(index, measure)] = (total, mean)
        for offset, seconds in enumerate(value or ()):
            middles.setdefault((index, measure), {})[rank + offset] = seconds
        middles.setdefault((index, measure), {})
    medians: dict[tuple[int, str], float] = {}
    for measure in durations:
        for index in range(1, whole + 1):
            if (index, measure) not in totals:
                continue
            total, ranked = totals[(index, measure)][0], middles[(index, measure)]
            lower, upper = ranked.get((total - 1) // 2), ranked.get(total // 2)
            if lower is None or upper is None:
                logger.warning("report: the incident rollup disagrees with the incidents; run rebuild_report_rollup")
                return None
            # percentile_cont over the numeric seconds (cast to double), to the bit.
            lower, upper = float(lower), float(upper)
            medians[(index, measure)] = lower if total % 2 else lower + (upper - lower) * 0.5

    def figures(index: int) -> IncidentCounts:
        durations = {}
        for field, measure in _DURATION_FIELDS:
            total, mean = totals.get((index, measure), (0, None))
            durations[field] = Durations(float(mean), medians[(index, measure)]) if total else Durations()
        return IncidentCounts(
            incidents=totals.get((index, "incidents"), (0, None))[0],
            deploy_related=related_per_period[index - 1] if index < whole else sum(related_per_period),
            unresolved=totals.get((index, "unresolved"), (0, None))[0],
            **durations,
        )

    return IncidentFigures(periods=tuple(figures(i) for i in range(1, whole)), totals=figures(whole))


def _incident_middles(table: str, condition: str) -> str:
    """A LATERAL subquery over the incident rollup rows of a period p that `condition` selects: per
    measure, the bucket(s) holding its middle value(s), with the bucket's count (n), the count below
    it, the measure's total count and mean."""
    return f"""
        SELECT * FROM (
            SELECT x.measure, x.bucket, x.n,
                   -- Summed as float8: exact under 2^53, where bigint sums are numeric.
                   (sum(x.n::float8) OVER (PARTITION BY x.measure ORDER BY x.bucket))::bigint - x.n AS below,
                   (sum(x.n::float8) OVER (PARTITION BY x.measure))::bigint AS total,
                   sum(x.seconds) OVER (PARTITION BY x.measure) / sum(x.n) OVER (PARTITION BY x.measure) AS mean
            FROM (SELECT r.measure, r.bucket, sum(r.incidents)::bigint AS n, sum(r.seconds) AS seconds
                  FROM {table} r WHERE {condition}
                  GROUP BY r.measure, r.bucket HAVING sum(r.incidents) <> 0) AS x
        ) AS y
        -- Only the one or two buckets holding a middle value.
        WHERE y.below <= y.total / 2 AND (y.total - 1) / 2 < y.below + y.n"""


def kept_recoveries(*, filters: Filters) -> bool:
    """Whether failed deployment recovery time can read reports_recoverytime: it keeps the
    recoveries under the linked rule (inferred causes depend on the report's window)."""
    return filters.attribution == "linked"


def recovery_rollup(*, filters: Filters) -> bool:
    """Whether recovery_figures answers: the recovery rollups have no service in their key."""
    return kept_recoveries(filters=filters) and not (filters.services or filters.teams)


# The recovery rollup and its period column, per month and (True) per week.
_RECOVERY_TABLES = {False: ("reports_recoveryrollup", "month"), True: ("reports_recoveryweekrollup", "week")}


def recovery_figures(*, span: Span, filters: Filters) -> RecoveryFigures | None:
    """Failed deployment recovery time per period and over the range, in one query; None when the
    rollup disagrees with the kept recoveries (rebuild_report_rollup mends it).

    Off reports_recoveryrollup (or its weekly twin), per period and bucket: the counts and exact
    sums of the counted environments, less the kept recoveries of the pairs in the change log, plus
    those pairs' failed deploys worked out afresh (rows.recovery_durations_sql; none, once beat has
    refreshed). Those give each period's unrecovered count, mean (numeric, as the scan's) and the
    bucket and offset of each middle value; only that bucket's values are then read (the kept ones
    off reports_recoverytime_bucket_idx, and the fresh ones).
    """
    assert recovery_rollup(filters=filters)
    table, column = _RECOVERY_TABLES[span.grain == "week"]
    fresh, fresh_params = recovery_durations_sql(filters, span, kept_links=True, logged_only=True)
    chosen, chosen_params = "", []
    if filters.environments:
        chosen, chosen_params = " AND e.slug = ANY(%s)", [list(filters.environments)]
    whole = len(span.starts) + 1
    bucket = "coalesce(reports_incident_bucket(d.seconds), -1)"
    logged = "(SELECT service_id, environment_id FROM reports_rollbackchange)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH {fresh},
                envs AS MATERIALIZED (
                    SELECT ARRAY(SELECT e.id FROM deploys_environment e WHERE e.is_production{chosen}) AS ids
                ),
                keyed AS (
                        SELECT width_bucket(r.{column}, %s::date[]) AS period, r.bucket, r.deploys AS n, r.seconds AS s
                        FROM {table} r
                        WHERE r.{column} >= %s AND r.{column} < %s AND r.environment_id = ANY((SELECT ids FROM envs)::bigint[])
                        UNION ALL
                        -- The logged pairs' kept recoveries, taken away (as counted in the rollup)...
                        SELECT width_bucket(d.deployed_at, %s::timestamptz[]), d.bucket, -1,
                               -greatest(extract(epoch FROM d.recovered_at - d.deployed_at), 0)
                        FROM reports_recoverytime d
                        WHERE d.deployed_at >= %s AND d.deployed_at < %s
                          AND d.environment_id = ANY((SELECT ids FROM envs)::bigint[])
                          AND (d.service_id, d.environment_id) IN {logged}
                        UNION ALL
                        -- ...and their failed deploys as they are now.
                        SELECT d.period, {bucket}, 1, coalesce(d.exact, 0) FROM durations d
                ),
                -- Per period and bucket, and per bucket over the range (the period `whole`): counts
                -- only; the numeric sums once per period, for the means.
                every AS (
                    SELECT coalesce(period, %s) AS period, bucket, sum(n)::bigint AS n
                    FROM keyed GROUP BY GROUPING SETS ((period, bucket), (bucket))
                ),
                means AS (
                    SELECT coalesce(period, %s) AS period, sum(s) / nullif(sum(n), 0) AS mean
                    FROM keyed WHERE bucket >= 0 GROUP BY ROLLUP (period)
                ),
                recovered AS (
                    SELECT period, bucket, n,
                           -- Summed as float8: exact under 2^53, where bigint sums are numeric.
                           (sum(n::float8) OVER (PARTITION BY period ORDER BY bucket))::bigint - n AS below,
                           (sum(n::float8) OVER (PARTITION BY period))::bigint AS total
                    FROM every WHERE bucket >= 0 AND n <> 0
                ),
                targets AS (
                    -- Two middle values in one bucket are read in one go (`take` of them).
                    SELECT r.period, r.bucket, r.total, min(k.rank) AS rank, min(k.rank) - r.below AS skip,
                           count(*) AS take
                    FROM recovered r
                    CROSS JOIN generate_series((r.total - 1) / 2, r.total / 2) AS k(rank)
                    WHERE k.rank >= r.below AND k.rank < r.below + r.n
                    GROUP BY r.period, r.bucket, r.total, r.below
                )
                SELECT 'middle', t.period, t.total, m.mean, t.rank, v.seconds
                FROM targets t
                JOIN means m ON m.period = t.period
                LEFT JOIN LATERAL (
                    SELECT array_agg(w.seconds ORDER BY w.seconds) AS seconds FROM (
                    SELECT u.seconds FROM (
                        SELECT d.seconds FROM reports_recoverytime d
                        WHERE d.bucket = t.bucket
                          AND d.deployed_at >= (%s::timestamptz[])[t.period]
                          AND d.deployed_at < (%s::timestamptz[])[t.period]
                          AND d.environment_id = ANY((SELECT ids FROM envs)::bigint[])
                          AND (d.service_id, d.environment_id) NOT IN {logged}
                        UNION ALL
                        SELECT d.seconds FROM durations d
                        WHERE {bucket} = t.bucket AND (d.period = t.period OR t.period = %s)
                    ) AS u
                    ORDER BY u.seconds OFFSET t.skip LIMIT t.take
                    ) AS w
                ) AS v ON true
                UNION ALL
                SELECT 'unrecovered', period, n, NULL, NULL, NULL FROM every WHERE bucket = -1 AND n <> 0""",
            [
                *fresh_params,
                *chosen_params,
                list(span.starts),
                span.starts[0],
                span.ends[-1],
                span.start_instants,
                span.since,
                span.until,
                whole,
                whole,
                [*span.start_instants, span.since],
                [*span.end_instants, span.until],
                whole,
            ],
        )
        rows = cursor.fetchall()
    totals: dict[int, tuple[int, object]] = {}
    middles: dict[int, dict[int, float | None]] = {}
    unrecovered: dict[int, int] = {}
    for kind, index, total, mean, rank, value in rows:
        if kind == "unrecovered":
            unrecovered[index] = int(total)
        else:
            totals[index] = (total, mean)
            for offset, seconds in enumerate(value or ()):
                middles.setdefault(index, {})[rank + offset] = seconds
            middles.setdefault(index, {})
    figures = []
    for index in range(1, whole + 1):
        recovery = Durations()
        if index in totals:
            total, mean = totals[index]
            lower, upper = middles[index].get((total - 1) // 2), middles[index].get(total // 2)
            if lower is None or upper is None:
                logger.warning(
                    "report: the recovery rollup disagrees with the kept recoveries; run rebuild_report_rollup"
                )
                return None
            # percentile_cont's interpolation, to the bit.
            recovery = Durations(float(mean), lower if total % 2 else lower + (upper - lower) * 0.5)
        figures.append(RecoveryCounts(recovery, unrecovered.get(index, 0)))
    return RecoveryFigures(periods=tuple(figures[:-1]), totals=figures[-1])
