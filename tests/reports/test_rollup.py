"""The report rollups (reports.models): exact through every kind of write, and used only when they
are in the reporting time zone.

"Exact" is checked against a recount in Python from the deploys and commits (not the rebuild's
SQL), and the report read through the rollups against the same report read by scanning.
"""

import datetime as dt
import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from deploys.models import Deploy, DeployCommit, Environment, Service
from deploys.services import CommitInput, DeployInput, commit_deliveries_refresh, deploy_record, deploy_record_bulk
from incidents.factories import IncidentDeployFactory, IncidentFactory
from reports import selectors
from reports.selectors import Filters, monthly_report, rollup_zone, weekly_report, yearly_report
from tests.support.concurrency import at_once
from tests.support.reports import both_ways, lead_bucket, month, week

UTC = dt.UTC
on_postgres = pytest.mark.postgres_only(reason="the rollups exist on PostgreSQL only (CI's second pass runs these)")


def recount(zone: str, period=month) -> tuple[dict, dict]:
    deploys: Counter = Counter()
    rolled_back: Counter = Counter()
    for at, service, environment, deployer, status in Deploy.objects.filter(
        status__in=Deploy.COUNTED_STATUSES
    ).values_list("deployed_at", "service_id", "environment_id", "deployer", "status"):
        key = (period(at, zone), service, environment, deployer)
        deploys[key] += 1
        rolled_back[key] += status == Deploy.Status.ROLLED_BACK
    leads: Counter = Counter()
    for delivered, lead, service in DeployCommit.objects.filter(
        lead_seconds__isnull=False, first_delivered_at__isnull=False
    ).values_list("first_delivered_at", "lead_seconds", "deploy__service_id"):
        leads[(period(delivered, zone), service, lead_bucket(lead))] += 1
    return {key: (n, rolled_back[key]) for key, n in deploys.items()}, dict(leads)


def stored(weeks: bool = False) -> tuple[dict, dict]:
    from reports.models import DeployRollup, DeployWeekRollup, LeadTimeRollup, LeadTimeWeekRollup

    column = "week" if weeks else "month"
    deploy_rollup, lead_rollup = (DeployWeekRollup, LeadTimeWeekRollup) if weeks else (DeployRollup, LeadTimeRollup)
    deploys = {
        (row[column], row["service_id"], row["environment_id"], row["deployer"]): (row["n"], row["rolled"])
        for row in deploy_rollup.objects.values(column, "service_id", "environment_id", "deployer")
        .annotate(n=Sum("deploys"), rolled=Sum("rolled_back"))
        .order_by()
        if (row["n"], row["rolled"]) != (0, 0)
    }
    leads = {
        (row[column], row["service_id"], row["bucket"]): row["n"]
        for row in lead_rollup.objects.values(column, "service_id", "bucket").annotate(n=Sum("commits")).order_by()
        if row["n"]
    }
    return deploys, leads


def recount_by_environment(zone: str, period=month) -> dict:
    leads: Counter = Counter()
    for delivered, lead, service, environment in DeployCommit.objects.filter(
        env_lead_seconds__isnull=False, env_first_delivered_at__isnull=False
    ).values_list("env_first_delivered_at", "env_lead_seconds", "deploy__service_id", "deploy__environment_id"):
        leads[(period(delivered, zone), service, environment, lead_bucket(lead))] += 1
    return dict(leads)


def stored_by_environment(weeks: bool = False) -> dict:
    from reports.models import EnvLeadTimeRollup, EnvLeadTimeWeekRollup

    column, rollup = ("week", EnvLeadTimeWeekRollup) if weeks else ("month", EnvLeadTimeRollup)
    return {
        (row[column], row["service_id"], row["environment_id"], row["bucket"]): row["n"]
        for row in rollup.objects.values(column, "service_id", "environment_id", "bucket")
        .annotate(n=Sum("commits"))
        .order_by()
        if row["n"]
    }


