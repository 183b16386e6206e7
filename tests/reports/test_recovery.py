"""Failed deployment recovery time: known answers worked out by hand from docs/metrics.md, in two
reporting zones (one with summer time), on every engine path (SQLite scan; PostgreSQL scan and
rollup), and its query count."""

import datetime as dt
import statistics
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.models import IncidentDeploy
from reports.engines import postgres_scan, sqlite_scan
from reports.engines.scope import Span
from reports.selectors import Filters, monthly_report
from reports.services import refresh_rollback_times

pytestmark = pytest.mark.django_db

REMEDIATION = IncidentDeploy.Relation.REMEDIATION
HOUR = 3600.0
MARCH = dt.date(2024, 3, 1)


@pytest.fixture(params=["America/New_York", "Europe/Berlin"])
def zone(request, settings, report_path):
    settings.OPSLOG_REPORT_TIME_ZONE = request.param
    settings.TIME_ZONE = request.param
    report_path()  # before the data: on PostgreSQL the rollup's triggers keep it as rows arrive
    return zoneinfo.ZoneInfo(request.param)


@pytest.fixture
def cases(zone):
    """March 2024 and April 2024, local times in the reporting zone."""

    def local(text):
        return dt.datetime.fromisoformat(text).replace(tzinfo=zone)

    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")

    def deploy(when, service=web, status="succeeded", environment=production):
        return DeployFactory(service=service, environment=environment, deployed_at=local(when), status=status)

    def incident(started, resolved=None, archived=None):
        started = local(started)
        return IncidentFactory(
            started_at=started,
            detected_at=started,
            resolved_at=local(resolved) if resolved else None,
            archived_at=local(archived) if archived else None,
            services=[web],
        )

    def caused(deploy_, incident_):
        IncidentDeployFactory(deploy=deploy_, incident=incident_)

    def remediated(deploy_, incident_):
        IncidentDeployFactory(deploy=deploy_, incident=incident_, relation=REMEDIATION)

    # A: rolled back, then the rollback deploy 30 min later: 1800 s. A staging deploy and a failed
    # deploy in between are not counted, so neither is its rollback deploy.
    deploy("2024-03-05T10:00", status="rolled_back")
    deploy("2024-03-05T10:10", environment=staging)
    deploy("2024-03-05T10:20", status="failed")
    deploy("2024-03-05T10:30")

    # B: caused an incident, then a remediating deploy (of another service) 2 h later, the incident
    # resolved 5 h later: 7200 s. A remediating deploy before the failed one doesn't count.
    b = deploy("2024-03-08T09:00")
    b_incident = incident("2024-03-08T09:10", resolved="2024-03-08T14:00")
    caused(b, b_incident)
    remediated(deploy("2024-03-08T08:00", service=api), b_incident)
    remediated(deploy("2024-03-08T11:00", service=api), b_incident)

    # C: caused an incident resolved 1 h later, before the remediating deploy at 3 h: 3600 s.
    c = deploy("2024-03-12T09:00")
    c_incident = incident("2024-03-12T09:05", resolved="2024-03-12T10:00")
    caused(c, c_incident)
    remediated(deploy("2024-03-12T12:00", service=api), c_incident)

    # D: caused an incident that is unresolved, nothing remediates it: unrecovered.
    d = deploy("2024-03-15T09:00")
    caused(d, incident("2024-03-15T09:30"))

    # E: caused two incidents, resolved 1 h and 4 h later: the later resolution, 14400 s. A
    # remediating deploy of an incident E didn't cause is no recovery of E.
    e = deploy("2024-03-19T09:00")
    caused(e, incident("2024-03-19T09:01", resolved="2024-03-19T10:00"))
    caused(e, incident("2024-03-19T09:02", resolved="2024-03-19T13:00"))
    remediated(deploy("2024-03-19T09:30", service=api), incident("2024-03-19T09:03", resolved="2024-03-19T09:20"))

    # F: caused only an archived incident: not a failed deploy at all.
    f = deploy("2024-03-22T09:00")
    caused(f, incident("2024-03-22T09:01", archived="2024-03-22T12:00"))

    # G: caused a live incident resolved 2 h later and an archived one resolved 6 h later (and an
    # archived unresolved one): the archived ones are ignored, 7200 s.
    g = deploy("2024-03-26T09:00")
    caused(g, incident("2024-03-26T09:01", resolved="2024-03-26T11:00"))
    caused(g, incident("2024-03-26T09:02", resolved="2024-03-26T15:00", archived="2024-03-27T09:00"))
    caused(g, incident("2024-03-26T09:03", archived="2024-03-27T09:00"))

    # J: caused an incident resolved 5 h later; remediated first by a deploy to staging (30 min) and
    # a deploy that failed (1 h), which don't count, then by a production deploy at 2 h: 7200 s.
    j = deploy("2024-03-28T09:00")
    j_incident = incident("2024-03-28T09:05", resolved="2024-03-28T14:00")
    caused(j, j_incident)
    remediated(deploy("2024-03-28T09:30", service=api, environment=staging), j_incident)
    remediated(deploy("2024-03-28T10:00", service=api, status="failed"), j_incident)
    remediated(deploy("2024-03-28T11:00", service=api), j_incident)

    # H: rolled back late on 31 March, its rollback deploy early on 1 April: 7 h, in March.
    deploy("2024-03-31T20:00", status="rolled_back")
    deploy("2024-04-01T03:00")

    # I: rolled back in April, with no later deploy of its service to production: unrecovered.
    deploy("2024-04-10T09:00", service=api, status="rolled_back")
    deploy("2024-04-11T09:00", service=api, environment=staging)

    return {"march": [1800.0, 7200.0, 3600.0, 14400.0, 7200.0, 7200.0, 7 * HOUR]}


