"""Property: on random data, the selectors agree with a plain-Python reading of the glossary."""

import datetime as dt
import statistics
import zoneinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploys.models import Deploy, DeployCommit, Environment, Service
from deploys.services import CommitInput, DeployInput, deploy_record
from incidents.models import Incident, IncidentDeploy
from reports.selectors import Filters, monthly_report, rollup_zone

pytestmark = pytest.mark.django_db

ZONE = "Europe/Berlin"
# Three months around the autumn DST change, and a little before and after them.
FIRST, LAST = dt.date(2024, 9, 1), dt.date(2024, 11, 1)
EDGE_START = dt.datetime(2024, 8, 31, 20, tzinfo=dt.UTC)
SPAN = dt.timedelta(days=95)

moments = st.timedeltas(min_value=dt.timedelta(0), max_value=SPAN).map(lambda d: EDGE_START + d)
durations = st.one_of(st.none(), st.integers(min_value=0, max_value=3 * 86400))

deploy_rows = st.lists(
    st.tuples(
        st.sampled_from(["web", "api"]),
        st.sampled_from(["production", "staging", "eu-production"]),
        st.sampled_from(["succeeded", "failed", "rolled_back"]),
        st.sampled_from(["ann", "bob", "cy", "dee"]),
        moments,
        st.lists(
            st.tuples(st.sampled_from(["s1", "s2", "s3", "s4", "s5"]), st.integers(-3600, 5 * 86400)),
            max_size=3,
            unique_by=lambda c: c[0],
        ),
    ),
    max_size=14,
)
incident_rows = st.lists(
    # service, severity, started, then seconds to detection, to acknowledgement, to resolution.
    st.tuples(st.sampled_from(["web", "api"]), st.integers(1, 4), moments, durations, durations, durations),
    max_size=8,
)
links = st.lists(
    st.tuples(st.integers(0, 13), st.integers(0, 7), st.sampled_from(["cause", "remediation"])), max_size=8
)


def month_of(moment: dt.datetime, zone) -> dt.date:
    return moment.astimezone(zone).date().replace(day=1)


def expected(deploys, incidents, link_rows, filters_services):
    """The glossary, read literally, over the stored rows."""
    zone = zoneinfo.ZoneInfo(ZONE)
    months = [dt.date(2024, 9, 1), dt.date(2024, 10, 1), dt.date(2024, 11, 1)]
    caused = {d for d, _, relation in link_rows if relation == "cause"}
    remediating = {d for d, _, relation in link_rows if relation == "remediation"}
    related_incidents = {i for _, i, relation in link_rows if relation == "cause"}

    def live_in_production(d):
        return d.environment.is_production and d.status in ("succeeded", "rolled_back")

    def counted(d):
        return live_in_production(d) and (not filters_services or d.service.slug in filters_services)

    everything_counted = [d for d in deploys if counted(d)]
    # A commit reaches production once, whichever service's deploy took it there first.
    first_delivery = {}
    for d in sorted((d for d in deploys if live_in_production(d)), key=lambda d: (d.deployed_at, d.pk)):
        for commit in d.commit_list:
            first_delivery.setdefault(commit.sha, (d, commit))
    first_delivery = {sha: pair for sha, pair in first_delivery.items() if counted(pair[0])}

    result = {}
    for month in months + [None]:

        def in_period(moment, month=month):
            return moment is not None and (
                month is None and month_of(moment, zone) in months or month_of(moment, zone) == month
            )

        ds = [d for d in everything_counted if in_period(d.deployed_at)]
        incs = [
            i
            for i in incidents
            if in_period(i.started_at)
            and (not filters_services or {s.slug for s in i.service_list} & set(filters_services))
        ]
        n = len(ds)
        failed = sum(1 for d in ds if d.pk in caused or d.status == "rolled_back")
        rework = sum(1 for d in ds if d.pk in remediating)
        related = sum(1 for i in incs if i.pk in related_incidents)
        mttd = [(i.detected_at - i.started_at).total_seconds() for i in incs if i.detected_at]
        mttr = [(i.resolved_at - i.detected_at).total_seconds() for i in incs if i.detected_at and i.resolved_at]
        ttr = [(i.resolved_at - i.started_at).total_seconds() for i in incs if i.resolved_at]
        mtta = [
            (i.acknowledged_at - i.detected_at).total_seconds() for i in incs if i.detected_at and i.acknowledged_at
        ]
        lead = [
            (d.deployed_at - c.authored_at).total_seconds()
            for d, c in first_delivery.values()
            if in_period(d.deployed_at) and (d.deployed_at - c.authored_at).total_seconds() > 0
        ]
        result[month] = {
            "deploys": n,
            "deployers": len({d.deployer for d in ds}),
            "incidents": len(incs),
            "deploy_related_incidents": related,
            "unresolved_incidents": sum(1 for i in incs if i.resolved_at is None),
            "incident_rate": related / n if n else None,
            "change_failure_rate": failed / n if n else None,
            "rework_rate": rework / n if n else None,
            "mttd": (statistics.fmean(mttd), statistics.median(mttd)) if mttd else (None, None),
            "mttr": (statistics.fmean(mttr), statistics.median(mttr)) if mttr else (None, None),
            "ttr": (statistics.fmean(ttr), statistics.median(ttr)) if ttr else (None, None),
            "mtta": (statistics.fmean(mtta), statistics.median(mtta)) if mtta else (None, None),
            "lead": statistics.median(lead) if lead else None,
        }
    return result


