"""reports_rollbacktime (reports.rollup_sql, "Rollback times"): each rolled-back deploy's rollback
time, recomputed by the refresh for the services and environments the deploys' writes logged in
reports_rollbackchange, and trusted by the report only where nothing was logged since.

"Kept" is checked against the deploys themselves, read through the ORM, not against the refresh's
SQL; the report against the scan, which probes every rollback deploy.
"""

import datetime as dt
import io

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import Deploy
from deploys.services import DeployInput, deploy_record, deploy_record_bulk, deploy_rollback_mark
from reports import services, tasks
from reports.selectors import Filters, monthly_report
from tests.support.concurrency import other_connection
from tests.support.reports import assert_report_equals_scan, logged, rollback_time

pytestmark = pytest.mark.postgres_only(reason="reports_rollbacktime exists on PostgreSQL only (CI's second pass)")

UTC = dt.UTC
ROLLED_BACK = Deploy.Status.ROLLED_BACK
FIRST, LAST = dt.date(2024, 3, 1), dt.date(2024, 3, 31)


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, tzinfo=UTC)


def expected() -> dict:
    """Each rolled-back deploy's (service, environment, time, rollback time), from the ORM: the
    rollback time is the next deploy of its service and environment that went live."""
    answer = {}
    for deploy in Deploy.objects.filter(status=ROLLED_BACK):
        answer[deploy.pk] = (deploy.service_id, deploy.environment_id, deploy.deployed_at, rollback_time(deploy))
    return answer


def kept() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT deploy_id, service_id, environment_id, deployed_at, rollback_at FROM reports_rollbacktime"
        )
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def set_kept(deploy: Deploy, rollback_at: dt.datetime | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reports_rollbacktime SET rollback_at = %s WHERE deploy_id = %s", [rollback_at, deploy.pk]
        )
        assert cursor.rowcount == 1


def march_median() -> float | None:
    """Under the inferred rule: the linked rule's report reads whole recoveries off
    reports_recoverytime instead (tests/reports/test_recovery_times.py). No incident here, so the
    same figures."""
    return monthly_report(
        first=FIRST, last=FIRST, include_partial=True, filters=Filters(attribution="inferred")
    ).totals.failed_deployment_recovery_seconds.median


def refreshed() -> int:
    pairs = services.refresh_rollback_times()
    assert logged() == set()
    assert kept() == expected()
    return pairs


def build_world() -> dict:
    """web and api in production, web in staging; two rolled-back deploys with their rollback
    deploys, one without, all refreshed (nothing logged)."""
    production = EnvironmentFactory(slug="production", is_production=True)
    staging = EnvironmentFactory(slug="staging", is_production=False)
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")

    def deploy(service, day, hour=12, environment=production, status=Deploy.Status.SUCCEEDED):
        return DeployFactory(service=service, environment=environment, deployed_at=at(day, hour), status=status)

    world = {
        "production": production,
        "staging": staging,
        "web": web,
        "api": api,
        "web_failed": deploy(web, 5, status=ROLLED_BACK),
        "web_staging": deploy(web, 5, 13, environment=staging),  # another environment: no rollback
        "web_bad": deploy(web, 5, 14, status=Deploy.Status.FAILED),  # never went live: no rollback
        "web_rollback": deploy(web, 5, 15),  # 3 h
        "api_failed": deploy(api, 8, status=ROLLED_BACK),
        "api_rollback": deploy(api, 8, 13),  # 1 h
        "api_last": deploy(api, 20, status=ROLLED_BACK),  # no later deploy: unrecovered
    }
    refreshed()
    return world


@pytest.fixture
def world(db):
    return build_world()


def test_the_migration_keeps_the_deploys_already_there(db):
    """0007's first fill, run again on data written before it (as on a database being upgraded)."""
    from reports import rollup_sql

    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    failed = DeployFactory(service=web, environment=production, deployed_at=at(3), status=ROLLED_BACK)
    rollback = DeployFactory(service=web, environment=production, deployed_at=at(3, 14))
    with connection.cursor() as cursor:
        cursor.execute(rollup_sql.ROLLBACK_DROP)
        cursor.execute(rollup_sql.ROLLBACK_CREATE)
    assert kept() == {failed.pk: (web.pk, production.pk, failed.deployed_at, rollback.deployed_at)}
    assert logged() == set()


