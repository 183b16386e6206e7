"""The PostgreSQL scan: every figure read from the deploys, commits and incidents themselves.

Means and medians are computed by the database (AVG, percentile_cont). Periods are range scans of
an index on the timestamp, bounded by the span's instants worked out in Python, so no row needs
time-zone arithmetic. Used when the rollups can't serve (not built, or in another time zone), for
a filter on environments' lead times, and for incidents filtered by service, team or severity (the
incident rollups have none of those in their key).
"""

from django.db import connection
from django.db.models import QuerySet

from deploys.models import Deploy, Environment
from incidents.models import IncidentDeploy
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
    INCIDENT_DURATIONS,
    RECOVERY_EXACT,
    Median,
    cause_pairs,
    counted_deploy_q,
    counted_deploys,
    counted_incidents,
    first_production_commits,
    key_conditions_sql,
    recovery_durations_sql,
    related_annotation,
)
from reports.engines.scope import Filters, Span


def deploy_figures(*, span: Span, filters: Filters) -> DeployFigures:
    """Counted deploys, deployers, rolled-back, causing and remediating deploys per period, and the
    range's distinct deployers (3 queries, 2 without a counted environment)."""
    rolled_back = Deploy.Status.ROLLED_BACK
    remediation = IncidentDeploy.Relation.REMEDIATION
    environments = Environment.objects.filter(is_production=True)
    if filters.environments:
        environments = environments.filter(slug__in=filters.environments)
    ids = list(environments.values_list("id", flat=True))
    scanned = Deploy.objects.filter(
        counted_deploy_q(filters=filters, since=span.since, until=span.until, environment_ids=ids)
    )
    # Causing and remediating deploys are tested against the (small) link table hashed once
    # (`id IN (SELECT …)`), not an EXISTS probe per deploy. A deploy that caused two incidents
    # counts once; a rolled-back one is already a failure. Grouped by deployer inside each
    # period (hashed, a few hundred groups) rather than a COUNT(DISTINCT deployer) that sorts
    # the period's every deploy.
    # Under the report's attribution rule (rows.cause_pairs).
    caused_sql, caused_params = _caused_deploy_ids(filters, span)
    rework_sql, rework_params = _linked_deploy_ids(remediation)
    rows = (
        _per_bucket(
            scanned.values("id", "deployed_at", "deployer", "status"),
            "deployed_at",
            span,
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
        else [(0, 0, 0, 0, 0)] * len(span.starts)
    )
    return DeployFigures(
        periods=tuple(
            DeployCounts(deploys=count, deployers=deployers, rolled_back=rolled, caused=caused, rework=rework)
            for count, deployers, rolled, caused, rework in rows
        ),
        deployers=_distinct_deployers(counted_deploys(filters, span.since, span.until)),
    )


def incident_figures(*, span: Span, filters: Filters) -> IncidentFigures:
    """Incident counts, means and medians per period and over the range (1 query: the range is
    the grouping set without the period).

    Means are avg() over EXTRACT(EPOCH …), numeric: exact, so the same whatever order a plan adds
    in (a year's figures are its months' totals to the bit).
    """
    annotated = counted_incidents(filters, span.since, span.until).annotate(related=related_annotation(filters, span))
    columns = sorted({column for _prefix, start, end in INCIDENT_DURATIONS for column in (start, end)})
    sql, params = annotated.order_by().values(*columns, "related").query.sql_with_params()
    aggregates = [
        "count(*)",
        "count(*) FILTER (WHERE x.related)",
        'count(*) FILTER (WHERE x."resolved_at" IS NULL)',
    ]
    for _prefix, start, end in INCIDENT_DURATIONS:
        seconds = f'EXTRACT(EPOCH FROM (x."{end}" - x."{start}"))'
        present = f'x."{start}" IS NOT NULL AND x."{end}" IS NOT NULL'
        aggregates += [
            f"avg({seconds}) FILTER (WHERE {present})",
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {seconds}) FILTER (WHERE {present})",
        ]
    periods = [IncidentCounts()] * len(span.starts)
    totals = IncidentCounts()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT width_bucket(x."started_at", %s::timestamptz[]) AS period, {", ".join(aggregates)}
                FROM ({sql}) AS x GROUP BY GROUPING SETS ((1), ())""",
            [span.start_instants, *params],
        )
        for index, *values in cursor.fetchall():
            counts = _incident_counts_of(values)
            if index is None:
                totals = counts
            else:
                periods[index - 1] = counts
    return IncidentFigures(periods=tuple(periods), totals=totals)


def lead_medians(*, span: Span, filters: Filters, sorted_median_max_rows: int) -> LeadMedians:
    """Median lead time per period (1 query) and over the range (1 more).

    The range's median is computed with a sort up to `sorted_median_max_rows` values (half a
    million sort in about 100 ms); above, the one or two middle values are read in order off the
    lead-seconds index and interpolated as percentile_cont does, instead of sorting millions.
    """
    lead = first_production_commits(filters=filters, span=span, postgres=True)
    rows = _per_bucket(
        lead.values("delivered", "lead"),
        "delivered",
        span,
        'count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY x."lead")',
    )
    count = sum(row[0] for row in rows)
    total = None
    if 0 < count <= sorted_median_max_rows:
        total = lead.order_by().aggregate(median=Median("lead"))["median"]
    elif count:
        middle = list(lead.order_by("lead").values_list("lead", flat=True)[(count - 1) // 2 : (count - 1) // 2 + 2])
        lower = middle[0]
        total = lower if count % 2 else lower + (middle[1] - lower) * 0.5
    return LeadMedians(periods=tuple(median for _, median in rows), total=total)


def recovery_figures(
    *, span: Span, filters: Filters, kept_links: bool = False, kept_recoveries: bool = False
) -> RecoveryFigures:
    """Failed deployment recovery time per period and over the range (1 query): the failed deploys'
    durations (rows.recovery_durations_sql), their mean (numeric, exact: the same whatever order
    the plan adds them in, and what the rollups' sums give) and median. The range's figures are the
    grouping set without the period.

    With `kept_recoveries` (the rollups, linked rule: postgres_rollup.kept_recoveries), the failed
    deploys whose service and environment have nothing in the change log come off
    reports_recoverytime, their seconds kept as computed here; only the logged pairs' are computed.
    """
    ctes, params = recovery_durations_sql(filters, span, kept_links=kept_links, logged_only=kept_recoveries)
    kept_rows, kept_params = "", []
    if kept_recoveries:
        keys, key_params = key_conditions_sql(filters, "k", environments=True)
        kept_rows = f"""UNION ALL
                    SELECT width_bucket(k."deployed_at", %s::timestamptz[]), k."seconds",
                           {RECOVERY_EXACT.format(alias="k.")}
                    FROM reports_recoverytime k
                    WHERE k."deployed_at" >= %s AND k."deployed_at" < %s {keys}
                      AND (k."service_id", k."environment_id") NOT IN
                          (SELECT service_id, environment_id FROM reports_rollbackchange)"""
        kept_params = [span.start_instants, span.since, span.until, *key_params]
    periods = [RecoveryCounts()] * len(span.starts)
    totals = RecoveryCounts()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH {ctes},
                every AS (SELECT period, seconds, exact FROM durations {kept_rows})
                SELECT period, count(*) FILTER (WHERE seconds IS NULL), avg(exact),
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)
                FROM every GROUP BY GROUPING SETS ((period), ())""",
            [*params, *kept_params],
        )
        for index, unrecovered, mean, median in cursor.fetchall():
            counts = RecoveryCounts(Durations(float(mean) if mean is not None else None, median), unrecovered)
            if index is None:
                totals = counts
            else:
                periods[index - 1] = counts
    return RecoveryFigures(periods=tuple(periods), totals=totals)


