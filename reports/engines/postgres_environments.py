"""Lead-time medians under a filter on environments, on PostgreSQL, in one pass (#19).

With a filter on environments, "first reaches production" means first among the chosen
environments, which the kept first delivery (deploys.services.commit_deliveries_refresh, and the
lead-time rollup built on it) isn't. postgres_scan.lead_medians answers it from the rows, with an
anti-join per commit and a second pass for the range's median. This reads the same rows once:

- a commit row that is its sha's first production delivery (first_delivered_at set) is first among
  any subset of production environments holding it, so only the other rows (a sha shipped again,
  e.g. to a second region) need the anti-join;
- the chosen environments' counted deploys of the range are joined to their commits once, and the
  medians per period and over the range come from one GROUP BY with two grouping sets.

The values are computed as the scan computes them (the deploy's time minus the authoring time, in
seconds, by the database) and percentile_cont takes the same middle values, so the medians are the
scan's to the bit (tests/reports/test_environment_lead_times.py). Same query count as the scan
path's two queries minus one: one query.
"""

from django.db import connection

from reports.engines.results import LeadMedians
from reports.engines.rows import COUNTED_STATUSES
from reports.engines.scope import Filters, Span


def lead_medians(*, span: Span, filters: Filters) -> LeadMedians:
    """Median lead time per period and over the range among the first deliveries to
    `filters.environments` (1 query)."""
    assert filters.environments, "without a filter on environments the rollup answers"
    services = ""
    params: list = []
    if filters.services:
        services += " AND s.slug = ANY(%s)"
        params.append(list(filters.services))
    if filters.teams:
        services += " AND s.dev_team = ANY(%s)"
        params.append(list(filters.teams))
    environments = list(filters.environments)
    starts = span.start_instants
    whole = len(starts) + 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH firsts AS (
                    SELECT width_bucket(d.deployed_at, %s::timestamptz[]) AS period,
                           EXTRACT(EPOCH FROM (d.deployed_at - c.authored_at)) AS lead
                    FROM deploys_deploy d
                    JOIN deploys_service s ON s.id = d.service_id
                    JOIN deploys_deploycommit c ON c.deploy_id = d.id
                    WHERE d.environment_id = ANY(ARRAY(SELECT id FROM deploys_environment WHERE is_production AND slug = ANY(%s)))
                      AND d.status = ANY(%s)
                      AND d.deployed_at >= %s AND d.deployed_at < %s {services}
                      AND c.authored_at IS NOT NULL AND c.authored_at < d.deployed_at
                      AND (c.first_delivered_at IS NOT NULL OR NOT EXISTS (
                          SELECT FROM deploys_deploycommit e JOIN deploys_deploy ed ON ed.id = e.deploy_id
                          WHERE e.sha = c.sha AND ed.environment_id = ANY(
                                ARRAY(SELECT id FROM deploys_environment WHERE is_production AND slug = ANY(%s)))
                            AND ed.status = ANY(%s)
                            AND (ed.deployed_at < d.deployed_at OR (ed.deployed_at = d.deployed_at AND ed.id < d.id))
                      ))
                )
                SELECT coalesce(period, %s), count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY lead)
                FROM firsts GROUP BY GROUPING SETS ((period), ())""",
            [
                starts,
                environments,
                COUNTED_STATUSES,
                span.since,
                span.until,
                *params,
                environments,
                COUNTED_STATUSES,
                whole,
            ],
        )
        medians: list[float | None] = [None] * whole
        for index, count, median in cursor.fetchall():
            if count:
                medians[index - 1] = median
    return LeadMedians(periods=tuple(medians[:-1]), total=medians[-1])
