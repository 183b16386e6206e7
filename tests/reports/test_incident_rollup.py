"""The incident rollups (reports_incidentrollup per month, reports_incidentweekrollup per ISO week;
reports.rollup_sql, "Incidents per period"): exact through every kind of write, read by the reports
that no service, team or severity filters, and equal to the scan's figures to the bit.

"Exact" is checked against a recount in Python from the incidents (not the rebuild's SQL), and the
report read through the rollups against the same report read by scanning.
"""

import datetime as dt
import io
import logging
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.models import Incident
from incidents.services import (
    IncidentInput,
    incident_archive,
    incident_create,
    incident_stamp,
    incident_unarchive,
    incident_update,
)
from reports.selectors import Filters, monthly_report, quarterly_report, rollup_zone, weekly_report, yearly_report
from tests.support.concurrency import at_once, other_connection
from tests.support.reports import both_ways, incident_bucket, month, week
from tests.support.times import at

pytestmark = pytest.mark.postgres_only(reason="the incident rollups exist on PostgreSQL only (CI's second pass)")

TABLES = ("reports_incidentrollup", "reports_incidentweekrollup")
# (measure, end, start), as docs/metrics.md defines the durations.
DURATIONS = (
    ("mttd", "detected_at", "started_at"),
    ("mttr", "resolved_at", "detected_at"),
    ("ttr", "resolved_at", "started_at"),
    ("mtta", "acknowledged_at", "detected_at"),
)


def exact_seconds(end: dt.datetime, start: dt.datetime) -> Decimal:
    delta = end - start
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1_000_000)


def recount(zone: str, period=month) -> dict:
    """{(period, measure, bucket): (incidents, seconds)} from the incidents, in Python."""
    counts = defaultdict(lambda: [0, Decimal(0)])
    for incident in Incident.objects.filter(archived_at__isnull=True):
        key = period(incident.started_at, zone)
        counts[(key, "incidents", 0)][0] += 1
        if incident.resolved_at is None:
            counts[(key, "unresolved", 0)][0] += 1
        for measure, end, start in DURATIONS:
            end, start = getattr(incident, end), getattr(incident, start)
            if end is not None and start is not None:
                seconds = exact_seconds(end, start)
                row = counts[(key, measure, incident_bucket(float(seconds)))]
                row[0] += 1
                row[1] += seconds
    return {key: (n, seconds) for key, (n, seconds) in counts.items()}


def stored(table: str) -> dict:
    """The kept rows summed per key (a key has a few rows while transactions overlap)."""
    column = "week" if "week" in table else "month"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column}, measure, bucket, sum(incidents), sum(seconds) FROM {table} GROUP BY 1, 2, 3 "
            "HAVING sum(incidents) <> 0 OR sum(seconds) <> 0"
        )
        return {(p, measure, bucket): (n, seconds) for p, measure, bucket, n, seconds in cursor.fetchall()}


def assert_exact():
    zone = rollup_zone()
    assert zone is not None
    assert stored("reports_incidentrollup") == recount(zone)
    assert stored("reports_incidentweekrollup") == recount(zone, period=week)


def row_ids() -> list:
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(f"SELECT '{t}', id FROM {t}" for t in TABLES) + " ORDER BY 1, 2")
        return cursor.fetchall()


def both(report=monthly_report, *, expect_rollup=True, **kwargs):
    """The report as read (through the incident rollups when `expect_rollup`), checked equal to the
    same report read by scanning."""
    kwargs.setdefault("include_partial", True)
    return both_ways(report, tables=TABLES, reads=expect_rollup, **kwargs)


def incident(started: str, *, detect=None, acknowledge=None, resolve=None, **kwargs) -> Incident:
    """An incident started at `started`; the others are seconds after the start (None: not set)."""
    start = at(started)

    def after(seconds):
        return None if seconds is None else start + dt.timedelta(seconds=seconds)

    return IncidentFactory(
        started_at=start,
        detected_at=after(detect),
        acknowledged_at=after(acknowledge),
        resolved_at=after(resolve),
        **kwargs,
    )


MARCH, APRIL = dt.date(2024, 3, 1), dt.date(2024, 4, 1)


@pytest.fixture
def rows(db):
    """March and April 2024 (UTC), hand-worked: see test_known_answers."""
    web = ServiceFactory(slug="web")
    production = EnvironmentFactory(slug="production")
    i1 = incident("2024-03-01T10:00:00Z", detect=60, acknowledge=180, resolve=660, services=[web])
    i2 = incident("2024-03-10T10:00:00Z", detect=30, resolve=1830, severity=1, services=[web])
    i3 = incident("2024-03-31T23:59:59Z", detect=90, acknowledge=100)  # unresolved
    archived = incident("2024-03-15T10:00:00Z", detect=5, resolve=10)
    Incident.objects.filter(pk=archived.pk).update(archived_at=at("2024-03-16T00:00:00Z"))
    i5 = incident("2024-04-02T00:00:00Z", detect=0.5, resolve=3600.5)
    cause = DeployFactory(service=web, environment=production, deployed_at=at("2024-03-10T09:00:00Z"))
    IncidentDeployFactory(incident=i2, deploy=cause, relation="cause")
    return {"i1": i1, "i2": i2, "i3": i3, "archived": archived, "i5": i5, "web": web}


