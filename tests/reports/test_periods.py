"""Weeks and quarters: known answers in two reporting zones with summer time (weeks and quarters
crossing the change), and properties on random data (weeks add up to the range; a quarter's counts
are its months'). Every test runs through the scan and, on PostgreSQL, through the rollups."""

import datetime as dt
import statistics
import zoneinfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from deploys.models import Deploy, DeployCommit, Service
from deploys.services import CommitInput, DeployInput, deploy_record
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.models import Incident, IncidentDeploy
from reports.engines.scope import Span
from reports.selectors import Filters, monthly_report, quarterly_report, weekly_report
from tests.support.times import at

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture(params=["Europe/Berlin", "America/New_York"])
def zone(request, settings, report_path):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = request.param
    report_path()  # before the data: on PostgreSQL the triggers keep the rollups as rows arrive
    return request.param


def record(when: str, *, service="web", status="succeeded", deployer="ann", environment="production", commits=()):
    moment = at(when)
    return deploy_record(
        rules=None,  # short made-up shas: this tests the report, not the deploy contract
        data=DeployInput(
            service=service,
            environment=environment,
            version=when,
            deployer=deployer,
            deployed_at=moment,
            status=status,
            commits=[CommitInput(sha=sha, authored_at=moment - dt.timedelta(seconds=ahead)) for sha, ahead in commits],
        ),
        notify=False,
    )[0]


def incident(when: str, *, restore: int | None = None, service="web"):
    started = at(when)
    return IncidentFactory(
        started_at=started,
        detected_at=started,
        resolved_at=started + dt.timedelta(seconds=restore) if restore is not None else None,
        services=[Service.objects.get_or_create(slug=service)[0]],
    )


# --- Known answers ---------------------------------------------------------------------------------


def test_spans_of_weeks_and_quarters_are_local_midnights_167_or_169_hours_apart():
    berlin, new_york = zoneinfo.ZoneInfo("Europe/Berlin"), zoneinfo.ZoneInfo("America/New_York")

    def hours(span):
        # In UTC: Python subtracts two times of one zone as wall clock times, ignoring the change.
        return [
            (e.astimezone(UTC) - s.astimezone(UTC)).total_seconds() / 3600
            for s, e in zip(span.start_instants, span.end_instants)
        ]

    spring = Span.of_weeks(first=dt.date(2024, 3, 18), last=dt.date(2024, 4, 1), zone=berlin)
    autumn = Span.of_weeks(first=dt.date(2026, 10, 26), last=dt.date(2026, 10, 26), zone=new_york)
    quarters = Span.of_quarters(first=dt.date(2024, 2, 1), last=dt.date(2024, 11, 30), zone=new_york)

    assert hours(spring) == [168, 167, 168]  # 2024-W13 ends the night summer time starts (31 March)
    assert hours(autumn) == [169]  # 2026-W44 holds 1 November, when it ends
    assert [s.isoformat() for s in quarters.starts] == ["2024-01-01", "2024-04-01", "2024-07-01", "2024-10-01"]
    assert hours(quarters) == [91 * 24 - 1, 91 * 24, 92 * 24, 92 * 24 + 1]


