"""The SQLite engine: SQL aggregates for the counts, means and medians taken in Python.

SQLite has no percentile function, so the durations' values are fetched and the median taken with
`statistics.median` (interpolated between the two middle values, as PostgreSQL's percentile_cont).
Its data is small: the embedded default, demos and tests.
"""

import statistics
from dataclasses import replace

from django.db.models import Count, Q

from deploys.models import Deploy
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
    caused_deploy_q,
    counted_deploys,
    counted_incidents,
    deploy_links,
    failed_deploy_recoveries,
    first_production_commits,
    incident_count_aggregates,
    related_annotation,
)
from reports.engines.scope import Filters, Span


def deploy_figures(*, span: Span, filters: Filters) -> DeployFigures:
    """Counted deploys, deployers, rolled-back, causing and remediating deploys per period (3 queries)."""
    rolled_back = Deploy.Status.ROLLED_BACK
    remediation = IncidentDeploy.Relation.REMEDIATION
    deploys = counted_deploys(filters, span.since, span.until)
    periods = [DeployCounts()] * len(span.starts)
    for row in (
        deploys.annotate(period=span.trunc("deployed_at", tzinfo=span.zone))
        .values("period")
        .annotate(
            deploys=Count("id"),
            deployers=Count("deployer", distinct=True),
            rolled_back=Count("id", filter=Q(status=rolled_back)),
            # Under the report's attribution rule (cause_pairs). A deploy that caused two incidents
            # counts once, and a rolled-back one is already a failure.
            caused=Count("id", filter=~Q(status=rolled_back) & caused_deploy_q(filters, span)),
        )
        .order_by()
    ):
        index = span.index_of_truncated(row["period"])
        periods[index] = replace(
            periods[index],
            deploys=row["deploys"],
            deployers=row["deployers"],
            rolled_back=row["rolled_back"],
            caused=row["caused"],
        )
    for row in (
        deploy_links(filters=filters, span=span)
        .filter(relation=remediation)
        .annotate(period=span.trunc("deploy__deployed_at", tzinfo=span.zone))
        .values("period")
        .annotate(rework=Count("deploy", distinct=True))
        .order_by()
    ):
        index = span.index_of_truncated(row["period"])
        periods[index] = replace(periods[index], rework=row["rework"])
    return DeployFigures(periods=tuple(periods), deployers=deploys.order_by().values("deployer").distinct().count())


def incident_figures(*, span: Span, filters: Filters) -> IncidentFigures:
    """Incident counts per period and over the range (2 queries), then their timestamps (1 query:
    incidents are few) for the means and medians."""
    incidents = counted_incidents(filters, span.since, span.until)
    annotated = incidents.annotate(related=related_annotation(filters, span))
    aggregates = incident_count_aggregates()
    counts: list[dict] = [{} for _ in span.starts]
    for row in (
        annotated.annotate(period=span.trunc("started_at", tzinfo=span.zone)).values("period").annotate(**aggregates)
    ):
        counts[span.index_of_truncated(row.pop("period"))] = row
    total_counts = annotated.aggregate(**aggregates)

    values = [{prefix: [] for prefix, _, _ in INCIDENT_DURATIONS} for _ in span.starts]
    everything: dict[str, list[float]] = {prefix: [] for prefix, _, _ in INCIDENT_DURATIONS}
    for stamps in incidents.values("started_at", "detected_at", "acknowledged_at", "resolved_at"):
        index = span.index_of(stamps["started_at"])
        for prefix, start, end in INCIDENT_DURATIONS:
            if stamps[start] is not None and stamps[end] is not None:
                seconds = (stamps[end] - stamps[start]).total_seconds()
                values[index][prefix].append(seconds)
                everything[prefix].append(seconds)
    return IncidentFigures(
        periods=tuple(_incident_counts(c, v) for c, v in zip(counts, values)),
        totals=_incident_counts(total_counts, everything),
    )


def lead_medians(*, span: Span, filters: Filters) -> LeadMedians:
    """Median lead time per period and over the range, from the commits' two times (1 query)."""
    values: list[list[float]] = [[] for _ in span.starts]
    commits = first_production_commits(filters=filters, span=span, postgres=False)
    for delivered, authored in commits.values_list("delivered", "authored_at"):
        values[span.index_of(delivered)].append((delivered - authored).total_seconds())
    return LeadMedians(
        periods=tuple(_summary(v).median for v in values),
        total=_summary([v for period in values for v in period]).median,
    )


def recovery_figures(*, span: Span, filters: Filters) -> RecoveryFigures:
    """Failed deployment recovery time per period and over the range (1 query: the failed deploys
    with the candidate ends of their recovery; the first one taken here)."""
    values: list[list[float]] = [[] for _ in span.starts]
    unrecovered = [0] * len(span.starts)
    rows = failed_deploy_recoveries(filters, span).values(
        "deployed_at", "rollback_at", "remediated_at", "resolved_at", "unresolved"
    )
    for row in rows:
        index = span.index_of(row["deployed_at"])
        seconds = recovery_seconds(row)
        if seconds is None:
            unrecovered[index] += 1
        else:
            values[index].append(seconds)
    return RecoveryFigures(
        periods=tuple(RecoveryCounts(_summary(v), n) for v, n in zip(values, unrecovered)),
        totals=RecoveryCounts(_summary([v for period in values for v in period]), sum(unrecovered)),
    )


def recovery_seconds(row: dict) -> float | None:
    """Seconds from a failed deploy to the first of its rollback deploy, its remediating deploy
    and the resolution of the last incident it caused (none while one is unresolved); None when
    there is none yet. A resolution recorded before the deploy (inconsistent data) counts as 0."""
    ends = [row["rollback_at"], row["remediated_at"]]
    if not row["unresolved"]:
        ends.append(row["resolved_at"])
    present = [end for end in ends if end is not None]
    if not present:
        return None
    return max((min(present) - row["deployed_at"]).total_seconds(), 0.0)


def _incident_counts(counts: dict, durations: dict[str, list[float]]) -> IncidentCounts:
    return IncidentCounts(
        incidents=counts.get("incidents") or 0,
        deploy_related=counts.get("deploy_related_incidents") or 0,
        unresolved=counts.get("unresolved_incidents") or 0,
        mttd=_summary(durations["mttd"]),
        mttr=_summary(durations["mttr"]),
        time_to_restore=_summary(durations["ttr"]),
        mtta=_summary(durations["mtta"]),
    )


def _summary(values: list[float]) -> Durations:
    if not values:
        return Durations()
    return Durations(mean=statistics.fmean(values), median=statistics.median(values))