def stored_over_all_services(period: str = "week") -> tuple[dict, dict]:
    """The rollups over all services, per week (reports_deployweekallrollup, …) or per month."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {period}, environment_id, deployer, sum(deploys), sum(rolled_back) "
            f"FROM reports_deploy{period}allrollup GROUP BY 1, 2, 3"
        )
        deploys = {(p, e, d): (n, rolled) for p, e, d, n, rolled in cursor.fetchall() if (n, rolled) != (0, 0)}
        cursor.execute(f"SELECT {period}, bucket, sum(commits) FROM reports_leadtime{period}allrollup GROUP BY 1, 2")
        leads = {(p, bucket): n for p, bucket, n in cursor.fetchall() if n}
    return deploys, leads


def over_all_services(deploys: dict, leads: dict) -> tuple[dict, dict]:
    """A per-service recount summed over the services."""
    all_deploys: Counter = Counter()
    all_rolled_back: Counter = Counter()
    for (period, _service, environment, deployer), (n, rolled_back) in deploys.items():
        all_deploys[(period, environment, deployer)] += n
        all_rolled_back[(period, environment, deployer)] += rolled_back
    all_leads: Counter = Counter()
    for (period, _service, bucket), n in leads.items():
        all_leads[(period, bucket)] += n
    return {key: (n, all_rolled_back[key]) for key, n in all_deploys.items()}, dict(all_leads)


def assert_exact():
    """The rollups, per month, per ISO week (per service and over all) and by environment, equal a
    recount in Python."""
    zone = rollup_zone()
    assert zone is not None
    assert stored() == recount(zone)
    assert stored(weeks=True) == recount(zone, period=week)
    assert stored_over_all_services() == over_all_services(*recount(zone, period=week))
    assert stored_over_all_services("month") == over_all_services(*recount(zone))
    assert stored_by_environment() == recount_by_environment(zone)
    assert stored_by_environment(weeks=True) == recount_by_environment(zone, period=week)


ROLLUP_TABLES = (
    "reports_deployrollup",
    "reports_leadtimerollup",
    "reports_deployweekrollup",
    "reports_leadtimeweekrollup",
    "reports_envleadtimerollup",
    "reports_envleadtimeweekrollup",
    "reports_deployweekallrollup",
    "reports_leadtimeweekallrollup",
    "reports_deploymonthallrollup",
    "reports_leadtimemonthallrollup",
)


def reads_rollups(queries) -> bool:
    return any(table in q["sql"] for q in queries for table in ROLLUP_TABLES)


def through_both(**kwargs):
    """The report read through the rollups, checked equal to the same report read by scanning."""
    report = kwargs.pop("report", monthly_report)
    return both_ways(report, tables=ROLLUP_TABLES, **kwargs)


def record(service, at, *, deployer="ann", environment="production", status="succeeded", commits=()):
    return deploy_record(
        rules=None,  # short made-up shas ("a1"): this tests the report, not the deploy contract
        data=DeployInput(
            service=service,
            environment=environment,
            version=at.isoformat(),
            deployer=deployer,
            deployed_at=at,
            status=status,
            commits=[CommitInput(sha=sha, authored_at=at - dt.timedelta(seconds=ahead)) for sha, ahead in commits],
        ),
        notify=False,
    )[0]


MARCH, APRIL = dt.date(2024, 3, 1), dt.date(2024, 4, 1)


@pytest.fixture
def rows(db):
    """Deploys in March and April 2024 (UTC), with commits and an incident link."""
    march = dt.datetime(2024, 3, 10, 12, tzinfo=UTC)
    d1 = record("web", march, commits=[("a1", 3600), ("a2", 7200)])
    d2 = record("web", march + dt.timedelta(days=1), deployer="bob", status="rolled_back", commits=[("a3", 60)])
    d3 = record("api", march + dt.timedelta(days=2), commits=[("a1", 9000), ("b1", 86400)])  # a1 shipped before
    d4 = record("api", march + dt.timedelta(days=15), deployer="bob", environment="staging", commits=[("c1", 10)])
    d5 = record("web", dt.datetime(2024, 4, 2, tzinfo=UTC), deployer="cy", commits=[("d1", 500), ("d2", 500)])
    IncidentDeployFactory(deploy=d1, incident=IncidentFactory(started_at=march), relation="cause")
    return {"d1": d1, "d2": d2, "d3": d3, "d4": d4, "d5": d5}


# --- Every write path ------------------------------------------------------------------------------


@pytest.mark.django_db
class TestWrites:
    pytestmark = on_postgres

    def test_the_migration_built_it_in_the_reporting_time_zone(self, settings):
        assert rollup_zone() == settings.OPSLOG_REPORT_TIME_ZONE == "UTC"
        assert_exact()

    def test_inserts_through_the_services(self, rows):
        assert_exact()
        report = through_both(first=MARCH, last=APRIL)
        assert [p.deploys for p in report.periods] == [3, 1]
        assert report.periods[0].lead_time_seconds.median == 5400  # a3 60, a1 3600, a2 7200, b1 86400
        assert report.totals.deployers == 3
        weeks = through_both(report=weekly_report, first=MARCH, last=APRIL + dt.timedelta(days=6))
        # 10 March 2024 is a Sunday: d1 and d2 (11 March) are in different ISO weeks.
        assert [(p.start, p.deploys) for p in weeks.periods if p.deploys] == [
            (dt.date(2024, 3, 4), 1),
            (dt.date(2024, 3, 11), 2),
            (dt.date(2024, 4, 1), 1),
        ]
        assert weeks.periods[1].lead_time_seconds.median == (3600 + 7200) / 2  # a1 a2: d1's week

    def test_bulk_inserts(self, rows):
        at = dt.datetime(2024, 3, 31, 23, 59, tzinfo=UTC)
        deploy_record_bulk(
            rules=None,  # short made-up shas ("a1"): this tests the report, not the deploy contract
            items=[
                DeployInput(
                    service="web" if n % 2 else "search",
                    environment="production",
                    version=f"b{n}",
                    deployer=f"dev{n % 3}",
                    deployed_at=at + dt.timedelta(minutes=n),
                    status="rolled_back" if n % 5 == 0 else "succeeded",
                    commits=[CommitInput(sha=f"bulk{n}", authored_at=at - dt.timedelta(hours=n))],
                )
                for n in range(40)
            ],
        )
        assert_exact()
        through_both(first=MARCH, last=APRIL)
        through_both(report=weekly_report, first=MARCH, last=APRIL)

    def test_status_changes_time_changes_and_deletes(self, rows):
        Deploy.objects.filter(pk=rows["d1"].pk).update(status="failed")  # queryset.update
        assert_exact()
        Deploy.objects.filter(pk__in=[rows["d1"].pk, rows["d3"].pk]).update(status="rolled_back")
        assert_exact()
        d2 = rows["d2"]
        d2.deployed_at = dt.datetime(2024, 4, 30, 23, tzinfo=UTC)  # a model save, into another month
        d2.status = "succeeded"
        d2.save()
        assert_exact()
        # What the admin does after such edits: the first deliveries move, and their lead times.
        commit_deliveries_refresh(shas=["a1", "a2", "a3", "b1"])
        assert_exact()
        rows["d5"].delete()  # its commits go first, as Django deletes
        assert_exact()
        DeployCommit.objects.filter(sha="b1").delete()
        assert_exact()
        through_both(first=MARCH, last=APRIL)
        through_both(report=weekly_report, first=MARCH, last=APRIL)

    def test_a_deploy_moved_to_another_service_moves_its_commits(self, rows):
        search = Service.objects.create(slug="search", dev_team="discovery")
        Deploy.objects.filter(pk=rows["d1"].pk).update(service=search)
        assert_exact()
        report = through_both(first=MARCH, last=MARCH, filters=Filters(services=("search",)))
        assert report.totals.deploys == 1
        assert report.totals.lead_time_seconds.median == (3600 + 7200) / 2
        weeks = through_both(report=weekly_report, first=MARCH, last=APRIL, filters=Filters(services=("search",)))
        assert weeks.totals.lead_time_seconds.median == (3600 + 7200) / 2

    def test_a_deploy_moved_to_another_environment_moves_its_commits(self, rows):
        eu = Environment.objects.create(slug="production-eu", name="EU", is_production=True)
        Deploy.objects.filter(pk=rows["d1"].pk).update(environment=eu)
        assert_exact()
        # What the admin does after such an edit: a1 and a2 are now first in the EU, and a1's row
        # in d3 is now its first delivery to production (the main region).
        commit_deliveries_refresh(shas=["a1", "a2"])
        assert_exact()
        eu_march = through_both(first=MARCH, last=MARCH, filters=Filters(environments=("production-eu",)))
        assert eu_march.totals.lead_time_seconds.median == (3600 + 7200) / 2
        main = through_both(first=MARCH, last=MARCH, filters=Filters(environments=("production",)))
        assert main.totals.lead_time_seconds.median == 9000  # a3 60, a1 9000, b1 86400
        weeks = through_both(
            report=weekly_report, first=MARCH, last=APRIL, filters=Filters(environments=("production-eu",))
        )
        assert [p.lead_time_seconds.median for p in weeks.periods if p.lead_time_seconds.median] == [5400]

    def test_environment_and_team_edits_need_no_upkeep(self, rows):
        # Joined at report time: no rollup row changes, the report changes with them.
        before = stored()
        Environment.objects.filter(slug="staging").update(is_production=True)
        Service.objects.filter(slug="api").update(dev_team="search-team")
        assert stored() == before
        march = through_both(first=MARCH, last=MARCH, filters=Filters(teams=("search-team",))).periods[0]
        assert (march.deploys, march.deployers) == (2, 2)
        staging = through_both(first=MARCH, last=MARCH, filters=Filters(environments=("staging",))).periods[0]
        assert staging.deploys == 1

    def test_raw_sql_in_either_order_under_deferred_foreign_keys(self, rows):
        web = Service.objects.get(slug="web")
        production = Environment.objects.get(slug="production")
        with transaction.atomic(), connection.cursor() as cursor:
            # A commit before its deploy, then the deploy; a deploy deleted before its commits.
            cursor.execute(
                "INSERT INTO deploys_deploycommit (deploy_id, sha, authored_at, message, first_delivered_at, "
                "lead_seconds) VALUES (999999, 'raw', now(), '', '2024-03-20T00:00:00Z', 42.5)"
            )
            cursor.execute(
                "INSERT INTO deploys_deploy (id, service_id, environment_id, version, previous_version, deployer, "
                "message, deployed_at, status, diff_url, external_id, created_at) VALUES (999999, %s, %s, 'r', '', "
                "'raw', '', '2024-03-20T00:00:00Z', 'succeeded', '', '', now())",
                [web.pk, production.pk],
            )
        assert_exact()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM deploys_deploy WHERE id IN (999999, %s)", [rows["d3"].pk])
            cursor.execute("DELETE FROM deploys_deploycommit WHERE deploy_id IN (999999, %s)", [rows["d3"].pk])
        assert_exact()

    def test_copy(self, rows):
        """COPY, as bench/reports.py loads its data: one statement of many rows, counted once by the
        statement-level triggers, per month and per week."""
        web = Service.objects.get(slug="web")
        production = Environment.objects.get(slug="production")
        start = dt.datetime(2024, 3, 29, 20, tzinfo=UTC)  # across the end of March and of a week
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(
                "COPY deploys_deploy (id, service_id, environment_id, version, previous_version, deployer, message, "
                "deployed_at, status, diff_url, external_id, created_at) FROM STDIN"
            ) as copy:
                for n in range(30):
                    at = start + dt.timedelta(hours=5 * n)
                    status = "rolled_back" if n % 4 == 0 else "failed" if n % 7 == 0 else "succeeded"
                    copy.write_row(
                        (800000 + n, web.pk, production.pk, f"c{n}", "", f"dev{n % 3}", "", at, status, "", "", at)
                    )
            with cursor.cursor.copy(
                "COPY deploys_deploycommit (deploy_id, sha, authored_at, message, first_delivered_at, lead_seconds) "
                "FROM STDIN"
            ) as copy:
                for n in range(30):
                    at = start + dt.timedelta(hours=5 * n)
                    # As deploys.services sets them: a first delivery only for a deploy that went live.
                    live = n % 4 == 0 or n % 7 != 0
                    copy.write_row(
                        (
                            800000 + n,
                            f"copy{n}",
                            at - dt.timedelta(seconds=60 * n + 1),
                            "",
                            at if live else None,
                            60.0 * n + 1 if live else None,
                        )
                    )
        assert_exact()
        through_both(report=weekly_report, first=MARCH, last=APRIL)
        through_both(first=MARCH, last=APRIL)

    def test_truncate_empties_it(self, rows):
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending foreign-key checks
            cursor.execute("TRUNCATE deploys_deploy CASCADE")
        assert stored() == ({}, {})
        assert stored(weeks=True) == ({}, {})
        assert stored_by_environment() == stored_by_environment(weeks=True) == {}
        assert stored_over_all_services() == stored_over_all_services("month") == ({}, {})

    def test_each_write_folds_a_keys_rows_into_one(self, rows):
        from reports.models import DeployRollup

        at = dt.datetime(2024, 3, 15, tzinfo=UTC)
        for n in range(5):
            record("web", at + dt.timedelta(minutes=n))
        assert_exact()
        # With no other transaction holding them, each statement folded the key's rows into its own.
        key = DeployRollup.objects.filter(month=MARCH, deployer="ann", service_id=rows["d1"].service_id)
        assert key.count() == 1


# --- The reporting time zone ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.postgres_only(reason="the rollups exist on PostgreSQL only")
def test_a_zone_change_falls_back_to_the_scan_until_the_rollup_is_rebuilt(rows, settings):
    # 23:30 UTC on 31 March is April in Berlin.
    record("web", dt.datetime(2024, 3, 31, 23, 30, tzinfo=UTC), deployer="late", commits=[("z1", 100)])
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "Europe/Berlin"

    with CaptureQueriesContext(connection) as ctx:
        scanned = monthly_report(first=MARCH, last=APRIL)
    assert not reads_rollups(ctx.captured_queries)
    assert [p.deploys for p in scanned.periods] == [3, 2]
    # Meanwhile the triggers keep it exact in the zone it was built in.
    record("api", dt.datetime(2024, 4, 10, tzinfo=UTC), commits=[("z2", 200)])
    assert rollup_zone() == "UTC"
    assert_exact()

    out = io.StringIO()
    call_command("rebuild_report_rollup", stdout=out)

    assert "Europe/Berlin" in out.getvalue()
    assert rollup_zone() == "Europe/Berlin"
    assert_exact()
    report = through_both(first=MARCH, last=APRIL)
    assert [p.deploys for p in report.periods] == [3, 3]
    assert through_both(report=yearly_report, first=MARCH, last=APRIL).periods[0].deploys == 6
    # 23:30 UTC on Sunday 31 March is Monday 1 April in Berlin: the next ISO week.
    weeks = through_both(report=weekly_report, first=dt.date(2024, 3, 25), last=dt.date(2024, 4, 1))
    assert [p.deploys for p in weeks.periods] == [0, 2]  # late, d5 (api's on 10 April is a week later)


@pytest.mark.django_db
def test_the_rebuild_command_does_nothing_on_sqlite():
    out = io.StringIO()
    call_command("rebuild_report_rollup", stdout=out)
    if connection.vendor == "postgresql":
        assert "rebuilt" in out.getvalue()
    else:
        assert "PostgreSQL only" in out.getvalue()
        assert rollup_zone() is None


# --- Concurrency ------------------------------------------------------------------------------------

WRITERS = 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
def test_concurrent_writers_on_their_own_connections_keep_it_exact():
    """Single and bulk ingests, status changes and deletes from several connections at once, all on
    the same few keys (one month, two services, two deployers): no deadlock, no lost count."""
    at = dt.datetime(2024, 3, 10, tzinfo=UTC)
    errors = []

    def write(n):
        try:
            for k in range(6):
                deploy = record(
                    "web" if k % 2 else "api",
                    at + dt.timedelta(minutes=n * 100 + k),
                    deployer=f"dev{k % 2}",
                    commits=[(f"w{n}-{k}", 600 + k), ("shared", 60 * (n + 1))],
                )
                if k == 3:
                    Deploy.objects.filter(pk=deploy.pk).update(status="rolled_back")
                if k == 4:
                    with transaction.atomic():
                        shas = list(deploy.commits.values_list("sha", flat=True))
                        deploy.delete()
                        commit_deliveries_refresh(shas=shas)
            deploy_record_bulk(
                rules=None,  # short made-up shas ("a1"): this tests the report, not the deploy contract
                items=[
                    DeployInput(
                        service="web",
                        environment="production",
                        version=f"{n}-{m}",
                        deployer=f"dev{m % 2}",
                        deployed_at=at + dt.timedelta(hours=n, minutes=m),
                        commits=[CommitInput(sha=f"bulk{n}-{m}", authored_at=at - dt.timedelta(hours=m))],
                    )
                    for m in range(25)
                ],
            )
        except Exception as error:  # reported below, with the thread's number
            errors.append((n, repr(error)))

    at_once(WRITERS, write)

    assert errors == []
    assert Deploy.objects.count() == WRITERS * (6 - 1 + 25)
    assert_exact()
    through_both(first=MARCH, last=MARCH, filters=Filters(services=("web",)))
    through_both(report=weekly_report, first=MARCH, last=MARCH, filters=Filters(services=("web",)))


# --- Lead-time medians: the bucket and offset arithmetic ----------------------------------------


# Values bunched into a few buckets, with ties, so middle values share buckets, sit at a bucket's
# first or last place, or straddle two buckets.
leads = st.one_of(
    st.sampled_from([59.0, 60.0, 61.0, 3600.0, 3600.5, 3601.0, 3700.0, 86400.0]),
    st.floats(min_value=1e-3, max_value=3e7, allow_nan=False),
    st.integers(1, 200).map(float),
)
commit_rows = st.lists(st.tuples(st.sampled_from(["web", "api"]), st.integers(0, 89), leads), max_size=40)


@pytest.mark.django_db
@pytest.mark.postgres_only(reason="the rollups exist on PostgreSQL only")
@hypothesis_settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commit_rows, st.sampled_from([(), ("web",)]))
def test_lead_time_medians_match_percentile_cont_to_the_bit(data, services):
    DeployCommit.objects.all().delete()
    Deploy.objects.all().delete()
    production = Environment.objects.get(slug="production")
    by_slug = {slug: Service.objects.get_or_create(slug=slug)[0] for slug in ("web", "api")}
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    deploys = Deploy.objects.bulk_create(
        [
            Deploy(
                service=by_slug[service],
                environment=production,
                version=str(n),
                deployer="ann",
                deployed_at=start + dt.timedelta(days=day),
            )
            for n, (service, day, _) in enumerate(data)
        ]
    )
    # The first-delivery fields as deploys.services would set them (each sha shipped once).
    DeployCommit.objects.bulk_create(
        [
            DeployCommit(
                deploy=deploy,
                sha=f"s{n}",
                authored_at=deploy.deployed_at - dt.timedelta(seconds=lead),
                first_delivered_at=deploy.deployed_at,
                lead_seconds=lead,
            )
            for n, (deploy, (_, _, lead)) in enumerate(zip(deploys, data))
        ]
    )
    assert_exact()
    through_both(first=dt.date(2024, 1, 1), last=dt.date(2024, 3, 1), filters=Filters(services=services))
    through_both(
        report=weekly_report, first=dt.date(2024, 1, 1), last=dt.date(2024, 3, 31), filters=Filters(services=services)
    )


@on_postgres
def test_triggers_work_under_an_empty_search_path_as_pg_restore_sets(rows):
    deploy = Deploy.objects.filter(status="succeeded").first()

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL search_path TO ''")
        cursor.execute("UPDATE public.deploys_deploy SET deployer = 'restored' WHERE id = %s", [deploy.pk])
        cursor.execute("UPDATE public.deploys_deploycommit SET lead_seconds = lead_seconds + 1")
        cursor.execute("SET LOCAL search_path TO DEFAULT")  # the test's own transaction goes on

    assert_exact()


@on_postgres
def test_a_drifted_lead_time_rollup_falls_back_to_the_scan(rows):
    """Rows changed with triggers off (a restore with --disable-triggers): the report notices
    that the rollup promises values the commits don't have, and reads them the slow way."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM deploys_deploycommit WHERE lead_seconds IS NOT NULL")

    report = monthly_report(first=MARCH, last=APRIL)

    assert [p.lead_time_seconds.median for p in report.periods] == [None, None]
    assert report.totals.lead_time_seconds.median is None


