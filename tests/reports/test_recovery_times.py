"""reports_recoverytime (reports.rollup_sql, "Recovery times"): each failed deploy's recovery under
the linked rule, recomputed by the refresh for the services and environments that writes to the
deploys, links, incidents and environments logged in reports_rollbackchange, and trusted by the
report only where nothing was logged since.

"Kept" is checked against the deploys, links and incidents themselves, read through the ORM, not
against the refresh's SQL; the report against the scan, which computes every recovery.
"""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import Deploy, Environment
from incidents.factories import IncidentFactory
from incidents.models import Incident, IncidentDeploy
from incidents.services import incident_archive, incident_link_deploy, incident_unlink_deploy
from reports import rollup_sql, services
from reports.selectors import Filters, monthly_report, quarterly_report, weekly_report, yearly_report
from tests.support.concurrency import other_connection
from tests.support.reports import assert_report_equals_scan, both_ways, logged, rollback_time

pytestmark = pytest.mark.postgres_only(reason="reports_recoverytime exists on PostgreSQL only (CI's second pass)")

UTC = dt.UTC
ROLLED_BACK = Deploy.Status.ROLLED_BACK
CAUSE, REMEDIATION = IncidentDeploy.Relation.CAUSE, IncidentDeploy.Relation.REMEDIATION
FIRST, LAST = dt.date(2024, 3, 1), dt.date(2024, 3, 31)
HOUR = 3600.0
BASE_MEAN = (3 + 2 + 0.5) * HOUR / 3  # build_world's recoveries