def test_a_report_reads_the_kept_times_of_pairs_not_changed_since(world):
    # 3 h and 1 h: the median of the two recovered ones.
    assert march_median() == 2 * 3600.0
    assert_report_equals_scan(FIRST, LAST)
    # The kept time is what the report reads: a wrong one (written by hand, never by Opslog) shows.
    set_kept(world["web_failed"], at(5, 17))
    assert march_median() == 3 * 3600.0
    with pytest.raises(CommandError, match=r"rollback times \(reports_rollbacktime\) differ from the deploys in 1 row"):
        call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rebuild_report_rollup", stdout=out)
    assert "3 rollback times" in out.getvalue()
    assert kept() == expected()
    call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    assert march_median() == 2 * 3600.0


def test_a_logged_pair_is_probed_until_the_refresh(world):
    set_kept(world["web_failed"], at(5, 17))
    # Any write to web's production deploys logs the pair, and the report stops trusting its times.
    DeployFactory(service=world["web"], environment=world["production"], deployed_at=at(25))
    assert logged() == {(world["web"].pk, world["production"].pk)}
    assert march_median() == 2 * 3600.0
    assert_report_equals_scan(FIRST, LAST)
    # api's times are still read: a wrong one there shows (and proves only web's pair is probed).
    set_kept(world["api_failed"], at(8, 16))
    assert march_median() == 3.5 * 3600.0
    set_kept(world["api_failed"], world["api_rollback"].deployed_at)
    assert refreshed() == 1
    assert march_median() == 2 * 3600.0


def test_an_earlier_deploy_through_the_service_becomes_the_rollback(world):
    deploy_record(
        rules=None,
        data=DeployInput(
            service="web", environment="production", version="hotfix", deployer="ann", deployed_at=at(5, 13)
        ),
        notify=False,
    )
    assert march_median() == 3600.0  # 1 h and 1 h
    assert_report_equals_scan(FIRST, LAST)
    refreshed()
    assert march_median() == 3600.0
    assert_report_equals_scan(FIRST, LAST)


def test_a_bulk_ingest_logs_each_pair_once(world):
    deploy_record_bulk(
        rules=None,
        items=[
            DeployInput(
                service=service,
                environment="production",
                version=f"b{n}",
                deployer="ann",
                deployed_at=at(8) + dt.timedelta(minutes=n + 1),
            )
            for n, service in enumerate(["web", "api", "api", "api"])
        ],
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reports_rollbackchange")
        assert cursor.fetchone()[0] == 2  # one statement, two pairs
    assert_report_equals_scan(FIRST, LAST)
    assert refreshed() == 2
    assert_report_equals_scan(FIRST, LAST)


@pytest.mark.parametrize(
    "change",
    [
        "delete the rollback deploy",
        "the rollback deploy rolled back too",
        "the rollback deploy failed after all",
        "the rolled-back deploy succeeded after all",
        "the rollback deploy moved later",
        "the rolled-back deploy moved to api",
        "the rollback deploy moved to staging",
        "the rollback marked by a later rollback",
        "raw SQL",
    ],
)
def test_every_kind_of_write_is_exact_before_and_after_the_refresh(world, change):
    failed, rollback = world["web_failed"], world["web_rollback"]
    if change == "delete the rollback deploy":
        rollback.delete()
    elif change == "the rollback deploy rolled back too":
        Deploy.objects.filter(pk=rollback.pk).update(status=ROLLED_BACK)
    elif change == "the rollback deploy failed after all":
        Deploy.objects.filter(pk=rollback.pk).update(status=Deploy.Status.FAILED)
    elif change == "the rolled-back deploy succeeded after all":
        Deploy.objects.filter(pk=failed.pk).update(status=Deploy.Status.SUCCEEDED)
    elif change == "the rollback deploy moved later":
        Deploy.objects.filter(pk=rollback.pk).update(deployed_at=at(6))
    elif change == "the rolled-back deploy moved to api":
        Deploy.objects.filter(pk=failed.pk).update(service=world["api"])
    elif change == "the rollback deploy moved to staging":
        Deploy.objects.filter(pk=rollback.pk).update(environment=world["staging"])
    elif change == "the rollback marked by a later rollback":
        later = DeployFactory(service=world["web"], environment=world["production"], deployed_at=at(6))
        assert deploy_rollback_mark(deploy=later) == 1  # web_rollback is now rolled back, by `later`
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE deploys_deploy SET deployed_at = deployed_at + interval '1 day' WHERE id = %s", [rollback.pk]
            )
    assert logged(), "the write logged its pair"
    assert_report_equals_scan(FIRST, LAST)
    refreshed()
    assert_report_equals_scan(FIRST, LAST)