def test_each_failed_deploy_recovers_at_the_first_of_rollback_remediation_and_resolution(cases):
    assert_known_answers(cases)


@pytest.mark.postgres_only(reason="the kept rollback times exist on PostgreSQL only")
def test_the_same_answers_off_the_kept_rollback_times(cases):
    """With every rollback time kept (as beat's refresh leaves them), the rollup path reads A's, H's
    and I's rollback deploys off reports_rollbacktime instead of probing; the scan still probes."""
    assert refresh_rollback_times() == 4  # web and api, each in production and staging
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reports_rollbackchange")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*), count(rollback_at) FROM reports_rollbacktime")
        assert cursor.fetchone() == (3, 2)  # A, H and I (I has no rollback deploy)
    assert_known_answers(cases)


def assert_known_answers(cases):
    report = monthly_report(first=dt.date(2024, 2, 1), last=dt.date(2024, 4, 1))
    feb, march, april = report.periods
    values = cases["march"]

    # March: A 1800, B 7200, C 3600, E 14400, G 7200, J 7200, H 25200 (in March, recovered in
    # April); D unrecovered; F no failed deploy.
    assert march.failed_deploys == 8  # A, B, C, D, E, G, J, H
    assert march.failed_deployment_recovery_seconds.mean == pytest.approx(statistics.fmean(values), abs=1e-9)
    assert march.failed_deployment_recovery_seconds.median == 7200.0
    assert march.unrecovered_failed_deploys == 1
    assert march.dora.failed_deployment_recovery_time == "high"  # median under a day

    # April: I, rolled back and never rolled forward: unrecovered, nothing to rate.
    assert april.unrecovered_failed_deploys == 1
    assert (april.failed_deployment_recovery_seconds.mean, april.failed_deployment_recovery_seconds.median) == (
        None,
        None,
    )
    assert april.dora.failed_deployment_recovery_time is None
    assert ("failed_deployment_recovery_time", "no recovered failed deploys") in [
        (item.metric, item.reason) for item in april.dora.left_out
    ]

    # February: no failed deploys.
    assert feb.unrecovered_failed_deploys == 0
    assert ("failed_deployment_recovery_time", "no failed deploys") in [
        (item.metric, item.reason) for item in feb.dora.left_out
    ]

    # The range: every recovered one, both unrecovered.
    totals = report.totals
    assert totals.failed_deployment_recovery_seconds.median == 7200.0
    assert totals.failed_deployment_recovery_seconds.mean == pytest.approx(statistics.fmean(values), abs=1e-9)
    assert totals.unrecovered_failed_deploys == 2


def test_filters_choose_the_failed_deploys_not_their_recovery(cases):
    # web only: B and C are still recovered by the api deploys that remediated their incidents; I
    # (api) is gone.
    report = monthly_report(first=dt.date(2024, 3, 1), last=dt.date(2024, 4, 1), filters=Filters(services=("web",)))
    march, april = report.periods

    assert march.failed_deployment_recovery_seconds.median == 7200.0
    assert march.unrecovered_failed_deploys == 1
    assert april.unrecovered_failed_deploys == 0
    assert april.dora.left_out[-1].reason == "no failed deploys"


def test_the_engine_takes_one_query(cases, zone):
    span = Span.of_months(first=dt.date(2024, 3, 1), last=dt.date(2024, 4, 1), zone=zone)
    engine = postgres_scan if connection.vendor == "postgresql" else sqlite_scan
    with CaptureQueriesContext(connection) as ctx:
        figures = engine.recovery_figures(span=span, filters=Filters())
    assert len(ctx.captured_queries) == 1
    assert figures.totals.unrecovered == 2