@on_postgres
def test_a_zone_mismatch_is_logged_once(rows, settings, caplog, monkeypatch):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "America/Chicago"
    monkeypatch.setattr(selectors, "_warned_zones", set())  # once per process: earlier tests warned

    monthly_report(first=MARCH, last=APRIL)
    monthly_report(first=MARCH, last=APRIL)

    warnings = [r.getMessage() for r in caplog.records if "rebuild_report_rollup" in r.getMessage()]
    assert len(warnings) == 1 and "America/Chicago" in warnings[0]


@on_postgres
def test_the_check_finds_drift_and_a_rebuild_mends_it(rows):
    from django.core.management import CommandError

    out = io.StringIO()
    call_command("rebuild_report_rollup", "--check", stdout=out)
    assert "match" in out.getvalue()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM deploys_deploycommit WHERE sha = 'a3'")
        cursor.execute("UPDATE deploys_deploy SET deployer = 'someone else' WHERE deployer = 'cy'")

    # cy's deploy moved to another deployer: two deploy keys; a3 gone: one lead-time bucket.
    with pytest.raises(CommandError, match=r"2 deploy key\(s\) and 1 lead-time key\(s\)"):
        call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())

    call_command("rebuild_report_rollup", stdout=io.StringIO())
    call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    assert_exact()


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_rebuild_gives_up_rather_than_queue_behind_a_long_write(settings):
    """Another connection holds a write lock on deploys: the rebuild says so after its lock timeout
    instead of making every ingest wait behind it; the rollups are left as they were."""
    import psycopg
    from django.core.management import CommandError

    from deploys.factories import DeployFactory

    DeployFactory()
    params = connection.get_connection_params()
    other = psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=False)
    try:
        other.execute("LOCK TABLE deploys_deploy IN ROW EXCLUSIVE MODE")
        with pytest.raises(CommandError, match="stayed locked by other writes for 0.2 s"):
            call_command("rebuild_report_rollup", "--lock-timeout", "0.2", stdout=io.StringIO())
    finally:
        other.rollback()
        other.close()
    assert_exact()