def test_edits_that_cannot_change_a_rollback_time_log_nothing(world):
    Deploy.objects.filter(pk=world["web_rollback"].pk).update(deployer="someone else", version="v9")
    Deploy.objects.filter(pk=world["api_failed"].pk).update(status=ROLLED_BACK)  # no change at all
    assert logged() == set()


def test_truncate_empties_both(world):
    DeployFactory(service=world["web"], environment=world["production"], deployed_at=at(25))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending foreign-key checks
        cursor.execute("TRUNCATE deploys_deploy CASCADE")
    assert kept() == {} and logged() == set()


def test_the_task_refreshes_through_celery(world):
    DeployFactory(service=world["api"], environment=world["production"], deployed_at=at(8) + dt.timedelta(minutes=5))
    assert tasks.refresh_rollback_times.delay().get() == 1
    assert kept() == expected() and logged() == set()
    assert march_median() == (3 * 3600.0 + 5 * 60.0) / 2  # web's 3 h, api's 5 min


# --- Concurrency: no write waits; no trusted time is stale -----------------------------------------


def insert_deploy(conn: psycopg.Connection, world: dict, when: dt.datetime, status: str = "succeeded") -> None:
    conn.execute(
        """INSERT INTO deploys_deploy (service_id, environment_id, version, previous_version, deployer, message,
                                       deployed_at, status, diff_url, external_id, created_at)
           VALUES (%s, %s, 'x', '', 'ann', '', %s, %s, '', '', now())""",
        [world["web"].pk, world["production"].pk, when, status],
    )


@pytest.mark.django_db(transaction=True)
def test_no_write_waits_for_a_refresh_in_progress():
    world = build_world()
    DeployFactory(service=world["web"], environment=world["production"], deployed_at=at(25))
    refresh, writer = other_connection(), other_connection()
    try:
        # The refresh holds its lock and has written the times and deleted the log, uncommitted.
        assert refresh.execute("SELECT reports_rollbacktime_refresh()").fetchone()[0] == 1
        # An ingest, a status change and a delete on the same pair commit meanwhile, each within
        # the 2 s lock timeout (a wait for the refresh would fail them).
        insert_deploy(writer, world, at(5, 13))
        writer.execute("UPDATE deploys_deploy SET status = 'rolled_back' WHERE id = %s", [world["web_rollback"].pk])
        writer.execute("DELETE FROM deploys_deploy WHERE id = %s", [world["api_rollback"].pk])
        writer.commit()
        refresh.commit()
    finally:
        refresh.close()
        writer.close()
    # The writes logged their pairs after the refresh's snapshot: still logged, so still probed.
    assert logged() == {(world["web"].pk, world["production"].pk), (world["api"].pk, world["production"].pk)}
    assert_report_equals_scan(FIRST, LAST)
    refreshed()
    assert_report_equals_scan(FIRST, LAST)


@pytest.mark.django_db(transaction=True)
def test_a_write_racing_a_refresh_is_never_trusted_stale():
    """The race session 12's kept times lost: a delete of a rollback deploy, not yet committed when
    a refresh reads the deploys, commits after the refresh. The refresh's time for it is stale, and
    the write's logged pair makes the report probe instead."""
    world = build_world()
    writer = other_connection()
    try:
        writer.execute("DELETE FROM deploys_deploy WHERE id = %s", [world["web_rollback"].pk])
        DeployFactory(service=world["web"], environment=world["production"], deployed_at=at(25))
        assert services.refresh_rollback_times() == 1  # sees the insert, not the uncommitted delete
        writer.commit()
    finally:
        writer.close()
    stale = kept()[world["web_failed"].pk][3]
    assert stale == world["web_rollback"].deployed_at  # what the refresh saw, now wrong
    assert logged() == {(world["web"].pk, world["production"].pk)}
    # Without the rollback deploy, web's failure ends at the 25th's deploy.
    web_seconds = (at(25) - at(5)).total_seconds()
    assert march_median() == (web_seconds + 3600.0) / 2
    assert_report_equals_scan(FIRST, LAST)
    refreshed()
    assert march_median() == (web_seconds + 3600.0) / 2


@pytest.mark.django_db(transaction=True)
def test_refreshes_at_once_leave_the_times_exact():
    from tests.support.concurrency import at_once

    world = build_world()

    def write_and_refresh(n):
        DeployFactory(service=world["web" if n % 2 else "api"], environment=world["production"], deployed_at=at(10 + n))
        return services.refresh_rollback_times()

    at_once(6, write_and_refresh)
    services.refresh_rollback_times()
    assert kept() == expected() and logged() == set()
    assert_report_equals_scan(FIRST, LAST, filters_list=(Filters(),))
