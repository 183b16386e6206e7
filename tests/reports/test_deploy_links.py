"""reports_deploylink (reports.rollup_sql): each incident-deploy link with its deploy's time, status,
environment and service and its incident's archiving, kept by triggers through every kind of write,
and the report's causing and remediating deploys and recovery time read off it equal to the scan's.

"Kept" is checked against the links, deploys and incidents themselves, read through the ORM, not
against the rebuild's SQL.
"""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import Deploy
from incidents import services as incident_services
from incidents.factories import IncidentFactory
from incidents.models import Incident, IncidentDeploy
from reports.selectors import monthly_report
from tests.support.reports import assert_report_equals_scan as report_equals_scan

pytestmark = pytest.mark.postgres_only(reason="reports_deploylink exists on PostgreSQL only (CI's second pass)")

UTC = dt.UTC
CAUSE, REMEDIATION = IncidentDeploy.Relation.CAUSE, IncidentDeploy.Relation.REMEDIATION


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, tzinfo=UTC)


def expected() -> dict:
    """What reports_deploylink should hold, from the ORM."""
    return {
        link.id: (
            link.relation,
            link.deploy_id,
            link.incident_id,
            link.deploy.deployed_at,
            link.deploy.status,
            link.deploy.environment_id,
            link.deploy.service_id,
            link.incident.archived_at is not None,
        )
        for link in IncidentDeploy.objects.select_related("deploy", "incident")
    }


def kept() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT link_id, relation, deploy_id, incident_id, deployed_at, status, environment_id, service_id, "
            "archived FROM reports_deploylink"
        )
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def assert_kept():
    assert kept() == expected()


def assert_report_equals_scan():
    """The report on the rollup path (kept links) equals the scan's, field for field, both rules."""
    report_equals_scan(dt.date(2024, 2, 1), dt.date(2024, 4, 30))


@pytest.fixture
def world(db):
    production = EnvironmentFactory(slug="production", is_production=True)
    eu = EnvironmentFactory(slug="production-eu", is_production=True)
    staging = EnvironmentFactory(slug="staging", is_production=False)
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    deploys = [
        DeployFactory(service=web, environment=production, deployed_at=at(1)),
        DeployFactory(service=web, environment=production, deployed_at=at(5), status=Deploy.Status.ROLLED_BACK),
        DeployFactory(service=api, environment=eu, deployed_at=at(9)),
        DeployFactory(service=web, environment=staging, deployed_at=at(12)),
        DeployFactory(service=web, environment=production, deployed_at=at(6)),
    ]
    incidents = [
        IncidentFactory(started_at=at(1, 14), services=[web]),
        IncidentFactory(started_at=at(9, 13), services=[api]),
        IncidentFactory(started_at=at(12, 13), services=[web]),  # no link: inferred from deploys[3]? staging: no
    ]
    incident_services.incident_link_deploy(incident=incidents[0], deploy=deploys[0], relation=CAUSE)
    incident_services.incident_link_deploy(incident=incidents[0], deploy=deploys[4], relation=REMEDIATION)
    incident_services.incident_link_deploy(incident=incidents[1], deploy=deploys[2], relation=CAUSE)
    return {"deploys": deploys, "incidents": incidents, "web": web, "api": api, "eu": eu, "production": production}


def test_links_written_through_the_services_are_kept(world):
    assert len(kept()) == 3
    assert_kept()
    assert_report_equals_scan()


def test_unlinking_and_changing_a_relation(world):
    incident, deploy = world["incidents"][0], world["deploys"][0]
    incident_services.incident_unlink_deploy(incident=incident, deploy=deploy, relation=CAUSE)
    assert_kept()
    IncidentDeploy.objects.filter(relation=REMEDIATION).update(relation=CAUSE)
    assert_kept()
    assert_report_equals_scan()