def test_known_answers(rows):
    report = both(first=MARCH, last=APRIL)
    march, april = report.periods
    assert (march.incidents, march.unresolved_incidents, march.deploy_related_incidents) == (3, 1, 1)
    assert (march.mttd_seconds.mean, march.mttd_seconds.median) == (60.0, 60.0)
    assert (march.mttr_seconds.mean, march.mttr_seconds.median) == (1200.0, 1200.0)
    assert (march.time_to_restore_seconds.mean, march.time_to_restore_seconds.median) == (1245.0, 1245.0)
    assert (march.mtta_seconds.mean, march.mtta_seconds.median) == (65.0, 65.0)
    assert (april.incidents, april.unresolved_incidents, april.mtta_seconds.mean) == (1, 0, None)
    assert (april.mttd_seconds.median, april.time_to_restore_seconds.median) == (0.5, 3600.5)
    totals = report.totals
    assert (totals.incidents, totals.unresolved_incidents, totals.deploy_related_incidents) == (4, 1, 1)
    # mttd 60, 30, 90, 0.5; mttr 600, 1800, 3600; ttr 660, 1830, 3600.5
    assert (totals.mttd_seconds.mean, totals.mttd_seconds.median) == (45.125, 45.0)
    assert (totals.mttr_seconds.mean, totals.mttr_seconds.median) == (2000.0, 1800.0)
    assert totals.time_to_restore_seconds.median == 1830.0
    assert totals.time_to_restore_seconds.mean == pytest.approx(6090.5 / 3, rel=1e-12)


def test_every_period_and_rule_reads_it_unfiltered_and_scans_when_filtered(rows):
    for report in (monthly_report, weekly_report, quarterly_report, yearly_report):
        both(report, first=MARCH, last=APRIL)
        both(report, first=MARCH, last=APRIL, filters=Filters(attribution="inferred"))
        # Environments don't filter incidents.
        both(report, first=MARCH, last=APRIL, filters=Filters(environments=("production",)))
        for filters in (Filters(services=("web",)), Filters(severities=(1,)), Filters(teams=("Storefront",))):
            both(report, first=MARCH, last=APRIL, filters=filters, expect_rollup=False)


def test_a_range_without_incidents(rows):
    report = both(first=dt.date(2023, 1, 1), last=dt.date(2023, 12, 1))
    assert report.totals.incidents == 0 and report.totals.mttr_seconds.median is None


# --- Every write path ------------------------------------------------------------------------------


def test_the_migration_built_it_and_the_services_keep_it(rows):
    assert_exact()
    web = rows["web"]
    filed, _ = incident_create(
        data=IncidentInput(
            title="Checkout down",
            started_at=at("2024-03-20T10:00:00Z"),
            detected_at=at("2024-03-20T10:02:00Z"),
            services=[web],
        ),
        now=at("2024-03-20T10:03:00Z"),
    )
    assert_exact()
    incident_stamp(incident=filed, stage="acknowledged", at=at("2024-03-20T10:04:00Z"))
    incident_stamp(incident=filed, stage="resolved", at=at("2024-03-20T11:00:00Z"))
    assert_exact()
    # Moved back into February: both months change.
    incident_update(incident=filed, changes={"started_at": at("2024-02-28T10:00:00Z")}, now=at("2024-03-21T00:00:00Z"))
    assert_exact()
    incident_archive(incident=filed, reason="Filed twice.", now=at("2024-03-21T00:00:00Z"))
    assert_exact()
    incident_unarchive(incident=filed, now=at("2024-03-22T00:00:00Z"))
    assert_exact()
    filed.delete()
    assert_exact()
    both(first=dt.date(2024, 2, 1), last=APRIL)