@on_postgres
def test_the_check_finds_drift_in_the_week_rollups_too(rows):
    from django.core.management import CommandError

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM reports_leadtimeweekrollup")
        cursor.execute("UPDATE reports_deployweekrollup SET deploys = deploys + 1 WHERE deployer = 'cy'")

    # cy's week is one deploy key; every lead-time key is gone.
    with pytest.raises(CommandError, match=r"weekly report rollups differ from a recount in 1 deploy key\(s\)"):
        call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())

    call_command("rebuild_report_rollup", stdout=io.StringIO())
    call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    assert_exact()


@on_postgres
def test_the_check_finds_drift_in_the_rollup_by_environment_too(rows):
    from django.core.management import CommandError

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE deploys_deploycommit SET env_lead_seconds = 1e7 WHERE sha = 'd1'")

    # d1 left one bucket of April (and of its week) for another.
    with pytest.raises(CommandError, match=r"rollups by environment differ from a recount in 2 monthly and 2 weekly"):
        call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    # Meanwhile the report notices that the rollup promises a value the commits don't have, and
    # reads the lead times from the deploys' and commits' times: d1 and d2 both 500 s.
    april = monthly_report(first=APRIL, last=APRIL, filters=Filters(environments=("production",)))
    assert april.totals.lead_time_seconds.median == 500

    call_command("rebuild_report_rollup", stdout=io.StringIO())
    call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    assert_exact()


