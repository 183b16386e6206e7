"""Lead-time medians under a filter on environments — one environment off the rollups by environment
(reports.engines.postgres_rollup), several in one pass (reports.engines.postgres_environments)
— equal to the scan's to the bit; and the report's query count stays constant whatever the data.

The data ship the same shas to two production regions, to staging and in failed deploys, in any
order of time and ids, through deploys.services (which keeps each sha's first production delivery
and its first delivery to each environment).
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
from reports.selectors import Filters, monthly_report, quarterly_report, weekly_report, yearly_report

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
    for report in (monthly_report, quarterly_report, yearly_report, weekly_report):
        fast, slow, queries = both(report, first=dt.date(2024, 1, 1), last=dt.date(2024, 4, 1), filters=chosen)
        assert fast == slow
        # One environment: off the rollups by environment (per week for weeks); several: the one
        # pass over the chosen environments' deploys.
        by_rollup = len(chosen.environments) == 1
        table = "reports_envleadtimeweekrollup" if report is weekly_report else "reports_envleadtimerollup"
        assert any(table in q["sql"] for q in queries) == by_rollup
        assert any("ARRAY(SELECT id FROM deploys_environment" in q["sql"] for q in queries) == (not by_rollup)


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


@pytest.mark.django_db
def test_each_row_knows_whether_it_is_its_shas_first_delivery_to_its_environment():
    """On both databases (SQLite keeps the columns too, though only PostgreSQL reads them)."""
    store(
        [
            ("api", "production-eu", "succeeded", 3, 0, [("a", 60)]),
            ("api", "production", "succeeded", 1, 0, [("a", 60)]),
            ("api", "production-eu", "failed", 0, 0, [("a", 60)]),  # not counted
            ("api", "production-eu", "succeeded", 2, 0, [("a", -60)]),  # first in the EU, authored after
            ("api", "staging", "succeeded", 0, 0, [("a", 30)]),
        ]
    )
    rows = {
        (c.deploy.environment.slug, c.deploy.status, c.deploy.deployed_at.day): (
            c.first_delivered_at is not None,
            c.env_first_delivered_at is not None,
            c.env_lead_seconds,
        )
        for c in DeployCommit.objects.select_related("deploy__environment")
    }
    assert rows == {
        ("production-eu", "succeeded", 4): (False, False, None),
        ("production", "succeeded", 2): (True, True, 60.0),
        ("production-eu", "failed", 1): (False, False, None),
        ("production-eu", "succeeded", 3): (False, True, None),
        ("staging", "succeeded", 1): (False, True, 30.0),
    }
    # The row that is first to its environment names it (the index the report reads holds it).
    assert {
        (c.env_delivered_to_id, c.deploy.environment_id if c.env_first_delivered_at else None)
        for c in DeployCommit.objects.select_related("deploy")
    } <= {(e, e) for e in Environment.objects.values_list("pk", flat=True)} | {(None, None)}
    # The EU deploy that was first is marked failed: the next one becomes the EU's first.
    Deploy.objects.filter(environment__slug="production-eu", deployed_at__day=3).update(status="failed")
    from deploys.services import commit_deliveries_refresh

    commit_deliveries_refresh(shas=["a"])
    later = DeployCommit.objects.get(deploy__environment__slug="production-eu", deploy__deployed_at__day=4)
    assert (later.env_first_delivered_at, later.env_lead_seconds, later.env_delivered_to_id) == (
        later.deploy.deployed_at,
        60.0,
        later.deploy.environment_id,
    )