def actual(figures):
    return {
        "deploys": figures.deploys,
        "deployers": figures.deployers,
        "incidents": figures.incidents,
        "deploy_related_incidents": figures.deploy_related_incidents,
        "unresolved_incidents": figures.unresolved_incidents,
        "incident_rate": figures.incident_rate,
        "change_failure_rate": figures.change_failure_rate,
        "rework_rate": figures.rework_rate,
        "mttd": (figures.mttd_seconds.mean, figures.mttd_seconds.median),
        "mttr": (figures.mttr_seconds.mean, figures.mttr_seconds.median),
        "ttr": (figures.time_to_restore_seconds.mean, figures.time_to_restore_seconds.median),
        "mtta": (figures.mtta_seconds.mean, figures.mtta_seconds.median),
        "lead": figures.lead_time_seconds.median,
    }


def close(a, b):
    if isinstance(a, tuple):
        return all(close(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
# The range's lead-time median has two ways on PostgreSQL (a sort, or the middle values read off an
# index, above SORTED_MEDIAN_MAX_ROWS): a threshold of 0 makes small data take the second.
@given(deploy_rows, incident_rows, links, st.sampled_from([(), ("web",)]), st.sampled_from([0, 500_000]))
def test_selectors_agree_with_the_glossary(
    settings_fixture, monkeypatch, deploy_data, incident_data, link_data, services, sorted_median_max_rows
):
    monkeypatch.setattr("reports.selectors.SORTED_MEDIAN_MAX_ROWS", sorted_median_max_rows)
    for model in (IncidentDeploy, DeployCommit, Incident, Deploy):
        model.objects.all().delete()
    web, _ = Service.objects.get_or_create(slug="web")
    api, _ = Service.objects.get_or_create(slug="api")
    by_slug = {"web": web, "api": api}
    Environment.objects.get_or_create(slug="eu-production", defaults={"is_production": True})

    deploys = []
    for index, (service, environment, status, deployer, at, commits) in enumerate(deploy_data):
        # Through the ingest service, which keeps each sha's first production delivery.
        deploy, _ = deploy_record(
            rules=None,  # short made-up shas ("a1"): this tests the report, not the deploy contract
            data=DeployInput(
                service=service,
                environment=environment,
                status=status,
                deployer=deployer,
                deployed_at=at,
                version=str(index),
                commits=[CommitInput(sha=sha, authored_at=at - dt.timedelta(seconds=ahead)) for sha, ahead in commits],
            ),
            notify=False,
        )
        deploy.commit_list = list(deploy.commits.all())
        deploys.append(deploy)
    incidents = []
    for service, severity, started, detect, acknowledge, repair in incident_data:
        detected = started + dt.timedelta(seconds=detect) if detect is not None else None
        # Acknowledged with no detection time too (rows from before detection was required): MTTA
        # needs both times, so such an incident is left out of it.
        acknowledged = (detected or started) + dt.timedelta(seconds=acknowledge) if acknowledge is not None else None
        resolved = (detected or started) + dt.timedelta(seconds=repair) if repair is not None else None
        incident = Incident.objects.create(
            title="x",
            severity=severity,
            started_at=started,
            detected_at=detected,
            acknowledged_at=acknowledged,
            resolved_at=resolved,
        )
        incident.services.set([by_slug[service]])
        incident.service_list = [by_slug[service]]
        incidents.append(incident)
    link_rows = set()
    for d, i, relation in link_data:
        if d < len(deploys) and i < len(incidents):
            IncidentDeploy.objects.get_or_create(deploy=deploys[d], incident=incidents[i], relation=relation)
            link_rows.add((deploys[d].pk, incidents[i].pk, relation))

    report = monthly_report(first=FIRST, last=LAST, filters=Filters(services=services))
    want = expected(deploys, incidents, link_rows, services)

    for period in report.periods:
        got = actual(period)
        assert all(close(got[k], want[period.start][k]) for k in got), (period.start, got, want[period.start])
    got = actual(report.totals)
    assert all(close(got[k], want[None][k]) for k in got), ("totals", got, want[None])


@pytest.fixture
def settings_fixture(settings, report_path):
    settings.OPSLOG_REPORT_TIME_ZONE = ZONE
    settings.TIME_ZONE = ZONE
    # On PostgreSQL, once through the rollups (kept by their triggers through every example's
    # deletes and inserts) and once through the scan.
    path = report_path()
    assert (rollup_zone() == ZONE) == (path == "rollup")
    return settings