@on_postgres
def test_the_check_finds_drift_in_the_monthly_rollups_over_all_services_too(rows):
    from django.core.management import CommandError

    with connection.cursor() as cursor:
        cursor.execute("UPDATE reports_deploymonthallrollup SET rolled_back = rolled_back + 1 WHERE deployer = 'bob'")
        cursor.execute("DELETE FROM reports_leadtimemonthallrollup WHERE month = '2024-04-01'")

    # bob deployed to production and to staging in March; April's commits (d5's) share one bucket.
    with pytest.raises(
        CommandError,
        match=r"monthly report rollups over all services differ from a recount in 2 deploy key\(s\) and 1 lead",
    ):
        call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())

    call_command("rebuild_report_rollup", stdout=io.StringIO())
    call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    assert_exact()


@on_postgres
def test_the_check_finds_drift_in_the_weekly_rollups_over_all_services_too(rows):
    from django.core.management import CommandError

    with connection.cursor() as cursor:
        cursor.execute("UPDATE reports_deployweekallrollup SET rolled_back = rolled_back + 1 WHERE deployer = 'bob'")
        cursor.execute("DELETE FROM reports_leadtimeweekallrollup WHERE week = '2024-04-01'")

    # bob deployed in two weeks (d2, and d4 to staging); d5's week had one bucket (d1, d2: 500 s each).
    with pytest.raises(CommandError, match=r"over all services differ from a recount in 2 deploy key\(s\) and 1 lead"):
        call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())

    call_command("rebuild_report_rollup", stdout=io.StringIO())
    call_command("rebuild_report_rollup", "--check", stdout=io.StringIO())
    assert_exact()


