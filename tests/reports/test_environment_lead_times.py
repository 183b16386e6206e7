"""Lead-time medians under a filter on environments, read in one pass (#19,
reports.engines.postgres_environments), equal to the scan's to the bit; and the report's query
count stays constant whatever the data.

The data ship the same shas to two production regions, to staging and in failed deploys, in any
order of time and ids, through deploys.services (which keeps each sha's first production delivery).
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from deploys.models import Deploy, DeployCommit, Environment
from deploys.services import CommitInput, DeployInput, deploy_record
from reports import selectors
from reports.selectors import Filters, monthly_report, quarterly_report, yearly_report

UTC = dt.UTC
on_postgres = pytest.mark.postgres_only(reason="the rollups exist on PostgreSQL only")
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
TEAMS = {"web": "storefront", "api": "platform", "images": "platform"}

deploys = st.lists(
    st.tuples(
        st.sampled_from(list(TEAMS)),
        st.sampled_from(["production", "production-eu", "staging"]),
        st.sampled_from(["succeeded", "succeeded", "rolled_back", "failed"]),
        st.integers(0, 100),  # days after START
        st.integers(0, 3),  # a second on that day: some deploys at the same instant
        st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e", "f"]), st.integers(-30, 400_000)), max_size=3),
    ),
    max_size=14,
)
filters = st.sampled_from(
    [
        Filters(environments=("production-eu",)),
        Filters(environments=("production",)),
        Filters(environments=("production", "production-eu")),
        Filters(environments=("staging",)),  # not production: nothing counted
        Filters(environments=("production-eu",), services=("api",)),
        Filters(environments=("production-eu",), teams=("platform",)),
        Filters(environments=("production-eu",), teams=("platform",), services=("web",)),
        Filters(environments=("production-eu",), severities=(1,)),
    ]
)


def store(rows) -> None:
    from deploys.models import Service

    Environment.objects.get_or_create(slug="production-eu", defaults={"is_production": True})
    for slug, team in TEAMS.items():
        Service.objects.update_or_create(slug=slug, defaults={"dev_team": team})
    for n, (service, environment, status, day, second, commits) in enumerate(rows):
        at = START + dt.timedelta(days=day, seconds=second)
        deploy_record(
            rules=None,  # short made-up shas: this tests the report, not the deploy contract
            data=DeployInput(
                service=service,
                environment=environment,
                version=f"v{n}",
                deployer="ann",
                deployed_at=at,
                status=status,
                # Negative: authored after the deploy (no lead time).
                commits=[CommitInput(sha=sha, authored_at=at - dt.timedelta(seconds=ahead)) for sha, ahead in commits],
            ),
            notify=False,
        )


def both(report, **kwargs):
    """The report as the rollup path reads it, and as the scan reads it."""
    with CaptureQueriesContext(connection) as ctx:
        fast = report(**kwargs)
    real = selectors.rollup_zone
    selectors.rollup_zone = lambda: None
    try:
        slow = report(**kwargs)
    finally:
        selectors.rollup_zone = real
    return fast, slow, ctx.captured_queries


@pytest.mark.django_db
@on_postgres
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deploys, filters)
def test_environment_lead_medians_equal_the_scans_to_the_bit(rows, chosen):
    DeployCommit.objects.all().delete()
    Deploy.objects.all().delete()
    store(rows)
    for report in (monthly_report, quarterly_report, yearly_report):
        fast, slow, queries = both(report, first=dt.date(2024, 1, 1), last=dt.date(2024, 4, 1), filters=chosen)
        assert fast == slow
        assert any("ARRAY(SELECT id FROM deploys_environment" in q["sql"] for q in queries)


@pytest.mark.django_db
@on_postgres
def test_a_sha_first_shipped_elsewhere_counts_from_its_first_delivery_to_the_chosen_region():
    store(
        [
            ("api", "production", "succeeded", 0, 0, [("a", 3600)]),
            ("api", "production-eu", "succeeded", 2, 0, [("a", 3600 + 2 * 86400)]),
            ("api", "production-eu", "failed", 1, 0, [("b", 60)]),
            ("api", "production-eu", "succeeded", 3, 0, [("b", 60 + 2 * 86400)]),
        ]
    )
    eu = monthly_report(
        first=dt.date(2024, 1, 1), last=dt.date(2024, 1, 1), filters=Filters(environments=("production-eu",))
    )
    # a: first in the EU two days after its first production delivery, 2 days and an hour after authoring;
    # b: its failed deploy doesn't count, so the later one is its first: 2 days and a minute.
    assert eu.periods[0].lead_time_seconds.median == (3600 + 2 * 86400 + 60 + 2 * 86400) / 2
    everywhere = monthly_report(first=dt.date(2024, 1, 1), last=dt.date(2024, 1, 1))
    assert everywhere.periods[0].lead_time_seconds.median == (3600 + 60 + 2 * 86400) / 2


@pytest.mark.django_db
@on_postgres
def test_the_query_count_doesnt_depend_on_the_data():
    chosen = Filters(environments=("production-eu",), teams=("platform",))
    counts = []
    for rows in ([], [("api", "production-eu", "succeeded", day, 0, [(f"s{day}", 600)]) for day in range(60)]):
        DeployCommit.objects.all().delete()
        Deploy.objects.all().delete()
        store(rows)
        with CaptureQueriesContext(connection) as ctx:
            monthly_report(first=dt.date(2024, 1, 1), last=dt.date(2024, 3, 1), filters=chosen)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