def at(day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def expected() -> dict:
    """Each failed deploy's (service, environment, time, recovered at, seconds), from the ORM: went
    live, and rolled back or linked as the cause of an incident not archived; recovered at the
    first of its rollback deploy, its earliest later remediating deploy to production, and the last
    resolution of its incidents once all are resolved."""
    answer = {}
    for deploy in Deploy.objects.filter(status__in=Deploy.COUNTED_STATUSES):
        caused = Incident.objects.filter(
            deploy_links__deploy=deploy, deploy_links__relation=CAUSE, archived_at__isnull=True
        )
        if deploy.status != ROLLED_BACK and not caused.exists():
            continue
        ends = []
        if deploy.status == ROLLED_BACK:
            ends.append(rollback_time(deploy))
        fix = (
            Deploy.objects.filter(
                incident_links__relation=REMEDIATION,
                incident_links__incident__in=caused,
                deployed_at__gt=deploy.deployed_at,
                status__in=Deploy.COUNTED_STATUSES,
                environment__is_production=True,
            )
            .order_by("deployed_at")
            .first()
        )
        ends.append(fix and fix.deployed_at)
        if caused.exists() and not caused.filter(resolved_at__isnull=True).exists():
            ends.append(max(incident.resolved_at for incident in caused))
        recovered = min((end for end in ends if end), default=None)
        seconds = max((recovered - deploy.deployed_at).total_seconds(), 0.0) if recovered else None
        answer[deploy.pk] = (deploy.service_id, deploy.environment_id, deploy.deployed_at, recovered, seconds)
    return answer


def kept() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT deploy_id, service_id, environment_id, deployed_at, recovered_at, seconds FROM reports_recoverytime"
        )
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def set_kept(deploy: Deploy, seconds: float | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE reports_recoverytime SET seconds = %s, recovered_at = deployed_at + %s * interval '1 second'
               WHERE deploy_id = %s""",
            [seconds, seconds, deploy.pk],
        )
        assert cursor.rowcount == 1


def march() -> tuple[float | None, float | None, int]:
    """March's failed deployment recovery time: (mean, median, unrecovered failed deploys)."""
    totals = monthly_report(first=FIRST, last=FIRST, include_partial=True).totals
    recovery = totals.failed_deployment_recovery_seconds
    return recovery.mean, recovery.median, totals.unrecovered_failed_deploys


def refreshed() -> int:
    pairs = services.refresh_rollback_times()
    assert logged() == set()
    assert kept() == expected()
    return pairs


def build_world() -> dict:
    """web and api in production, web in staging. web's deploy on the 5th rolled back 3 h later;
    api's on the 8th caused an incident that web's fix on the 8th remediated 2 h later (resolved
    4 h after the deploy); api's on the 12th caused one still open; api's on the 15th one resolved
    30 min later. All refreshed (nothing logged)."""
    production = EnvironmentFactory(slug="production", is_production=True)
    staging = EnvironmentFactory(slug="staging", is_production=False)
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")

    def deploy(service, when, environment=production, status=Deploy.Status.SUCCEEDED):
        return DeployFactory(service=service, environment=environment, deployed_at=when, status=status)

    world = {
        "production": production,
        "staging": staging,
        "web": web,
        "api": api,
        "web_failed": deploy(web, at(5), status=ROLLED_BACK),
        "web_rollback": deploy(web, at(5, 15)),  # 3 h
        "web_staging_failed": deploy(web, at(6), environment=staging, status=ROLLED_BACK),  # not counted
        "web_staging_rollback": deploy(web, at(6, 13), environment=staging),
        "api_cause": deploy(api, at(8)),
        "web_fix": deploy(web, at(8, 14)),  # 2 h after api_cause
        "api_open_cause": deploy(api, at(12)),
        "api_brief_cause": deploy(api, at(15)),
    }
    world["outage"] = IncidentFactory(started_at=at(8, 12, 30), detected_at=at(8, 12, 40), resolved_at=at(8, 16))
    world["open"] = IncidentFactory(started_at=at(12, 13), detected_at=at(12, 13, 5))
    world["brief"] = IncidentFactory(started_at=at(15, 12, 10), detected_at=at(15, 12, 15), resolved_at=at(15, 12, 30))
    IncidentDeploy.objects.create(incident=world["outage"], deploy=world["api_cause"], relation=CAUSE)
    IncidentDeploy.objects.create(incident=world["outage"], deploy=world["web_fix"], relation=REMEDIATION)
    IncidentDeploy.objects.create(incident=world["open"], deploy=world["api_open_cause"], relation=CAUSE)
    IncidentDeploy.objects.create(incident=world["brief"], deploy=world["api_brief_cause"], relation=CAUSE)
    refreshed()
    return world


@pytest.fixture
def world(db):
    return build_world()


def pair(world: dict, service: str, environment: str = "production") -> tuple[int, int]:
    return world[service].pk, world[environment].pk


def test_the_migration_keeps_the_failed_deploys_already_there(world):
    """0010's first fill, run again on data written before it (as on a database being upgraded)."""
    with connection.cursor() as cursor:
        cursor.execute(rollup_sql.RECOVERY_DROP)
        cursor.execute("DELETE FROM reports_rollbackchange")
        cursor.execute(rollup_sql.RECOVERY_CREATE)
    assert kept() == expected()
    assert set(kept()) == {
        world[name].pk
        for name in ("web_failed", "web_staging_failed", "api_cause", "api_open_cause", "api_brief_cause")
    }
    assert logged() == set()


def test_a_report_reads_the_kept_recoveries_of_pairs_not_changed_since(world):
    # 3 h (rolled back), 2 h (remediated before the resolution), 30 min (resolved); the open one unrecovered.
    assert march() == (BASE_MEAN, 2 * HOUR, 1)
    assert_report_equals_scan(FIRST, LAST)
    # The kept seconds are what the report reads: a wrong one (written by hand, never by Opslog) shows.
    set_kept(world["api_cause"], 5 * HOUR)
    assert march() == ((3 + 5 + 0.5) * HOUR / 3, 3 * HOUR, 1)
    with pytest.raises(CommandError, match=r"recovery times \(reports_recoverytime\) differ .* in 1 row"):
        call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rebuild_report_rollup", stdout=out)
    assert "5 recovery times" in out.getvalue()
    assert kept() == expected()
    call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    assert march() == (BASE_MEAN, 2 * HOUR, 1)


def test_a_logged_pair_is_computed_until_the_refresh(world):
    set_kept(world["api_cause"], 5 * HOUR)
    # Any write to api's production deploys logs the pair, and the report stops trusting its recoveries.
    DeployFactory(service=world["api"], environment=world["production"], deployed_at=at(25))
    assert logged() == {pair(world, "api")}
    assert march() == (BASE_MEAN, 2 * HOUR, 1)
    assert_report_equals_scan(FIRST, LAST)
    # web's are still read: a wrong one there shows (and proves only api's pair is computed).
    set_kept(world["web_failed"], 6 * HOUR)
    assert march() == ((6 + 2 + 0.5) * HOUR / 3, 2 * HOUR, 1)
    set_kept(world["web_failed"], 3 * HOUR)
    assert refreshed() == 1
    assert march() == (BASE_MEAN, 2 * HOUR, 1)


def _resolve_open(world):
    Incident.objects.filter(pk=world["open"].pk).update(resolved_at=at(12, 18))


def _reopen(world):
    Incident.objects.filter(pk=world["brief"].pk).update(resolved_at=None)


def _archive(world):
    incident_archive(incident=world["outage"], reason="filed twice")


def _delete_incident(world):
    world["outage"].delete()


def _link_a_cause(world):
    incident = IncidentFactory(started_at=at(5, 13), resolved_at=at(5, 14))
    incident_link_deploy(incident=incident, deploy=world["web_failed"], relation=CAUSE)


def _unlink_the_cause(world):
    assert incident_unlink_deploy(incident=world["outage"], deploy=world["api_cause"], relation=CAUSE)


def _unlink_the_fix(world):
    assert incident_unlink_deploy(incident=world["outage"], deploy=world["web_fix"], relation=REMEDIATION)


def _link_a_fix(world):
    fix = DeployFactory(service=world["web"], environment=world["production"], deployed_at=at(12, 14))
    incident_link_deploy(incident=world["open"], deploy=fix, relation=REMEDIATION)


def _fix_becomes_a_cause(world):
    IncidentDeploy.objects.filter(deploy=world["web_fix"]).update(relation=CAUSE)


def _fix_moved_later(world):
    Deploy.objects.filter(pk=world["web_fix"].pk).update(deployed_at=at(8, 17))


def _fix_failed(world):
    Deploy.objects.filter(pk=world["web_fix"].pk).update(status=Deploy.Status.FAILED)


def _fix_moved_to_staging(world):
    Deploy.objects.filter(pk=world["web_fix"].pk).update(environment=world["staging"])


def _production_no_more(world):
    Environment.objects.filter(pk=world["production"].pk).update(is_production=False)


def _raw_sql(world):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE incidents_incident SET resolved_at = resolved_at - interval '3 hours'")


# (write, the pairs it must log at least)
WRITES = {
    "an open incident resolved": (_resolve_open, {("api", "production")}),
    "a resolved incident reopened": (_reopen, {("api", "production")}),
    "an incident archived": (_archive, {("api", "production")}),
    "an incident deleted": (_delete_incident, {("api", "production")}),
    "a cause linked": (_link_a_cause, {("web", "production")}),
    "a cause unlinked": (_unlink_the_cause, {("api", "production")}),
    "a remediation unlinked": (_unlink_the_fix, {("api", "production")}),
    "a remediation linked": (_link_a_fix, {("api", "production")}),
    "a remediation link made a cause": (_fix_becomes_a_cause, {("api", "production"), ("web", "production")}),
    "the remediating deploy moved later": (_fix_moved_later, {("api", "production")}),
    "the remediating deploy failed after all": (_fix_failed, {("api", "production")}),
    "the remediating deploy moved to staging": (_fix_moved_to_staging, {("api", "production")}),
    "production no longer production": (_production_no_more, {("api", "production"), ("web", "staging")}),
    "raw SQL": (_raw_sql, {("api", "production")}),
}


@pytest.mark.parametrize("change", list(WRITES))
def test_every_kind_of_write_is_exact_before_and_after_the_refresh(world, change):
    write, pairs = WRITES[change]
    before = march()
    write(world)
    assert {pair(world, *key) for key in pairs} <= logged()
    assert_report_equals_scan(FIRST, LAST)
    refreshed()
    assert_report_equals_scan(FIRST, LAST)
    if change != "production no longer production":  # then nothing is counted at all
        assert march() != before, "the write changed the figures, so the test saw it"


def test_edits_that_cannot_change_a_recovery_log_nothing(world):
    Incident.objects.filter(pk=world["outage"].pk).update(title="Checkout down", severity=1, summary="x")
    IncidentDeploy.objects.filter(deploy=world["web_fix"]).update(note="the fix")
    Deploy.objects.filter(pk=world["web_fix"].pk).update(deployer="someone else", version="v9")
    Environment.objects.filter(pk=world["staging"].pk).update(slug="stage")
    assert logged() == set()


def test_emptying_the_links_recomputes_every_recovery(world):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending foreign-key checks
        cursor.execute("TRUNCATE incidents_incidentdeploy")
    assert kept() == expected()
    assert set(kept()) == {world["web_failed"].pk, world["web_staging_failed"].pk}
    assert_report_equals_scan(FIRST, LAST)


def test_emptying_the_deploys_empties_the_kept_recoveries(world):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE deploys_deploy CASCADE")
    assert kept() == {} and logged() == set()


def test_the_inferred_rule_and_filters_agree_with_the_scan(world):
    set_kept(world["api_cause"], 5 * HOUR)  # wrong on purpose: the inferred rule must not read it
    inferred = monthly_report(first=FIRST, last=FIRST, include_partial=True, filters=Filters(attribution="inferred"))
    assert inferred.totals.failed_deployment_recovery_seconds.median == 2 * HOUR
    set_kept(world["api_cause"], 2 * HOUR)
    assert_report_equals_scan(
        FIRST,
        LAST,
        filters_list=(
            Filters(services=("api",)),
            Filters(teams=(world["api"].dev_team,)),
            Filters(environments=("production",)),
            Filters(severities=(1,)),
            Filters(attribution="inferred", attribution_window=dt.timedelta(hours=1)),
        ),
    )


def rollup_drift() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(rollup_sql.RECOVERY_ROLLUP_CHECK)
        return cursor.fetchone()


@pytest.mark.parametrize("report", [monthly_report, weekly_report, quarterly_report, yearly_report])
@pytest.mark.parametrize(
    "filters, rollup, medians",
    [
        # Medians before and after api's fix moves to 17:00 (api's first failure then recovers at
        # its incident's resolution, 4 h).
        (Filters(), True, (2, 3)),
        (Filters(environments=("production",)), True, (2, 3)),
        (Filters(severities=(1,)), True, (2, 3)),  # severities don't filter failed deploys
        (Filters(services=("api",)), False, (1.25, 2.25)),  # no service in the rollups: kept recoveries
        (Filters(teams=("web team",)), False, (3, 3)),
        (Filters(attribution="inferred"), False, (2, 3)),  # computed: neither
    ],
)
def test_every_period_reads_the_rollup_unless_filtered_by_service(world, report, filters, rollup, medians):
    """The rollup path (reports_recoveryrollup or its weekly twin) where it can answer, the kept
    recoveries where it can't, and always the scan's figures; also with a logged pair, whose kept
    recoveries the rollup path takes away and works out again."""
    tables = ("reports_recoveryweekrollup",) if report is weekly_report else ("reports_recoveryrollup",)
    kwargs = dict(first=FIRST, last=LAST, filters=filters, include_partial=True)
    before, after = medians
    fast = both_ways(report, tables=tables, reads=rollup, **kwargs)
    assert fast.totals.failed_deployment_recovery_seconds.median == before * HOUR
    _fix_moved_later(world)  # logs api's pair
    assert pair(world, "api") in logged()
    fast = both_ways(report, tables=tables, reads=rollup, **kwargs)
    assert fast.totals.failed_deployment_recovery_seconds.median == after * HOUR
    refreshed()
    assert rollup_drift() == (0, 0)
    fast = both_ways(report, tables=tables, reads=rollup, **kwargs)
    assert fast.totals.failed_deployment_recovery_seconds.median == after * HOUR


def test_the_rollups_follow_every_refresh_and_a_drifted_one_is_noticed(world):
    assert rollup_drift() == (0, 0)
    for change in ("an open incident resolved", "a cause unlinked", "production no longer production"):
        WRITES[change][0](world)
        refreshed()
        assert rollup_drift() == (0, 0), change
    Environment.objects.filter(pk=world["production"].pk).update(is_production=True)
    refreshed()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE reports_recoveryrollup SET deploys = deploys + 1 WHERE bucket >= 0")
        assert cursor.rowcount > 0
    assert rollup_drift()[0] > 0
    with pytest.raises(CommandError, match=r"recovery rollups differ from the kept recovery times in \d+ monthly"):
        call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    call_command("rebuild_report_rollup", stdout=io.StringIO())
    assert rollup_drift() == (0, 0)
    assert_report_equals_scan(FIRST, LAST)


# --- Concurrency: no write waits; no trusted recovery is stale -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_link_or_resolution_waits_for_a_refresh_in_progress():
    world = build_world()
    DeployFactory(service=world["api"], environment=world["production"], deployed_at=at(25))
    refresh, writer = other_connection(), other_connection()
    try:
        # The refresh holds its lock and has written the recoveries and deleted the log, uncommitted.
        assert refresh.execute("SELECT reports_rollbacktime_refresh()").fetchone()[0] == 1
        # A resolution, a new cause link and an unlinked fix commit meanwhile, each within the 2 s
        # lock timeout (a wait for the refresh would fail them).
        writer.execute("UPDATE incidents_incident SET resolved_at = %s WHERE id = %s", [at(12, 18), world["open"].pk])
        writer.execute(
            """INSERT INTO incidents_incidentdeploy (incident_id, deploy_id, relation, note, created_at)
               VALUES (%s, %s, 'cause', '', now())""",
            [world["open"].pk, world["web_failed"].pk],
        )
        writer.execute("DELETE FROM incidents_incidentdeploy WHERE deploy_id = %s", [world["web_fix"].pk])
        writer.commit()
        refresh.commit()
    finally:
        refresh.close()
        writer.close()
    # The writes logged their pairs after the refresh's snapshot: still logged, so still computed.
    assert logged() == {pair(world, "api"), pair(world, "web")}
    assert_report_equals_scan(FIRST, LAST)
    refreshed()
    assert_report_equals_scan(FIRST, LAST)


@pytest.mark.django_db(transaction=True)
def test_a_resolution_racing_a_refresh_is_never_trusted_stale():
    """A resolution not yet committed when a refresh reads the incidents commits after the refresh:
    the refresh's recovery for its deploy is stale, and the logged pair makes the report compute it."""
    world = build_world()
    writer = other_connection()
    try:
        writer.execute("UPDATE incidents_incident SET resolved_at = %s WHERE id = %s", [at(12, 18), world["open"].pk])
        DeployFactory(service=world["api"], environment=world["production"], deployed_at=at(25))
        assert services.refresh_rollback_times() == 1  # sees the insert, not the uncommitted resolution
        writer.commit()
    finally:
        writer.close()
    assert kept()[world["api_open_cause"].pk][4] is None  # what the refresh saw, now wrong
    assert logged() == {pair(world, "api")}
    assert march() == ((3 + 2 + 0.5 + 6) * HOUR / 4, 2.5 * HOUR, 0)  # the open one now 6 h
    assert_report_equals_scan(FIRST, LAST)
    refreshed()
    assert march() == ((3 + 2 + 0.5 + 6) * HOUR / 4, 2.5 * HOUR, 0)