def test_a_linked_deploy_moved_across_a_period_or_edited_follows(world):
    caused = world["deploys"][0]
    # Saved through the model (every column), then through queryset.update (some).
    caused.deployed_at = dt.datetime(2024, 2, 28, 23, tzinfo=UTC)
    caused.save()
    assert_kept()
    Deploy.objects.filter(pk=world["deploys"][2].pk).update(
        environment=world["production"], service=world["web"], status=Deploy.Status.ROLLED_BACK
    )
    assert_kept()
    report = monthly_report(first=dt.date(2024, 2, 1), last=dt.date(2024, 3, 1), include_partial=True)
    # February now has the causing deploy; March's only other cause was rolled back (a failure already).
    assert [p.failed_deploys for p in report.periods] == [1, 2]
    assert_report_equals_scan()


def test_archiving_an_incident_drops_its_links_from_the_counts_and_restoring_brings_them_back(world):
    incident = world["incidents"][1]
    before = monthly_report(first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1), include_partial=True).totals

    incident_services.incident_archive(incident=incident, reason="filed twice")
    assert_kept()
    archived = monthly_report(first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1), include_partial=True).totals
    assert archived.failed_deploys == before.failed_deploys - 1
    assert_report_equals_scan()

    incident_services.incident_unarchive(incident=Incident.objects.get(pk=incident.pk))
    assert_kept()
    assert_report_equals_scan()


def test_bulk_and_raw_writes_in_either_order_under_deferred_foreign_keys(world):
    IncidentDeploy.objects.bulk_create(
        [IncidentDeploy(incident=world["incidents"][2], deploy=d, relation=CAUSE) for d in world["deploys"][:2]]
    )
    assert_kept()
    with transaction.atomic(), connection.cursor() as cursor:
        # The link first, its deploy and incident after, in one transaction (as a restore may).
        cursor.execute(
            "INSERT INTO incidents_incidentdeploy (id, incident_id, deploy_id, relation, note, created_at) "
            "VALUES (900001, 900002, 900003, 'cause', '', now())"
        )
        deploy = Deploy.objects.filter(pk=world["deploys"][0].pk).values()[0]
        deploy_columns = [c for c in deploy if c != "id"]
        deploy_values = {**deploy, "deployed_at": at(20), "external_id": "", "delivery_key": "", "version": "9"}
        cursor.execute(
            f"INSERT INTO deploys_deploy (id, {', '.join(deploy_columns)}) "
            f"VALUES (900003, {', '.join(['%s'] * len(deploy_columns))})",
            [deploy_values[c] for c in deploy_columns],
        )
        template = Incident.objects.filter(pk=world["incidents"][2].pk).values()[0]
        columns = [c for c in template if c != "id"]
        values = {**template, "started_at": at(20, 13), "filing_key": None, "external_id": "raw"}
        cursor.execute(
            f"INSERT INTO incidents_incident (id, {', '.join(columns)}) VALUES (900002, {', '.join(['%s'] * len(columns))})",
            [values[c] for c in columns],
        )
    assert_kept()
    assert 900001 in kept()
    assert_report_equals_scan()


def test_truncate_empties_it(world):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's transaction has deferred checks pending
        cursor.execute("TRUNCATE incidents_incidentdeploy")
    assert kept() == {} == expected()


def test_the_check_finds_drift_and_the_rebuild_mends_it(world):
    out = io.StringIO()
    call_command("rebuild_report_rollup", "--check", stdout=out)
    assert "match" in out.getvalue()

    with transaction.atomic(), connection.cursor() as cursor:
        # A write with the triggers off, as `pg_restore --disable-triggers` would.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE incidents_incident SET archived_at = now()")
    assert kept() != expected()
    with pytest.raises(CommandError, match=r"reports_deploylink\) differ from the links in 3 row"):
        call_command("rebuild_report_rollup", "--check")

    call_command("rebuild_report_rollup", stdout=io.StringIO())
    assert_kept()
    call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
