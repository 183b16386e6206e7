"""The rows each figure counts, as querysets and expressions shared by the engines."""

import datetime as dt

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.aggregates import Aggregate
from django.db.models.expressions import RawSQL

from deploys.models import Deploy, DeployCommit, Service
from incidents.models import Incident, IncidentDeploy
from incidents.selectors import cause_pairs_sql, inferred_causes, linked_causes
from reports.engines.scope import Filters, Span

COUNTED_STATUSES = list(Deploy.COUNTED_STATUSES)

# (prefix, from, to): the incident durations, each the seconds from one timestamp to the other.
INCIDENT_DURATIONS = [
    ("mttd", "started_at", "detected_at"),
    ("mttr", "detected_at", "resolved_at"),
    ("ttr", "started_at", "resolved_at"),
    ("mtta", "detected_at", "acknowledged_at"),
]


def counted_deploy_q(
    *,
    filters: Filters,
    since: dt.datetime,
    until: dt.datetime,
    prefix: str = "",
    environment_ids: list[int] | None = None,
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
    return Deploy.objects.filter(counted_deploy_q(filters=filters, since=since, until=until))


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
        qs = qs.filter(Exists(Service.objects.filter(service_match, incidents=OuterRef("pk"))))
    return qs


def deploy_links(*, filters: Filters, span: Span) -> QuerySet[IncidentDeploy]:
    """Links (cause or remediation) from the span's counted deploys to incidents not archived."""
    return IncidentDeploy.objects.filter(
        counted_deploy_q(filters=filters, since=span.since, until=span.until, prefix="deploy__"),
        incident__archived_at__isnull=True,
    )


def incident_count_aggregates() -> dict:
    """The incident counts, as aggregates over counted_incidents annotated `related`
    (is_deploy_related)."""
    return dict(
        incidents=Count("id"),
        deploy_related_incidents=Count("id", filter=Q(related=True)),
        unresolved_incidents=Count("id", filter=Q(resolved_at__isnull=True)),
    )


def cause_pairs(filters: Filters, span: Span) -> tuple[str, tuple]:
    """SQL selecting the (deploy_id, incident_id) cause pairs under `filters.attribution`, and its
    params: the one rule every engine counts failed deploys and deploy-related incidents from
    (incidents.selectors.cause_pairs_sql).

    Every linked pair; with the inferred rule, also the inferred pairs of the incidents that
    started in [span.since, span.until + window]: all those of the span's incidents, and all those
    whose deploy can be in the span (a deploy is inferred only for an incident at most `window`
    after it).
    """
    window = filters.window
    return cause_pairs_sql(attribution=filters.attribution, window=window, since=span.since, until=span.until + window)


def caused_deploy_q(filters: Filters, span: Span, *, field: str = "id") -> Q:
    """On a deploy (its id in `field`): it is the cause of ≥ 1 incident under the rule (cause_pairs)."""
    sql, params = cause_pairs(filters, span)
    return Q(**{f"{field}__in": RawSQL(f"SELECT p.deploy_id FROM ({sql}) AS p", params)})


def deploy_related_q(filters: Filters, span: Span) -> Q:
    """On one of the span's incidents: it has ≥ 1 causing deploy under the rule (cause_pairs)."""
    sql, params = cause_pairs(filters, span)
    return Q(id__in=RawSQL(f"SELECT p.incident_id FROM ({sql}) AS p", params))


def related_annotation(filters: Filters, span: Span) -> ExpressionWrapper:
    """deploy_related_q as a boolean to annotate `related` with (incident_count_aggregates)."""
    return ExpressionWrapper(deploy_related_q(filters, span), output_field=BooleanField())


def is_deploy_related() -> Exists:
    """On an incident: it has ≥ 1 causing deploy."""
    return Exists(IncidentDeploy.objects.filter(incident=OuterRef("pk"), relation=IncidentDeploy.Relation.CAUSE))


class Epoch(Func):
    """Seconds between two timestamps, as a float (PostgreSQL)."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "
    output_field = FloatField()


class Median(Aggregate):
    """percentile_cont(0.5): the median, interpolated between the two middle values (PostgreSQL)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def first_production_commits(*, filters: Filters, span: Span, postgres: bool) -> QuerySet[DeployCommit]:
    """Commits that reached production for the first time in the span's counted deploys, with a
    positive lead time; annotated `delivered` (the deploy's time) and `lead` (seconds; computed by
    the database where it isn't stored, so only when `postgres`)."""
    since, until = span.since, span.until
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
    if postgres:
        qs = qs.annotate(lead=Epoch(F("deploy__deployed_at"), F("authored_at")))
    return qs


# --- Failed deployment recovery time ------------------------------------------------------------


def cause_links(filters: Filters, span: Span) -> tuple[str, tuple]:
    """SQL selecting the cause pairs of the span's counted deploys under the report's attribution
    rule (cause_pairs), one row per pair, with the deploy's columns, and its params: what failed
    deployment recovery time reads on PostgreSQL (which incidents a failed deploy caused, and the
    failed deploy itself without reading it again).

    Columns: deploy_id, incident_id, deployed_at, service_id, environment_id, status.
    """
    pairs_sql, pairs_params = cause_pairs(filters, span)
    counted_sql, counted_params = (
        counted_deploys(filters, span.since, span.until)
        .order_by()
        .values("id", "deployed_at", "service_id", "environment_id", "status")
        .query.sql_with_params()
    )
    return (
        f"SELECT p.deploy_id, p.incident_id, d.deployed_at, d.service_id, d.environment_id, d.status "
        f"FROM ({pairs_sql}) AS p JOIN ({counted_sql}) AS d ON d.id = p.deploy_id",
        (*pairs_params, *counted_params),
    )


def _caused_by(filters: Filters, span: Span, deploy: OuterRef) -> Q:
    """On an incident: `deploy` caused it under the report's attribution rule (a linked cause, or
    with the inferred rule its inferred one): the correlated form of cause_pairs, for SQLite."""
    caused = Q(pk__in=linked_causes().filter(deploy_id=deploy).values("incident_id"))
    if filters.attribution == "inferred":
        window = filters.window
        inferred = inferred_causes(window=window, since=span.since, until=span.until + window)
        caused |= Q(pk__in=inferred.filter(deploy_id=deploy).values("id"))
    return caused


def failed_deploys(filters: Filters, span: Span) -> QuerySet[Deploy]:
    """The span's failed deploys: counted, and rolled back or the cause of ≥ 1 incident under the
    report's attribution rule (caused_deploy_q)."""
    return counted_deploys(filters, span.since, span.until).filter(
        Q(status=Deploy.Status.ROLLED_BACK) | caused_deploy_q(filters, span)
    )


def failed_deploy_recoveries(filters: Filters, span: Span) -> QuerySet[Deploy]:
    """The span's failed deploys (counted, and rolled back or the cause of ≥ 1 incident), each
    annotated with the candidate ends of its recovery (None where there is none):

    - `rollback_at`: for a rolled-back deploy, the deployed_at of its rollback deploy, the next
      counted deploy of the same service to the same environment (later deployed_at). That is the
      deploy that rolled it back: deploys.services.deploy_rollback_mark (a CDEvents
      service.rolledback, an API rollback) marks the deploy a rollback replaced, the latest live
      one before it, so the rollback is the next to go live after it.
    - `remediated_at`: the earliest deployed_at, later than the failed deploy's, of a counted
      deploy (any production service: a fix may ship elsewhere) linked as remediation to an
      incident the failed deploy caused.
    - `resolved_at`: when the last incident it caused was resolved; `unresolved`: whether one of
      them isn't (then there is no resolution yet).

    Correlated subqueries, each an index probe per failed deploy (failed deploys are few).
    """
    counted = Q(environment__is_production=True, status__in=COUNTED_STATUSES)
    # The incidents the failed deploy caused, from a subquery one level down (on incidents or
    # links), whose own cause subqueries are one further down: its pk is then three levels out.
    caused_by_it = Incident.objects.filter(_caused_by(filters, span, OuterRef(OuterRef(OuterRef("pk"))))).values("id")
    next_deploy = (
        Deploy.objects.filter(
            counted,
            service_id=OuterRef("service_id"),
            environment_id=OuterRef("environment_id"),
            deployed_at__gt=OuterRef("deployed_at"),
        )
        .order_by("deployed_at", "id")
        .values("deployed_at")[:1]
    )
    remediation = (
        IncidentDeploy.objects.filter(
            relation=IncidentDeploy.Relation.REMEDIATION,
            incident_id__in=caused_by_it,
            deploy__environment__is_production=True,
            deploy__status__in=COUNTED_STATUSES,
            deploy__deployed_at__gt=OuterRef("deployed_at"),
        )
        .order_by("deploy__deployed_at")
        .values("deploy__deployed_at")[:1]
    )
    caused = Incident.objects.filter(pk__in=caused_by_it)
    last_resolution = caused.order_by().values(one=Value(1)).annotate(last=Max("resolved_at")).values("last")[:1]
    return (
        failed_deploys(filters, span)
        .annotate(
            rollback_at=Case(When(status=Deploy.Status.ROLLED_BACK, then=Subquery(next_deploy)), default=None),
            remediated_at=Subquery(remediation),
            resolved_at=Subquery(last_resolution),
            unresolved=Exists(caused.filter(resolved_at__isnull=True)),
        )
        .order_by()
    )


# --- The kept links (reports_deploylink, PostgreSQL; reports.rollup_sql) -------------------------


def kept_links_sql(
    filters: Filters, span: Span, *, relation: str, statuses: list[str], logged_only: bool = False
) -> tuple[str, list]:
    """SQL selecting, off reports_deploylink, the links by `relation` of the span's deploys whose
    status is one of `statuses`, in the counted environments (production, and the chosen ones) and
    the chosen services, to incidents not archived; and its params. Columns: deploy_id, incident_id,
    deployed_at, service_id, environment_id, status. A range scan of reports_deploylink_time_idx:
    only the span's links are read.

    The same rows as joining the links (deploy_links, linked_causes) to their counted deploys:
    reports_deploylink carries each link's deploy columns, kept by triggers (tests/reports/
    test_deploy_links.py).

    With `logged_only`, only the links of deploys whose service and environment are in the change
    log (reports_rollbackchange): those whose kept recoveries a report doesn't trust."""
    keys, key_params = key_conditions_sql(filters, "x", environments=True)
    if logged_only:
        keys += f" {LOGGED_PAIR.format(alias='x')}"
    return (
        f"""SELECT x.deploy_id, x.incident_id, x.deployed_at, x.service_id, x.environment_id, x.status
            FROM reports_deploylink x
            WHERE x.relation = %s AND x.deployed_at >= %s AND x.deployed_at < %s AND NOT x.archived
              AND x.status = ANY(%s) {keys}""",
        [relation, span.since, span.until, list(statuses), *key_params],
    )


def inferred_pairs_of_counted_sql(filters: Filters, span: Span, *, statuses: list[str]) -> tuple[str, list]:
    """SQL selecting the inferred-only cause pairs (cause_pairs' inferred ones) whose deploy is one
    of the span's counted deploys with a status in `statuses`, with kept_links_sql's columns, and its
    params. Each pair's deploy read by its primary key."""
    pairs_sql, pairs_params = cause_pairs(filters, span)
    keys, key_params = key_conditions_sql(filters, "d", environments=True)
    return (
        f"""SELECT d.id AS deploy_id, p.incident_id, d.deployed_at, d.service_id, d.environment_id, d.status
            FROM ({pairs_sql}) AS p JOIN deploys_deploy d ON d.id = p.deploy_id
            WHERE p.inferred AND d.deployed_at >= %s AND d.deployed_at < %s AND d.status = ANY(%s) {keys}""",
        [*pairs_params, span.since, span.until, list(statuses), *key_params],
    )


# On a row with service_id and environment_id (aliased {alias}): its pair is in the change log.
LOGGED_PAIR = (
    "AND ({alias}.service_id, {alias}.environment_id) IN "
    "(SELECT service_id, environment_id FROM reports_rollbackchange)"
)


def kept_cause_links(filters: Filters, span: Span, *, logged_only: bool = False) -> tuple[str, list]:
    """cause_links off reports_deploylink: the same rows, the linked ones read by index (with
    `logged_only`, kept_links_sql's: linked rule only)."""
    statuses = list(COUNTED_STATUSES)
    sql, params = kept_links_sql(
        filters, span, relation=IncidentDeploy.Relation.CAUSE, statuses=statuses, logged_only=logged_only
    )
    if filters.attribution == "inferred":
        inferred_sql, inferred_params = inferred_pairs_of_counted_sql(filters, span, statuses=statuses)
        sql, params = f"{sql} UNION ALL {inferred_sql}", [*params, *inferred_params]
    return sql, params


def key_conditions_sql(filters: Filters, alias: str, *, environments: bool) -> tuple[str, list]:
    """SQL conditions on a rollup's key columns (table aliased `alias`) for the filters: with
    `environments`, the counted (production, and chosen) environments; the chosen services and
    teams' services when filtered. Each an array worked out once (an InitPlan) and tested per row,
    instead of joining every rollup row to the environment and service tables (a third of a
    weekly report's deploy query at a million deploys)."""
    sql, params = "", []
    if environments:
        chosen = ""
        if filters.environments:
            chosen = " AND e.slug = ANY(%s)"
            params.append(list(filters.environments))
        sql += (
            f" AND {alias}.environment_id = ANY(ARRAY(SELECT e.id FROM deploys_environment e"
            f" WHERE e.is_production{chosen}))"
        )
    services, service_params = service_filter_sql(filters, "s")
    if services:
        sql += f" AND {alias}.service_id = ANY(ARRAY(SELECT s.id FROM deploys_service s WHERE true{services}))"
        params += service_params
    return sql, params


def service_filter_sql(filters: Filters, alias: str) -> tuple[str, list]:
    """SQL conditions on the service table (aliased `alias`) for the service and team filters."""
    sql, params = "", []
    if filters.services:
        sql += f" AND {alias}.slug = ANY(%s)"
        params.append(list(filters.services))
    if filters.teams:
        sql += f" AND {alias}.dev_team = ANY(%s)"
        params.append(list(filters.teams))
    return sql, params


# A failed deploy's recovery seconds from the columns recovered_at and deployed_at of {alias}: as a
# double (what medians are taken over) and exact (numeric: what means are summed from). NULL when
# not recovered; never negative (a resolution can come before the deploy it is blamed on).
RECOVERY_SECONDS = (
    "CASE WHEN {alias}recovered_at IS NOT NULL"
    " THEN greatest(extract(epoch FROM {alias}recovered_at - {alias}deployed_at)::double precision, 0) END"
)
RECOVERY_EXACT = (
    "CASE WHEN {alias}recovered_at IS NOT NULL"
    " THEN greatest(extract(epoch FROM {alias}recovered_at - {alias}deployed_at), 0) END"
)


def recovery_durations_sql(
    filters: Filters, span: Span, *, kept_links: bool = False, logged_only: bool = False
) -> tuple[str, list]:
    """CTEs (to follow WITH) ending in `durations`: each failed deploy of the span with its period
    (of span.start_instants), deployed_at, and recovery seconds as a double and exact (NULL when
    not recovered); and their params. The rule of failed_deploy_recoveries, set-based: the cause
    pairs read once, and each failed deploy's last resolution, earliest later remediating deploy
    (grouped over the pairs) and, when rolled back, its rollback deploy (kept, or one index probe on
    service, environment and time). The first end is LEAST of them (LEAST skips NULLs; the
    resolution only when every incident the deploy caused is resolved).

    `kept_links`: the cause and remediation links off reports_deploylink, rollback times off
    reports_rollbacktime where trusted. `logged_only` (with the kept recoveries, linked rule): only
    the failed deploys whose service and environment are in the change log.
    """
    if logged_only:
        causes_sql, causes_params = kept_cause_links(filters, span, logged_only=True)
    else:
        causes_sql, causes_params = kept_cause_links(filters, span) if kept_links else cause_links(filters, span)
    # The failed deploys as rows.failed_deploys selects them, but with the cause pairs read once:
    # the rolled-back ones (deploy_rolled_back_idx, deploys/0019), and those of the pairs (counted
    # and in the span already, their columns carried by the pairs).
    failed_sql, failed_params = (
        counted_deploys(filters, span.since, span.until)
        .filter(status=Deploy.Status.ROLLED_BACK)
        .values("id", "deployed_at", "service_id", "environment_id", "status")
        .order_by()
        .query.sql_with_params()
    )
    # The pairs' rolled-back deploys are in the first part already: only the others, each once (a
    # UNION of both parts hashed all 30,000 wide rows at a million deploys to drop the repeats).
    if logged_only:
        # Only the logged pairs' rolled-back deploys, each pair's a range of deploy_svc_env_time_idx.
        keys, key_params = key_conditions_sql(filters, "d", environments=True)
        failed_sql = f"""SELECT d."id", d."deployed_at", d."service_id", d."environment_id", d."status"
                         FROM deploys_deploy d
                         WHERE d."status" = %s AND d."deployed_at" >= %s AND d."deployed_at" < %s
                           {keys} {LOGGED_PAIR.format(alias="d")}"""
        failed_params = (Deploy.Status.ROLLED_BACK, span.since, span.until, *key_params)
    failed_sql += (
        ' UNION ALL SELECT DISTINCT c."deploy_id", c."deployed_at", c."service_id", c."environment_id", c."status"'
        ' FROM causes c WHERE c."status" <> %s'
    )
    failed_params = (*failed_params, Deploy.Status.ROLLED_BACK)
    counted = list(Deploy.COUNTED_STATUSES)
    # With the rollups, a rolled-back deploy's rollback time comes off reports_rollbacktime unless
    # its service and environment changed since it was kept (reports.rollup_sql, "Rollback times"):
    # with the kept recoveries, every rolled-back deploy computed here is of a logged pair.
    kept_join, kept_params, unkept, rollback_at = "", [], "", "n.deployed_at"
    if kept_links and not logged_only:
        # The time range too, so only the span's kept times are read (a trusted one's deployed_at is
        # its deploy's: a change of time logs the pair).
        kept_join = """LEFT JOIN reports_rollbacktime k ON k."deploy_id" = f."id" AND f."status" = %s
                    AND k."deployed_at" >= %s AND k."deployed_at" < %s
                    AND NOT EXISTS (SELECT 1 FROM reports_rollbackchange c
                                    WHERE c."service_id" = f."service_id" AND c."environment_id" = f."environment_id")"""
        kept_params = [Deploy.Status.ROLLED_BACK, span.since, span.until]
        unkept = "AND k.deploy_id IS NULL"
        rollback_at = "CASE WHEN k.deploy_id IS NULL THEN n.deployed_at ELSE k.rollback_at END"
    # Each failed deploy's earliest later remediating deploy to production: the kept links carry
    # the remediating deploy's time, status and environment (no probe of each deploy by its key).
    remediation_sql = """SELECT c."deploy_id", min(d."deployed_at") AS remediated_at
                    FROM causes c
                    JOIN incidents_incidentdeploy r ON r."incident_id" = c."incident_id" AND r."relation" = %s
                    JOIN deploys_deploy d ON d."id" = r."deploy_id" AND d."deployed_at" > c."deployed_at"
                                         AND d."status" = ANY(%s)
                    JOIN deploys_environment e ON e."id" = d."environment_id" AND e."is_production"
                    GROUP BY c."deploy_id" """
    remediation_params = [IncidentDeploy.Relation.REMEDIATION, counted]
    if kept_links:
        # After the failed deploy, so after the span's start: only the links from then are read.
        remediation_params.append(span.since)
        remediation_sql = """SELECT c."deploy_id", min(r."deployed_at") AS remediated_at
                    FROM causes c
                    JOIN reports_deploylink r ON r."incident_id" = c."incident_id" AND r."relation" = %s
                                             AND r."deployed_at" > c."deployed_at" AND r."status" = ANY(%s)
                                             AND r."deployed_at" > %s
                                             AND r."environment_id" = ANY(ARRAY(
                                                 SELECT e."id" FROM deploys_environment e WHERE e."is_production"))
                    GROUP BY c."deploy_id" """
    return (
        f"""causes AS MATERIALIZED ({causes_sql}),
                failed AS MATERIALIZED ({failed_sql}),
                resolution AS (
                    SELECT c."deploy_id", max(i."resolved_at") AS resolved_at,
                           bool_or(i."resolved_at" IS NULL) AS unresolved
                    FROM causes c JOIN incidents_incident i ON i."id" = c."incident_id"
                    GROUP BY c."deploy_id"
                ),
                remediation AS ({remediation_sql}),
                ends AS (
                    SELECT width_bucket(f."deployed_at", %s::timestamptz[]) AS period, f."deployed_at",
                           CASE WHEN coalesce(r.unresolved, false) THEN least({rollback_at}, m.remediated_at)
                                ELSE least({rollback_at}, m.remediated_at, r.resolved_at) END AS recovered_at
                    FROM failed f
                    LEFT JOIN resolution r ON r."deploy_id" = f."id"
                    LEFT JOIN remediation m ON m."deploy_id" = f."id"
                    {kept_join}
                    LEFT JOIN LATERAL (
                        -- Only for a rolled-back deploy (with no time kept): inside, the tests are a
                        -- one-time filter that skips the probe (in the ON clause, every failed deploy
                        -- was probed).
                        SELECT x."deployed_at" FROM deploys_deploy x
                        WHERE f."status" = %s {unkept}
                          AND x."service_id" = f."service_id" AND x."environment_id" = f."environment_id"
                          AND x."deployed_at" > f."deployed_at" AND x."status" = ANY(%s)
                        ORDER BY x."deployed_at" LIMIT 1
                    ) AS n ON true
                ),
                durations AS (
                    SELECT period, "deployed_at",
                           {RECOVERY_SECONDS.format(alias="")} AS seconds, {RECOVERY_EXACT.format(alias="")} AS exact
                    FROM ends
                )""",
        [
            *causes_params,
            *failed_params,
            *remediation_params,
            span.start_instants,
            *kept_params,
            Deploy.Status.ROLLED_BACK,
            counted,
        ],
    )