def test_weeks_across_the_spring_change_in_berlin(settings, report_path):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "Europe/Berlin"
    report_path()
    # 2024-W13 in Berlin: Monday 25 March 00:00 CET (24 March 23:00 UTC) to Monday 1 April 00:00
    # CEST (31 March 22:00 UTC).
    record("2024-03-24T22:59:59Z", deployer="w12")  # Sunday 23:59:59 CET: 2024-W12
    record("2024-03-24T23:00:00Z", commits=[("a", 3600)])  # 2024-W13's first second
    record("2024-03-31T01:30:00Z", status="rolled_back", commits=[("b", 60)])  # 02:30 didn't happen: 03:30 CEST
    cause = record("2024-03-31T21:59:59Z", commits=[("c", 7200)])  # Sunday 23:59:59 CEST: still W13
    record("2024-03-31T22:00:00Z", deployer="w14")  # Monday 1 April 00:00 CEST: 2024-W14 (and April)
    record("2024-03-28T12:00:00Z", status="failed")  # not counted
    caused = incident("2024-03-31T21:00:00Z", restore=600)
    incident("2024-03-25T08:00:00Z", restore=60)
    incident("2024-03-31T22:00:00Z", restore=1)  # W14
    IncidentDeployFactory(incident=caused, deploy=cause, relation="cause")

    report = weekly_report(first=dt.date(2024, 3, 18), last=dt.date(2024, 4, 1))
    w12, w13, w14 = report.periods

    assert [(p.start, p.end) for p in report.periods] == [
        (dt.date(2024, 3, 18), dt.date(2024, 3, 25)),
        (dt.date(2024, 3, 25), dt.date(2024, 4, 1)),
        (dt.date(2024, 4, 1), dt.date(2024, 4, 8)),
    ]
    assert (w12.deploys, w13.deploys, w14.deploys) == (1, 3, 1)
    assert (w13.failed_deploys, w13.change_failure_rate) == (2, 2 / 3)  # rolled back; caused
    assert (w13.incidents, w13.deploy_related_incidents, w14.incidents) == (2, 1, 1)
    assert w13.time_to_restore_seconds.median == (60 + 600) / 2
    assert w13.lead_time_seconds.median == 3600  # 60 3600 7200
    assert w13.dora.deploy_frequency == "high"  # 3 in 7 days: at least weekly, not daily
    assert report.totals.deploys == 5 and report.totals.lead_time_seconds.median == 3600


def test_quarters_across_both_changes_in_new_york(settings, report_path):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "America/New_York"
    report_path()
    record("2024-04-01T03:59:59Z", commits=[("a", 100)])  # 31 March 23:59:59 EDT: Q1
    record("2024-04-01T04:00:00Z", commits=[("b", 300)])  # 1 April 00:00 EDT: Q2
    record("2024-03-10T07:30:00Z", status="rolled_back")  # 03:30 EDT, just after the spring change: Q1
    record("2024-11-03T06:30:00Z", commits=[("c", 500)])  # 01:30 EST, the second one: Q4
    record("2025-01-01T04:59:59Z")  # 31 December 23:59:59 EST: Q4
    record("2025-01-01T05:00:00Z")  # 2025-Q1
    incident("2024-11-03T05:30:00Z", restore=120)  # 01:30 EDT, the first one: Q4
    incident("2024-04-01T03:00:00Z", restore=60)  # Q1

    report = quarterly_report(first=dt.date(2024, 1, 1), last=dt.date(2025, 1, 1))

    assert [p.start.isoformat() for p in report.periods] == [
        "2024-01-01",
        "2024-04-01",
        "2024-07-01",
        "2024-10-01",
        "2025-01-01",
    ]
    assert [p.deploys for p in report.periods] == [2, 1, 0, 2, 1]
    assert [p.incidents for p in report.periods] == [1, 0, 0, 1, 0]
    q1, q2, _, q4, _ = report.periods
    assert (q1.change_failure_rate, q1.lead_time_seconds.median, q2.lead_time_seconds.median) == (0.5, 100, 300)
    assert (q4.lead_time_seconds.median, q4.time_to_restore_seconds.median) == (500, 120)
    # 2 deploys in Q1 (91 days): less than monthly, low.
    assert q1.dora.deploy_frequency == "low" and q1.days == 91


# --- Properties --------------------------------------------------------------------------------------

EDGE = dt.datetime(2024, 9, 28, tzinfo=UTC)
moments = st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=100)).map(lambda d: EDGE + d)
deploy_rows = st.lists(
    st.tuples(
        st.sampled_from(["web", "api"]),
        st.sampled_from(["production", "staging"]),
        st.sampled_from(["succeeded", "failed", "rolled_back"]),
        st.sampled_from(["ann", "bob", "cy"]),
        moments,
        st.integers(1, 5 * 86400),
    ),
    max_size=16,
)
incident_rows = st.lists(
    st.tuples(st.sampled_from(["web", "api"]), moments, st.one_of(st.none(), st.integers(0, 86400))), max_size=8
)
link_rows = st.lists(
    st.tuples(st.integers(0, 15), st.integers(0, 7), st.sampled_from(["cause", "remediation"])), max_size=6
)
# October to December 2024 holds both zones' autumn changes (Berlin 27 October, New York 3 November).
FIRST, LAST = dt.date(2024, 10, 1), dt.date(2024, 12, 31)


