"""The dashboard's year-by-year line (reports.selectors.year_line): a range of exactly one calendar
year is its own year line, the report's totals, to the bit, with no second report; any other range
reads the yearly report. On every engine path (SQLite scan; PostgreSQL scan and rollup), both
attribution rules, in two reporting zones (one with summer time)."""

import datetime as dt
import random
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.models import IncidentDeploy
from reports.selectors import Filters, monthly_report, quarterly_report, weekly_report, year_line, yearly_report

pytestmark = pytest.mark.django_db

RULES = [Filters(), Filters(attribution="inferred")]


@pytest.fixture(params=["America/New_York", "Europe/Berlin"])
def zone(request, settings, report_path):
    settings.OPSLOG_REPORT_TIME_ZONE = request.param
    settings.TIME_ZONE = request.param
    report_path()  # before the data: on PostgreSQL the rollup's triggers keep it as rows arrive
    return zoneinfo.ZoneInfo(request.param)


@pytest.fixture
def year_of_data(zone):
    """2024 and its edges in the reporting zone: deploys (some rolled back, some causing or
    remediating incidents, some to staging), incidents linked and not (the inferred rule's), with
    times to the microsecond so that means are sums of many unround floats (whose order matters)."""
    rng = random.Random(19)
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")
    start = dt.datetime(2023, 12, 31, 20, tzinfo=zone)
    for _ in range(60):
        at = start + dt.timedelta(seconds=rng.uniform(0, 368 * 86400))
        service = rng.choice([web, api])
        status = rng.choice(["succeeded", "succeeded", "rolled_back", "failed"])
        environment = staging if rng.random() < 0.15 else production
        deploy = DeployFactory(service=service, environment=environment, deployed_at=at, status=status)
        # A later deploy of the same service: a rolled-back one's rollback.
        DeployFactory(
            service=service, environment=production, deployed_at=at + dt.timedelta(seconds=rng.uniform(60, 9000))
        )
        if rng.random() < 0.6:
            started = at + dt.timedelta(seconds=rng.uniform(1, 3 * 3600))
            resolved = started + dt.timedelta(seconds=rng.uniform(60, 20000)) if rng.random() < 0.9 else None
            incident = IncidentFactory(
                started_at=started, detected_at=started, resolved_at=resolved, services=[service], severity=2
            )
            if rng.random() < 0.5:
                IncidentDeployFactory(deploy=deploy, incident=incident)
                if rng.random() < 0.5:
                    fix = DeployFactory(
                        service=web,
                        environment=production,
                        deployed_at=started + dt.timedelta(seconds=rng.uniform(1, 7200)),
                    )
                    IncidentDeployFactory(deploy=fix, incident=incident, relation=IncidentDeploy.Relation.REMEDIATION)


@pytest.mark.parametrize("filters", RULES, ids=["linked", "inferred"])
@pytest.mark.parametrize("report", [monthly_report, quarterly_report], ids=["months", "quarters"])
def test_one_calendar_year_is_its_own_year_line(year_of_data, report, filters):
    first, last = dt.date(2024, 1, 1), dt.date(2024, 12, 1)
    for include_partial in (False, True):
        the_report = report(first=first, last=last, filters=filters, include_partial=include_partial)
        with CaptureQueriesContext(connection) as ctx:
            line = year_line(report=the_report, first=first, last=last, filters=filters)
        assert len(ctx.captured_queries) == 0
        expected = yearly_report(first=first, last=last, filters=filters, include_partial=True).periods
        assert line == expected
        assert line[0].failed_deployment_recovery_seconds.mean is not None
        assert line[0].deploy_related_incidents > 0


@pytest.mark.parametrize("filters", RULES, ids=["linked", "inferred"])
def test_other_ranges_read_the_yearly_report(year_of_data, filters):
    for report, first, last in [
        (monthly_report, dt.date(2024, 2, 1), dt.date(2024, 12, 1)),  # part of a year
        (monthly_report, dt.date(2023, 1, 1), dt.date(2024, 12, 1)),  # two years
        (weekly_report, dt.date(2024, 1, 1), dt.date(2024, 12, 29)),  # ISO weeks: not 1 Jan to 1 Jan
    ]:
        the_report = report(first=first, last=last, filters=filters)
        with CaptureQueriesContext(connection) as ctx:
            line = year_line(report=the_report, first=first, last=last, filters=filters)
        assert len(ctx.captured_queries) > 0
        assert line == yearly_report(first=first, last=last, filters=filters, include_partial=True).periods


def test_the_dashboard_of_one_year_runs_one_report(logged_in, year_of_data):
    def count(query):
        with CaptureQueriesContext(connection) as ctx:
            assert logged_in.get(f"/?{query}").status_code == 200
        return len(ctx.captured_queries)

    one_year = count("from=2024-01&to=2024-12&service=web")
    one_month = count("from=2024-03&to=2024-03&service=web")
    quarters = count("period=quarter&from=2024-Q1&to=2024-Q4&service=web")

    # The one-month dashboard reads the report and the year line (13 queries each at most on
    # PostgreSQL, see test_views); a whole calendar year reads the report only: session, user,
    # services, the report, and the menu's permission check.
    assert one_year == quarters < one_month
    assert one_year <= 2 + 1 + 13 + 1