def _incident_counts_of(values: list) -> IncidentCounts:
    """IncidentCounts from incident_figures' columns: three counts, then mean and median for each
    of INCIDENT_DURATIONS in order."""
    incidents, related, unresolved, *durations = values
    means_medians = [
        Durations(float(mean) if mean is not None else None, median)
        for mean, median in zip(durations[::2], durations[1::2])
    ]
    names = {prefix: d for (prefix, _start, _end), d in zip(INCIDENT_DURATIONS, means_medians)}
    return IncidentCounts(
        incidents=incidents or 0,
        deploy_related=related or 0,
        unresolved=unresolved or 0,
        mttd=names["mttd"],
        mttr=names["mttr"],
        time_to_restore=names["ttr"],
        mtta=names["mtta"],
    )


def _per_bucket(
    qs: QuerySet, column: str, span: Span, aggregates: str, per_group: tuple[str, str] | None = None, params=()
) -> list[tuple]:
    """`aggregates` over the rows of `qs` in each period of `span`, in order.

    One query; each period is a range scan of the index on `column` (the bounds are the period
    starts in the reporting time zone, worked out in Python), so there is no per-row time-zone
    arithmetic, and medians sort one period's rows at a time. With `per_group` (a column and the
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
            [span.start_instants, span.end_instants, *params, *inner_params],
        )
        return cursor.fetchall()


def _caused_deploy_ids(filters: Filters, span: Span) -> tuple[str, tuple]:
    """SQL selecting the ids of the deploys that caused an incident under the report's rule, and
    its params."""
    sql, params = cause_pairs(filters, span)
    return f"SELECT p.deploy_id FROM ({sql}) AS p", params


def _linked_deploy_ids(relation: str) -> tuple[str, tuple]:
    """SQL selecting the ids of deploys linked to a live incident by `relation`, and its params."""
    links = IncidentDeploy.objects.filter(relation=relation, incident__archived_at__isnull=True)
    return links.order_by().values("deploy_id").query.sql_with_params()


def _distinct_deployers(deploys: QuerySet[Deploy]) -> int:
    """Distinct deployers of `deploys` (they don't add up over periods).

    A loose index scan: walk the distinct names on the deployer index (a few hundred probes), and
    keep those with a counted deploy in the range (one index range probe each), instead of reading
    and hashing every deploy of the range.
    """
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