def test_bulk_writes_queryset_updates_raw_sql_and_truncate(rows):
    start = at("2024-05-01T00:00:00Z")
    Incident.objects.bulk_create(
        [
            Incident(
                title=f"bulk {n}",
                started_at=start + dt.timedelta(days=n),
                detected_at=start + dt.timedelta(days=n, seconds=n * 7),
                resolved_at=start + dt.timedelta(days=n, hours=n) if n % 3 else None,
            )
            for n in range(40)
        ]
    )
    assert_exact()
    Incident.objects.filter(started_at__gte=start).update(acknowledged_at=start + dt.timedelta(days=60))
    assert_exact()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE incidents_incident SET resolved_at = detected_at + interval '17 minutes 0.25 seconds' "
            "WHERE resolved_at IS NULL"
        )
        cursor.execute(
            "UPDATE incidents_incident SET started_at = started_at - interval '40 days' WHERE title = 'bulk 3'"
        )
        cursor.execute("DELETE FROM incidents_incident WHERE title = 'bulk 5'")
    assert_exact()
    both(report=weekly_report, first=MARCH, last=dt.date(2024, 6, 30))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending foreign-key checks
        cursor.execute("TRUNCATE incidents_incident CASCADE")
    assert stored("reports_incidentrollup") == stored("reports_incidentweekrollup") == {}


def test_edits_that_change_no_figure_write_nothing(rows):
    before = row_ids()
    incident_update(
        incident=rows["i1"], changes={"title": "Renamed", "severity": 1, "services": []}, now=at("2024-03-02T00:00:00Z")
    )
    Incident.objects.filter(pk=rows["i2"].pk).update(summary="More words.")
    assert row_ids() == before
    assert_exact()


def test_each_write_folds_a_keys_rows_into_one(rows):
    for _ in range(5):
        incident("2024-03-05T10:00:00Z", detect=60, resolve=660)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM reports_incidentrollup WHERE month = '2024-03-01' GROUP BY measure, bucket "
            "ORDER BY 1 DESC LIMIT 1"
        )
        assert cursor.fetchone()[0] == 1


def test_triggers_work_under_an_empty_search_path_as_pg_restore_sets(rows):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL search_path TO ''")
        cursor.execute("UPDATE public.incidents_incident SET resolved_at = detected_at + interval '1 hour'")
        cursor.execute("SET LOCAL search_path TO DEFAULT")
    assert_exact()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_on_their_own_connections_keep_it_exact():
    """Incidents filed, stamped, archived and deleted from several connections at once, all in the
    same month and buckets: no deadlock, no lost count, and nobody waits on the rollup."""
    errors = []

    def write(n):
        try:
            for k in range(5):
                filed, _ = incident_create(
                    data=IncidentInput(
                        title=f"w{n}-{k}",
                        started_at=at("2024-03-10T10:00:00Z") + dt.timedelta(minutes=n * 10 + k),
                        detected_at=at("2024-03-10T10:00:00Z") + dt.timedelta(minutes=n * 10 + k, seconds=60),
                    ),
                    now=at("2024-03-11T00:00:00Z"),
                )
                if k % 2:
                    incident_stamp(incident=filed, stage="resolved", at=at("2024-03-10T12:00:00Z"))
                if k == 3:
                    incident_archive(incident=filed, reason="Twice.", now=at("2024-03-11T00:00:00Z"))
                if k == 4:
                    filed.delete()
        except Exception as error:  # reported below, with the thread's number
            errors.append((n, repr(error)))

    at_once(6, write)

    assert errors == []
    assert Incident.objects.count() == 6 * 4
    assert_exact()
    both(first=MARCH, last=MARCH)


