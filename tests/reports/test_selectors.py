"""Known answers, worked out by hand from the glossary for small hand-built data."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployCommitFactory, DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from reports.selectors import Filters, monthly_report, yearly_report

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def at(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def seconds(**kw):
    return dt.timedelta(**kw)


@pytest.fixture
def berlin(settings, report_path):
    settings.OPSLOG_REPORT_TIME_ZONE = "Europe/Berlin"
    settings.TIME_ZONE = "Europe/Berlin"
    # Before the data, so on PostgreSQL the rollup is kept by its triggers as the rows arrive.
    report_path()


@pytest.fixture
def data(berlin):
    web, api = ServiceFactory(slug="web", dev_team="storefront"), ServiceFactory(slug="api", dev_team="platform")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")

    def deploy(when, deployer, status="succeeded", service=web, environment=production):
        return DeployFactory(
            service=service, environment=environment, deployed_at=at(when), deployer=deployer, status=status
        )

    d0 = deploy("2024-01-15T10:00:00Z", "zoe")  # before the range
    d1 = deploy("2024-02-29T23:30:00Z", "alice")  # 00:30 on 1 March in Berlin
    d2 = deploy("2024-03-10T10:00:00Z", "bob")
    d3 = deploy("2024-03-15T10:00:00Z", "alice", status="rolled_back")
    d4 = deploy("2024-03-20T10:00:00Z", "carol", status="failed")  # not counted
    deploy("2024-03-21T10:00:00Z", "carol", environment=staging)  # not counted
    d6 = deploy("2024-03-31T21:59:00Z", "dave")  # 23:59 CEST, still March
    d7 = deploy("2024-03-31T22:30:00Z", "erin")  # 00:30 on 1 April in Berlin
    deploy("2024-03-12T10:00:00Z", "frank", service=api)  # another service

    def incident(started, detect=None, repair=None, severity=3, service=web):
        started = at(started)
        detected = started + seconds(seconds=detect) if detect is not None else None
        resolved = detected + seconds(seconds=repair) if repair is not None else None
        return IncidentFactory(
            started_at=started, detected_at=detected, resolved_at=resolved, severity=severity, services=[service]
        )

    i1 = incident("2024-03-10T10:05:00Z", detect=60, repair=600)
    i2 = incident("2024-03-10T11:00:00Z", detect=120, repair=2400, severity=1)
    incident("2024-03-20T00:00:00Z")  # never detected, unresolved
    incident("2024-03-25T00:00:00Z", detect=30)  # unresolved
    incident("2024-03-26T00:00:00Z", detect=10, repair=90)
    incident("2024-03-31T22:30:00Z", detect=5, repair=5)  # 00:30 on 1 April in Berlin
    incident("2024-03-12T10:30:00Z", detect=1, repair=1, service=api)  # another service
    IncidentDeployFactory(incident=i1, deploy=d2, relation="cause")
    IncidentDeployFactory(incident=i2, deploy=d2, relation="cause")  # d2 caused two: counts once
    IncidentDeployFactory(incident=i1, deploy=d6, relation="remediation")

    def commit(deploy_, sha, authored):
        DeployCommitFactory(deploy=deploy_, sha=sha, authored_at=at(authored))

    commit(d0, "c7", "2024-01-14T00:00:00Z")
    commit(d2, "c7", "2024-01-14T00:00:00Z")  # reached production in January already
    commit(d2, "c1", "2024-03-09T10:00:00Z")  # 86400 s
    commit(d2, "c2", "2024-03-10T11:00:00Z")  # authored after the deploy: dropped
    commit(d3, "c1", "2024-03-09T10:00:00Z")  # not the first time
    commit(d3, "c3", "2024-03-15T09:00:00Z")  # 3600 s
    commit(d1, "c4", "2024-02-29T23:00:00Z")  # 1800 s
    commit(d4, "c5", "2024-03-20T09:00:00Z")  # failed deploy: not production yet
    commit(d6, "c5", "2024-03-20T09:00:00Z")  # 11 d 12 h 59 min = 997140 s
    commit(d7, "c6", "2024-03-31T20:30:00Z")  # 7200 s, in April


def test_months_edges_in_the_reporting_time_zone_and_every_figure(data):
    report = monthly_report(first=dt.date(2024, 2, 1), last=dt.date(2024, 4, 1), filters=Filters(services=("web",)))
    feb, march, april = report.periods

    assert [p.start for p in report.periods] == [dt.date(2024, 2, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1)]
    # February: nothing qualifies.
    assert (feb.deploys, feb.deployers, feb.incidents) == (0, 0, 0)
    assert (feb.incident_rate, feb.change_failure_rate, feb.rework_rate) == (None, None, None)
    assert (feb.mttd_seconds.mean, feb.mttd_seconds.median, feb.lead_time_seconds.median) == (None, None, None)
    # No deploys is measured (frequency 0: low); the rest had nothing to measure and says so.
    assert (feb.dora.deploy_frequency, feb.dora.overall) == ("low", "low")
    assert (
        feb.dora.left_out_text()
        == "lead time (no commits); change failure rate (no deploys); failed deployment recovery time (no failed deploys)"
    )

    assert (march.deploys, march.deployers) == (4, 3)
    assert (march.incidents, march.deploy_related_incidents, march.unresolved_incidents) == (5, 2, 2)
    assert march.incident_rate == 2 / 4
    assert march.change_failure_rate == 2 / 4  # d2 (caused two incidents, once) and d3 (rolled back)
    assert march.rework_rate == 1 / 4
    assert (march.mttd_seconds.mean, march.mttd_seconds.median) == (55, 45)  # 60 120 30 10
    assert (march.mttr_seconds.mean, march.mttr_seconds.median) == (1030, 600)  # 600 2400 90
    assert march.time_to_restore_seconds.mean == pytest.approx(3280 / 3)  # 660 2520 100
    assert march.time_to_restore_seconds.median == 660
    assert march.lead_time_seconds.median == 45000  # 1800 3600 86400 997140

    assert (april.deploys, april.deployers, april.incidents) == (1, 1, 1)
    assert (april.change_failure_rate, april.rework_rate, april.incident_rate) == (0, 0, 0)
    assert (april.mttd_seconds.median, april.mttr_seconds.median, april.time_to_restore_seconds.median) == (5, 5, 10)
    assert april.lead_time_seconds.median == 7200


def test_totals_over_the_range(data):
    totals = monthly_report(
        first=dt.date(2024, 2, 1), last=dt.date(2024, 4, 30), filters=Filters(services=("web",))
    ).totals

    assert (totals.deploys, totals.deployers) == (5, 4)  # alice bob dave erin
    assert (totals.incidents, totals.deploy_related_incidents, totals.unresolved_incidents) == (6, 2, 2)
    assert (totals.change_failure_rate, totals.rework_rate, totals.incident_rate) == (0.4, 0.2, 0.4)
    assert (totals.mttd_seconds.mean, totals.mttd_seconds.median) == (45, 30)  # 60 120 30 10 5
    assert (totals.mttr_seconds.mean, totals.mttr_seconds.median) == (773.75, 345)  # 600 2400 90 5
    assert (totals.time_to_restore_seconds.mean, totals.time_to_restore_seconds.median) == (822.5, 380)
    assert totals.lead_time_seconds.median == 7200  # 1800 3600 7200 86400 997140


def test_dora_levels(data):
    feb, march, april = monthly_report(
        first=dt.date(2024, 2, 1), last=dt.date(2024, 4, 1), filters=Filters(services=("web",))
    ).periods

    # March: 4 deploys in 31 days (medium), lead 12.5 h (elite), 50 % failures (low), failed
    # deployment recovery 8.3 days (low), restore 11 min (elite, for reference only). Recovery: d2
    # (10:00 on 10 March) caused i1 and i2, the last resolved at 11:42: 6120 s (its remediating
    # deploy d6 comes later); d3 (rolled back, 15 March 10:00) was rolled back by the next counted
    # deploy of web to production, d6 on 31 March 21:59 (d4 failed, not counted): 1425540 s.
    assert march.failed_deployment_recovery_seconds.median == (6120 + 1425540) / 2
    assert march.unrecovered_failed_deploys == 0
    assert (
        march.dora.deploy_frequency,
        march.dora.lead_time,
        march.dora.change_failure_rate,
        march.dora.failed_deployment_recovery_time,
        march.dora.time_to_restore,
        march.dora.overall,
    ) == ("medium", "elite", "low", "low", "elite", "low")
    # April: once in 30 days still counts as "at least monthly"; no failed deploy to recover from.
    assert (april.dora.deploy_frequency, april.dora.overall) == ("medium", "medium")
    assert march.dora.left_out == ()
    assert april.dora.left_out_text() == "failed deployment recovery time (no failed deploys)"


def test_a_month_without_deploys_and_fast_restores_is_low_not_elite(berlin):
    """Zero deploys is a measurement: under the old rule (no deploys = no data) May rated elite on
    its one 11-minute restore alone."""
    web = ServiceFactory(slug="web")
    production = EnvironmentFactory(slug="production")
    DeployFactory(service=web, environment=production, deployed_at=at("2024-04-10T10:00:00Z"))
    started = at("2024-05-10T10:00:00Z")
    IncidentFactory(
        started_at=started,
        detected_at=started + seconds(seconds=60),
        resolved_at=started + seconds(seconds=660),
        services=[web],
    )

    report = monthly_report(first=dt.date(2024, 5, 1), last=dt.date(2024, 5, 1))
    may = report.periods[0]

    assert (may.deploys, may.time_to_restore_seconds.median) == (0, 660)
    assert (may.dora.deploy_frequency, may.dora.time_to_restore, may.dora.overall) == ("low", "elite", "low")
    assert [(item.metric, item.reason) for item in may.dora.left_out] == [
        ("lead_time", "no commits"),
        ("change_failure_rate", "no deploys"),
        ("failed_deployment_recovery_time", "no failed deploys"),
    ]
    assert report.totals.dora.overall == "low"


def test_only_what_has_nothing_to_measure_is_left_out(berlin):
    """Deploys with commits and no incidents: only failed deployment recovery time has nothing to
    measure in the level (time to restore, for reference only, is never left out: it isn't in it)."""
    web = ServiceFactory(slug="web")
    production = EnvironmentFactory(slug="production")
    for day in range(1, 31):  # every day of June: elite
        deploy = DeployFactory(service=web, environment=production, deployed_at=at(f"2024-06-{day:02d}T10:00:00Z"))
        DeployCommitFactory(deploy=deploy, sha=f"c{day}", authored_at=at(f"2024-06-{day:02d}T09:00:00Z"))

    june = monthly_report(first=dt.date(2024, 6, 1), last=dt.date(2024, 6, 1)).periods[0]

    assert (june.dora.deploy_frequency, june.dora.lead_time, june.dora.change_failure_rate) == ("elite",) * 3
    assert (june.dora.time_to_restore, june.dora.overall) == (None, "elite")
    assert june.dora.left_out_text() == "failed deployment recovery time (no failed deploys)"


def test_filters_by_team_severity_and_environment(data):
    all_services = monthly_report(first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1)).periods[0]
    platform = monthly_report(
        first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1), filters=Filters(teams=("platform",))
    ).periods[0]
    sev1 = monthly_report(
        first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1), filters=Filters(services=("web",), severities=(1,))
    ).periods[0]
    staging_only = monthly_report(
        first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1), filters=Filters(environments=("staging",))
    ).periods[0]

    assert (all_services.deploys, all_services.incidents) == (5, 6)
    assert (platform.deploys, platform.deployers, platform.incidents) == (1, 1, 1)
    assert (sev1.incidents, sev1.mttr_seconds.median) == (1, 2400)
    assert sev1.deploys == 4  # severity filters incidents only
    assert staging_only.deploys == 0  # staging isn't a production environment