@on_postgres
def test_a_week_crossing_summer_time_and_a_month_is_one_bucket(db, settings):
    """New York, 2026-W44: Monday 26 October to Sunday 1 November, when summer time ends (169 hours).
    Its first and last instants land in it, the instants either side in the weeks around it."""
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "America/New_York"
    call_command("rebuild_report_rollup", stdout=io.StringIO())
    edges = [
        ("before", dt.datetime(2026, 10, 26, 3, 59, 59, tzinfo=UTC)),  # Sunday 25 Oct 23:59:59 EDT
        ("first", dt.datetime(2026, 10, 26, 4, tzinfo=UTC)),  # Monday 00:00 EDT
        ("november", dt.datetime(2026, 11, 1, 12, tzinfo=UTC)),  # Sunday 1 Nov 07:00 EST
        ("last", dt.datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC)),  # Sunday 23:59:59 EST
        ("after", dt.datetime(2026, 11, 2, 5, tzinfo=UTC)),  # Monday 2 Nov 00:00 EST
    ]
    for deployer, moment in edges:
        record("web", moment, deployer=deployer, commits=[(deployer, 60)])

    assert_exact()
    weeks = through_both(report=weekly_report, first=dt.date(2026, 10, 19), last=dt.date(2026, 11, 2))
    assert [(p.start, p.deploys) for p in weeks.periods] == [
        (dt.date(2026, 10, 19), 1),
        (dt.date(2026, 10, 26), 3),
        (dt.date(2026, 11, 2), 1),
    ]
    assert (selectors.report_zone().utcoffset(dt.datetime(2026, 10, 26)), weeks.periods[1].days) == (
        dt.timedelta(hours=-4),
        7,
    )