def copy_incident(conn, pk: int, *, resolved_seconds: int) -> None:
    """A copy of incident `pk` written on `conn` (raw SQL), resolved `resolved_seconds` after its start."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'incidents_incident' "
            "AND column_name NOT IN ('id', 'resolved_at', 'filing_key')"
        )
        columns = ", ".join(row[0] for row in cursor.fetchall())
    conn.execute(
        f"INSERT INTO incidents_incident ({columns}, resolved_at) "
        f"SELECT {columns}, started_at + make_interval(secs => %s) FROM incidents_incident WHERE id = %s",
        [resolved_seconds, pk],
    )


@pytest.mark.django_db(transaction=True)
def test_no_incident_write_waits_for_another_on_the_same_keys():
    """One transaction files an incident and stays open; another files, resolves and archives
    incidents in the same month and buckets, and commits within a 2 s lock timeout (the rows the
    first folded are skipped, not waited for)."""
    filed = incident("2024-03-05T10:00:00Z", detect=60, resolve=660)
    other = incident("2024-03-06T10:00:00Z", detect=60)
    first, second = other_connection(), other_connection()
    try:
        copy_incident(first, filed.pk, resolved_seconds=660)
        copy_incident(second, filed.pk, resolved_seconds=660)
        second.execute(
            "UPDATE incidents_incident SET resolved_at = started_at + interval '11 minutes' WHERE id = %s", [other.pk]
        )
        second.execute("UPDATE incidents_incident SET archived_at = now() WHERE id = %s", [filed.pk])
        second.commit()
        first.commit()
    finally:
        first.close()
        second.close()
    assert Incident.objects.filter(archived_at__isnull=True).count() == 3
    assert_exact()
    both(first=MARCH, last=MARCH)


# --- Medians: the bucket and offset arithmetic ----------------------------------------------------

# Seconds bunched into a few buckets, with ties, zeros, sub-second and negative values (raw SQL
# can store a detection before the start), so middle values share buckets or straddle two.
seconds = st.one_of(
    st.sampled_from([0, 0.25, 59, 60, 61, 3600, 3600.5, 3601, 86400, -30]),
    st.integers(1, 200),
    st.floats(min_value=0, max_value=3e7, allow_nan=False).map(lambda s: round(s, 6)),
)
incident_rows = st.lists(
    st.tuples(st.integers(0, 89), seconds, st.none() | seconds, st.none() | seconds, st.booleans()), max_size=30
)


@pytest.mark.django_db
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(incident_rows)
def test_means_and_medians_match_avg_and_percentile_cont_to_the_bit(data):
    Incident.objects.all().delete()
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    Incident.objects.bulk_create(
        [
            Incident(
                title=str(n),
                started_at=start + dt.timedelta(days=day, hours=n),
                detected_at=start + dt.timedelta(days=day, hours=n, seconds=detect),
                acknowledged_at=None if ack is None else start + dt.timedelta(days=day, hours=n, seconds=detect + ack),
                resolved_at=None if fix is None else start + dt.timedelta(days=day, hours=n, seconds=detect + fix),
                archived_at=start if archived else None,
            )
            for n, (day, detect, ack, fix, archived) in enumerate(data)
        ]
    )
    assert_exact()
    both(first=dt.date(2024, 1, 1), last=dt.date(2024, 3, 1))
    both(weekly_report, first=dt.date(2024, 1, 1), last=dt.date(2024, 3, 31))


def test_the_query_count_doesnt_depend_on_the_data(rows, django_assert_num_queries):
    with CaptureQueriesContext(connection) as ctx:
        monthly_report(first=MARCH, last=APRIL)
    few = len(ctx.captured_queries)
    for n in range(30):
        incident(f"2024-03-{n % 28 + 1:02d}T10:00:00Z", detect=n, acknowledge=2 * n, resolve=3 * n + 1)
    with django_assert_num_queries(few):
        monthly_report(first=MARCH, last=APRIL)


# --- Drift, the check and the rebuild ----------------------------------------------------------------


def test_a_drifted_rollup_falls_back_to_the_scan(rows, caplog):
    """Incidents deleted with triggers off (a restore with --disable-triggers): the report notices
    that the rollup promises values the incidents don't have, says so, and scans."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM incidents_incident_services")
        cursor.execute("DELETE FROM incidents_incidentdeploy")
        cursor.execute("DELETE FROM incidents_incident WHERE started_at < '2024-04-01'")

    with caplog.at_level(logging.WARNING):
        report = monthly_report(first=MARCH, last=APRIL)

    assert "incident rollup disagrees" in caplog.text
    assert report.totals.incidents == 1 and report.periods[0].incidents == 0
    assert report.totals.mttr_seconds.median == 3600.0


def test_the_check_finds_drift_and_a_rebuild_mends_it(rows):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE reports_incidentrollup SET seconds = seconds + 1 WHERE measure = 'mttr'")
        cursor.execute("DELETE FROM reports_incidentweekrollup WHERE measure = 'unresolved'")
    with pytest.raises(CommandError, match=r"incident rollups differ from a recount in 3 monthly and 1 weekly key"):
        call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rebuild_report_rollup", stdout=out)
    assert "incident rows" in out.getvalue()
    assert_exact()
    call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())


def test_weeks_and_months_in_a_zone_with_summer_time(rows, settings):
    """Rebuilt in Europe/London: an incident at 23:30 UTC on Sunday 2024-03-31 (BST) is on Monday
    1 April locally, in April and in the week of 1 April."""
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "Europe/London"
    late = incident("2024-03-31T23:30:00Z", detect=120, resolve=600)
    call_command("rebuild_report_rollup", stdout=io.StringIO())
    assert_exact()
    assert (month(late.started_at, "Europe/London"), week(late.started_at, "Europe/London")) == (APRIL, APRIL)
    monthly = both(first=MARCH, last=APRIL)
    assert [p.incidents for p in monthly.periods] == [2, 3]  # i3 (23:59:59 UTC on 31 March) is April too
    weekly = both(weekly_report, first=dt.date(2024, 3, 18), last=dt.date(2024, 4, 7))
    assert [p.incidents for p in weekly.periods] == [0, 0, 3]
    later = incident("2024-10-27T00:30:00Z", detect=60, resolve=120)  # the night summer time ends
    assert_exact()
    assert week(later.started_at, "Europe/London") == dt.date(2024, 10, 21)
    both(weekly_report, first=dt.date(2024, 10, 21), last=dt.date(2024, 10, 28))