def load(deploy_data, incident_data, link_data):
    for model in (IncidentDeploy, DeployCommit, Incident, Deploy):
        model.objects.all().delete()
    services = {slug: Service.objects.get_or_create(slug=slug)[0] for slug in ("web", "api")}
    deploys = []
    for n, (service, environment, status, deployer, moment, lead) in enumerate(deploy_data):
        deploys.append(
            deploy_record(
                rules=None,
                data=DeployInput(
                    service=service,
                    environment=environment,
                    version=str(n),
                    deployer=deployer,
                    deployed_at=moment,
                    status=status,
                    commits=[CommitInput(sha=f"s{n}", authored_at=moment - dt.timedelta(seconds=lead))],
                ),
                notify=False,
            )[0]
        )
    incidents = []
    for service, started, restore in incident_data:
        row = Incident.objects.create(
            title="x",
            severity=3,
            started_at=started,
            detected_at=started,
            resolved_at=started + dt.timedelta(seconds=restore) if restore is not None else None,
        )
        row.services.set([services[service]])
        incidents.append(row)
    for d, i, relation in link_data:
        if d < len(deploys) and i < len(incidents):
            IncidentDeploy.objects.get_or_create(deploy=deploys[d], incident=incidents[i], relation=relation)


COUNTS = (
    "deploys",
    "failed_deploys",
    "rework_deploys",
    "incidents",
    "deploy_related_incidents",
    "unresolved_incidents",
)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(deploy_rows, incident_rows, link_rows, st.sampled_from([(), ("web",)]))
def test_weeks_add_up_to_the_range_and_match_a_plain_reading(zone, deploy_data, incident_data, link_data, services):
    load(deploy_data, incident_data, link_data)
    filters = Filters(services=services)
    local = zoneinfo.ZoneInfo(zone)

    weeks = weekly_report(first=FIRST, last=LAST, filters=filters)

    since, until = weeks.periods[0].start, weeks.periods[-1].end
    counted = [
        d
        for d in Deploy.objects.select_related("environment", "service")
        if d.environment.is_production
        and d.status in ("succeeded", "rolled_back")
        and (not services or d.service.slug in services)
        and since <= d.deployed_at.astimezone(local).date() < until
    ]
    assert sum(p.deploys for p in weeks.periods) == weeks.totals.deploys == len(counted)
    for counts in ("failed_deploys", "rework_deploys", "incidents", "deploy_related_incidents"):
        assert sum(getattr(p, counts) for p in weeks.periods) == getattr(weeks.totals, counts)
    for period in weeks.periods:
        mine = [d for d in counted if period.start <= d.deployed_at.astimezone(local).date() < period.end]
        assert period.deploys == len(mine), period.start
        assert period.deployers == len({d.deployer for d in mine})
        leads = [
            c.lead_seconds
            for c in DeployCommit.objects.filter(deploy__in=mine, lead_seconds__isnull=False)
            if c.first_delivered_at == c.deploy.deployed_at
        ]
        assert period.lead_time_seconds.median == (statistics.median(leads) if leads else None), period.start


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(deploy_rows, incident_rows, link_rows, st.sampled_from([(), ("web",)]))
def test_a_quarters_counts_are_its_months(zone, deploy_data, incident_data, link_data, services):
    load(deploy_data, incident_data, link_data)
    filters = Filters(services=services)

    quarters = quarterly_report(first=FIRST, last=LAST, filters=filters)
    months = monthly_report(first=FIRST, last=LAST, filters=filters)

    (q4,) = quarters.periods
    for counts in COUNTS:
        assert getattr(q4, counts) == sum(getattr(m, counts) for m in months.periods), counts
    # Whole-range figures (medians, distinct deployers) are the same range's either way.
    assert (q4.deployers, q4.lead_time_seconds, q4.time_to_restore_seconds) == (
        months.totals.deployers,
        months.totals.lead_time_seconds,
        months.totals.time_to_restore_seconds,
    )
