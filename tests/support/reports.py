"""Data shared by the report tests."""

import bisect
import datetime as dt
import zoneinfo

from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployCommitFactory, DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from reports import selectors
from reports.selectors import Filters, monthly_report, weekly_report
from tests.support.times import at


def build_march() -> dict:
    """Small data with hand-worked numbers, in UTC. web (team Storefront) and api (team Platform).

    March 2024, web: d1 alice, d2 bob (rolled back), d3 alice (caused i1 and i2); d4 carol failed
    and a staging deploy don't count. api: one deploy by dave. April: d5 bob remediates i2.
    """
    web = ServiceFactory(slug="web", dev_team="Storefront")
    api = ServiceFactory(slug="api", dev_team="Platform")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")

    def deploy(when, deployer, status="succeeded", service=web, environment=production, version=None):
        return DeployFactory(
            service=service,
            environment=environment,
            deployed_at=at(when),
            deployer=deployer,
            status=status,
            **({"version": version} if version else {}),
        )

    d1 = deploy("2024-03-05T10:00:00Z", "alice", version="301")
    d2 = deploy("2024-03-12T10:00:00Z", "bob", status="rolled_back", version="302")
    d3 = deploy("2024-03-20T10:00:00Z", "alice", version="303")
    d4 = deploy("2024-03-25T10:00:00Z", "carol", status="failed", version="304")
    staging_deploy = deploy("2024-03-26T10:00:00Z", "carol", environment=staging, version="305")
    api_deploy = deploy("2024-03-27T10:00:00Z", "dave", service=api, version="900")
    d5 = deploy("2024-04-02T10:00:00Z", "bob", version="306")
    DeployCommitFactory(deploy=d1, sha="a" * 40, authored_at=at("2024-03-05T08:00:00Z"))  # 7200 s
    DeployCommitFactory(deploy=d2, sha="b" * 40, authored_at=at("2024-03-11T10:00:00Z"))  # 86400 s

    def incident(started, *, detect, acknowledge=None, repair=None, severity=3, service=web):
        started = at(started)
        detected = started + dt.timedelta(seconds=detect)
        acknowledged = detected + dt.timedelta(seconds=acknowledge) if acknowledge is not None else None
        resolved = detected + dt.timedelta(seconds=repair) if repair is not None else None
        return IncidentFactory(
            started_at=started,
            detected_at=detected,
            acknowledged_at=acknowledged,
            resolved_at=resolved,
            severity=severity,
            services=[service],
        )

    # Seconds: detect (MTTD), acknowledge (MTTA, from detection), repair (MTTR, from detection).
    i1 = incident("2024-03-20T10:30:00Z", detect=120, acknowledge=300, repair=600, severity=2)  # 120, 300, 600, 720
    i2 = incident("2024-03-21T00:00:00Z", detect=60, acknowledge=90, repair=1800, severity=1)  # 60, 90, 1800, 1860
    i3 = incident("2024-03-28T00:00:00Z", detect=30)  # unresolved, never acknowledged
    # Acknowledged the moment it was detected: a 0, counted as MTTD counts one.
    i4 = incident("2024-03-29T00:00:00Z", detect=10, acknowledge=0, repair=10, service=api)
    IncidentDeployFactory(incident=i1, deploy=d3, relation="cause")
    IncidentDeployFactory(incident=i2, deploy=d3, relation="cause")  # d3 caused two: counts once
    IncidentDeployFactory(incident=i2, deploy=d5, relation="remediation")
    return dict(
        web=web,
        api=api,
        d1=d1,
        d2=d2,
        d3=d3,
        d4=d4,
        d5=d5,
        staging_deploy=staging_deploy,
        api_deploy=api_deploy,
        i1=i1,
        i2=i2,
        i3=i3,
        i4=i4,
    )


def assert_report_equals_scan(first: dt.date, last: dt.date, filters_list=None) -> None:
    """The monthly and weekly reports on the rollup path (PostgreSQL's kept rows) equal the scan's,
    field for field, under both attribution rules and a service filter unless `filters_list` says."""
    if filters_list is None:
        filters_list = (Filters(), Filters(attribution="inferred"), Filters(services=("web",)))
    for filters in filters_list:
        for report in (monthly_report, weekly_report):
            both_ways(report, first=first, last=last, filters=filters, include_partial=True)


# The rollups' keys recounted in Python (tests/reports/test_rollup.py, test_incident_rollup.py).
# The bounds of reports_lead_bucket, written out again: width_bucket counts the bounds ≤ a value.
LEAD_BOUNDS = [2 ** (k / 16) for k in range(16 * 36 + 1)]


def lead_bucket(seconds: float) -> int:
    return bisect.bisect_right(LEAD_BOUNDS, seconds)


# reports_incident_bucket's: 2^(k/8) seconds.
INCIDENT_BOUNDS = [2 ** (k / 8) for k in range(8 * 36 + 1)]


def incident_bucket(seconds: float) -> int:
    return bisect.bisect_right(INCIDENT_BOUNDS, seconds)


def month(moment: dt.datetime, zone: str) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(zone)).date().replace(day=1)


def week(moment: dt.datetime, zone: str) -> dt.date:
    """The Monday starting `moment`'s ISO week in `zone`."""
    local = moment.astimezone(zoneinfo.ZoneInfo(zone)).date()
    return local - dt.timedelta(days=local.weekday())


def both_ways(report, *, tables: tuple[str, ...] = (), reads: bool = True, **kwargs):
    """`report(**kwargs)` read as it is and read by scanning (no rollup zone), checked equal; the
    first. With `tables`, also that the first read them (or, `reads` False, didn't) and the scan
    didn't."""

    def reads_tables(queries) -> bool:
        return any(table in q["sql"] for q in queries for table in tables)

    with CaptureQueriesContext(connection) as ctx:
        fast = report(**kwargs)
    if tables:
        assert reads_tables(ctx.captured_queries) == reads
    real, selectors.rollup_zone = selectors.rollup_zone, lambda: None
    try:
        with CaptureQueriesContext(connection) as ctx:
            slow = report(**kwargs)
        assert not reads_tables(ctx.captured_queries)
    finally:
        selectors.rollup_zone = real
    assert fast == slow
    return fast


def logged() -> set:
    """The (service, environment) pairs in the change log (reports_rollbackchange): those whose kept
    rollback times and recoveries a report doesn't trust until the refresh."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT service_id, environment_id FROM reports_rollbackchange")
        return set(cursor.fetchall())


def rollback_time(deploy) -> dt.datetime | None:
    """When a rolled-back deploy was rolled back, from the ORM: the next deploy of its service and
    environment that went live (None: none yet)."""
    following = (
        type(deploy)
        .objects.filter(
            service_id=deploy.service_id,
            environment_id=deploy.environment_id,
            deployed_at__gt=deploy.deployed_at,
            status__in=type(deploy).COUNTED_STATUSES,
        )
        .order_by("deployed_at")
        .first()
    )
    return following and following.deployed_at