def test_an_incident_affecting_two_matching_services_counts_once(berlin):
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    IncidentFactory(started_at=at("2024-03-05T00:00:00Z"), detected_at=at("2024-03-05T00:01:00Z"), services=[web, api])

    march = monthly_report(
        first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1), filters=Filters(services=("web", "api"))
    ).periods[0]

    assert march.incidents == 1
    assert march.mttd_seconds.mean == 60


def test_yearly_report(data):
    report = yearly_report(first=dt.date(2023, 1, 1), last=dt.date(2024, 12, 31), filters=Filters(services=("web",)))

    assert [p.start for p in report.periods] == [dt.date(2023, 1, 1), dt.date(2024, 1, 1)]
    assert report.periods[0].deploys == 0
    assert report.periods[1].deploys == 6  # d0 in January too
    # 2024's first deliveries: c7 122400 (d0), c4 1800, c1 86400, c3 3600, c5 997140, c6 7200.
    assert report.periods[1].lead_time_seconds.median == (7200 + 86400) / 2


def test_query_count_is_constant(data, django_assert_max_num_queries):
    def count(first, last, **options):
        with CaptureQueriesContext(connection) as ctx:
            monthly_report(first=first, last=last, **options)
        return len(ctx.captured_queries)

    short = count(dt.date(2024, 3, 1), dt.date(2024, 3, 1))
    long = count(dt.date(2010, 1, 1), dt.date(2029, 12, 1), include_partial=True)
    # Months not over yet are left out of the level, rated on the complete ones apart: at most twice.
    rated_apart = count(dt.date(2010, 1, 1), dt.date(2029, 12, 1))

    # Failed deployment recovery time added one query (its failed deploys with their recovery's
    # candidate ends, reports.engines.rows.failed_deploy_recoveries) on every engine path.
    assert short == long <= 15
    assert rated_apart <= 2 * short