def test_the_query_count_does_not_grow_with_failed_deploys(zone):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            monthly_report(first=dt.date(2024, 1, 1), last=dt.date(2024, 12, 1), include_partial=True)
        return len(ctx.captured_queries)

    empty = count()
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    for day in range(1, 20):
        failed = DeployFactory(
            service=web,
            environment=production,
            deployed_at=dt.datetime(2024, 5, day, 9, tzinfo=zone),
            status="rolled_back" if day % 2 else "succeeded",
        )
        IncidentDeployFactory(deploy=failed, incident=IncidentFactory(started_at=failed.deployed_at, services=[web]))
    assert count() == empty


def test_sqlite_and_python_agree_with_the_database_on_the_recovery_rule():
    """The rule in Python (SQLite's engine) on the edge cases the SQL's LEAST must match."""
    t0 = dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC)

    def row(**ends):
        base = {"deployed_at": t0, "rollback_at": None, "remediated_at": None, "resolved_at": None}
        base["unresolved"] = ends.pop("unresolved", False)
        return base | {name: t0 + dt.timedelta(hours=h) for name, h in ends.items()}

    assert sqlite_scan.recovery_seconds(row()) is None
    assert sqlite_scan.recovery_seconds(row(resolved_at=2, unresolved=True)) is None  # one still open
    assert sqlite_scan.recovery_seconds(row(resolved_at=2, remediated_at=3)) == 2 * HOUR
    assert sqlite_scan.recovery_seconds(row(resolved_at=2, remediated_at=3, unresolved=True)) == 3 * HOUR
    assert sqlite_scan.recovery_seconds(row(rollback_at=1, remediated_at=3)) == HOUR
    assert sqlite_scan.recovery_seconds(row(resolved_at=-1)) == 0.0  # resolved before it went live


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the rollups are PostgreSQL's")
def test_the_rollup_path_answers_what_the_scan_path_does(cases):
    """Weeks, months and quarters: the same figures whether the deploy counts come off the rollups
    or the scan (failed deployment recovery time is the scan's on both paths)."""
    import io

    from django.core.management import call_command

    from reports.models import RollupZone
    from reports.selectors import quarterly_report, weekly_report

    def figures():
        out = []
        for report in (
            monthly_report(first=dt.date(2024, 2, 1), last=dt.date(2024, 4, 1)),
            weekly_report(first=dt.date(2024, 3, 1), last=dt.date(2024, 4, 14)),
            quarterly_report(first=dt.date(2024, 1, 1), last=dt.date(2024, 6, 1)),
        ):
            out += [
                (f.start, f.failed_deploys, f.failed_deployment_recovery_seconds, f.unrecovered_failed_deploys, f.dora)
                for f in [*report.periods, report.totals]
            ]
        return out

    call_command("rebuild_report_rollup", stdout=io.StringIO())
    rollup = figures()
    RollupZone.objects.all().delete()
    scan = figures()

    assert rollup == scan
    assert any(row[2].median is not None for row in scan)


def test_recovery_follows_the_attribution_rule(zone):
    """An incident nobody linked: under the linked rule its deploy hasn't failed; under the inferred
    rule (the deploy is 20 min before the impact began, inside the 4 h window) it has, and it
    recovered when the incident was resolved, 3 h after the deploy. Worked out by hand."""

    def local(text):
        return dt.datetime.fromisoformat(text).replace(tzinfo=zone)

    web = ServiceFactory(slug="web")
    production = EnvironmentFactory(slug="production")
    DeployFactory(service=web, environment=production, deployed_at=local("2024-03-10T09:00"))
    IncidentFactory(
        started_at=local("2024-03-10T09:20"),
        detected_at=local("2024-03-10T09:30"),
        resolved_at=local("2024-03-10T12:00"),
        services=[web],
    )
    # Outside the window: 5 h before its incident, so not inferred, and not failed.
    DeployFactory(service=web, environment=production, deployed_at=local("2024-03-20T04:00"))
    IncidentFactory(started_at=local("2024-03-20T09:00"), detected_at=local("2024-03-20T09:00"), services=[web])

    def march(filters):
        return monthly_report(first=MARCH, last=MARCH, filters=filters, include_partial=True).periods[0]

    linked = march(Filters())
    assert (linked.failed_deploys, linked.unrecovered_failed_deploys) == (0, 0)
    assert linked.failed_deployment_recovery_seconds.median is None

    inferred = march(Filters(attribution="inferred"))
    assert (inferred.failed_deploys, inferred.unrecovered_failed_deploys) == (1, 0)
    assert inferred.failed_deployment_recovery_seconds.mean == 3 * HOUR
    assert inferred.failed_deployment_recovery_seconds.median == 3 * HOUR
    assert inferred.dora.failed_deployment_recovery_time == "high"

    # A 6 h window reaches the second deploy too; its incident is unresolved, so it is unrecovered.
    wide = march(Filters(attribution="inferred", attribution_window=dt.timedelta(hours=6)))
    assert (wide.failed_deploys, wide.unrecovered_failed_deploys) == (2, 1)
    assert wide.failed_deployment_recovery_seconds.median == 3 * HOUR