def test_incident_figures_per_period_and_over_the_range_are_one_query(data):
    """The incident means and medians sort every incident of the range: per period and over the
    range they are one statement (the range is the grouping set without the period), not two."""
    with CaptureQueriesContext(connection) as ctx:
        report = monthly_report(first=dt.date(2010, 1, 1), last=dt.date(2029, 12, 1), include_partial=True)

    # The queries reading the incidents' durations (recovery time's reads resolved_at only), off
    # the incidents or off their rollup.
    incident_medians = [
        q["sql"]
        for q in ctx.captured_queries
        if '"incidents_incident"."detected_at"' in q["sql"] or "reports_incidentrollup" in q["sql"]
    ]
    if connection.vendor == "postgresql":
        assert len(incident_medians) == 1
    assert report.totals.incidents == sum(p.incidents for p in report.periods) > 0


def test_mtta_follows_every_write_to_an_incident(berlin, user):
    """MTTA (acknowledged − detected) is read off the incidents themselves, so every way an incident
    changes shows at once: stamped, corrected, reopened, the acknowledgement removed, archived and
    restored. Months are the incident's start's in Berlin, as for MTTD."""
    from incidents import services
    from incidents.services import IncidentInput

    def mtta(month):
        first = dt.date(2024, month, 1)
        figures = monthly_report(first=first, last=first, filters=Filters()).periods[0]
        return (figures.mtta_seconds.mean, figures.mtta_seconds.median)

    def filed(started, detect):
        started = at(started)
        return services.incident_create(
            data=IncidentInput(title="x", started_at=started, detected_at=started + seconds(seconds=detect)), by=user
        )[0]

    a = filed("2024-03-05T10:00:00Z", 60)  # detected 10:01
    b = filed("2024-03-06T10:00:00Z", 0)  # detected 10:00
    # 23:30 UTC on 31 March is 01:30 on 1 April in Berlin: April's, acknowledged or not.
    late = filed("2024-03-31T23:30:00Z", 30)
    assert mtta(3) == (None, None)  # detected, never acknowledged: nothing to average

    services.incident_stamp(incident=a, stage="acknowledged", at=at("2024-03-05T10:11:00Z"), by=user)  # 600
    assert mtta(3) == (600, 600)
    services.incident_stamp(incident=b, stage="acknowledged", at=at("2024-03-06T10:00:00Z"), by=user)  # 0, counted
    services.incident_stamp(incident=late, stage="acknowledged", at=at("2024-03-31T23:32:00Z"), by=user)  # 90
    assert mtta(3) == (300, 300)  # (600 + 0) / 2
    assert mtta(4) == (90, 90)

    # Corrected by an edit: acknowledged at 10:21, 1200 s after detection.
    services.incident_update(incident=a, changes={"acknowledged_at": at("2024-03-05T10:21:00Z")}, by=user)
    assert mtta(3) == (600, 600)  # (1200 + 0) / 2

    # Resolved then reopened: the acknowledgement stays, and so does its time.
    services.incident_stamp(incident=a, stage="resolved", at=at("2024-03-05T11:00:00Z"), by=user)
    services.incident_reopen(incident=a, by=user)
    assert mtta(3) == (600, 600)

    # The acknowledgement removed by an edit: b leaves MTTA (still counted as an incident).
    services.incident_update(incident=b, changes={"acknowledged_at": None}, by=user)
    assert mtta(3) == (1200, 1200)

    services.incident_archive(incident=a, reason="filed twice", by=user)
    assert mtta(3) == (None, None)
    services.incident_unarchive(incident=a, by=user)
    assert mtta(3) == (1200, 1200)
