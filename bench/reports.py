"""Benchmark: the monthly report over ten years of data on PostgreSQL.

Loads (once; later runs reuse it) 1,000,000 production deploys over 10 years plus staging
deploys, 2,000,000 commits and 50,000 incidents (a fifth linked to a causing deploy) into the
database named by DATABASE_URL, then times:

- the 120-month report through the selector,
- the same through the API (`/api/reports/monthly/`),
- the 12-month dashboard page,
- and, on the same data, one hand-written `GROUP BY` counting deploys per month: the baseline,

and the report's peak Python memory above the process's baseline (tracemalloc).

The report reads the per-month rollups (reports.models, kept by triggers, so the `COPY` below fills
them too); it is also timed with them set aside — as right after a change of
OPSLOG_REPORT_TIME_ZONE, until `rebuild_report_rollup` — and both answers must be equal.

    createdb -h 127.0.0.1 -U postgres opslog_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opslog_bench .venv/bin/python bench/reports.py

Options: --deploys N (default 1,000,000), --repeat N (timings are the median of N runs, default 5),
--reload (drop the loaded data and load again).
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The test settings: the real ones with static files served without a collectstatic manifest.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

START = dt.datetime(2016, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MARKER = "bench-loaded"


def copy_rows(table: str, columns: list[str], rows) -> int:
    """COPY rows into a table, streaming in chunks."""
    count = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def load(deploys: int) -> None:
    from deploys.models import Environment, Service

    rng = random.Random(2010)
    services = [
        Service.objects.get_or_create(slug=s, defaults={"name": s, "dev_team": t})[0]
        for s, t in [
            ("web", "storefront"),
            ("api", "platform"),
            ("search", "discovery"),
            ("payments", "checkout"),
            ("images", "platform"),
        ]
    ]
    production = Environment.objects.get(slug="production")
    staging = Environment.objects.get(slug="staging")
    span = (END - START).total_seconds()
    deployers = [f"dev{n:03d}" for n in range(120)]
    started = time.perf_counter()

    def deploy_rows():
        for n in range(deploys):
            # Volume grows over the decade: later times are likelier.
            at = START + dt.timedelta(seconds=span * (rng.random() ** 0.7))
            status = "rolled_back" if rng.random() < 0.02 else "failed" if rng.random() < 0.02 else "succeeded"
            yield (
                rng.choice(services).pk,
                production.pk,
                str(100000 + n),
                "",
                rng.choice(deployers),
                "Production deploy",
                at,
                42.0,
                status,
                "",
                f"{MARKER}-{n}",
                at,
            )
        for n in range(deploys // 4):
            at = START + dt.timedelta(seconds=span * rng.random())
            yield (
                rng.choice(services).pk,
                staging.pk,
                str(5000000 + n),
                "",
                rng.choice(deployers),
                "Staging deploy",
                at,
                30.0,
                "succeeded",
                "",
                f"{MARKER}-s{n}",
                at,
            )

    columns = [
        "service_id",
        "environment_id",
        "version",
        "previous_version",
        "deployer",
        "message",
        "deployed_at",
        "duration_seconds",
        "status",
        "diff_url",
        "external_id",
        "created_at",
    ]
    print(f"loading {deploys:,} production deploys (+{deploys // 4:,} staging)…", flush=True)
    copy_rows("deploys_deploy", columns, deploy_rows())

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, deployed_at FROM deploys_deploy WHERE environment_id = %s AND external_id LIKE %s ORDER BY id",
            [production.pk, f"{MARKER}-%"],
        )
        production_deploys = cursor.fetchall()

    def commit_rows():
        # Two commits per production deploy; one in ten is shipped again by a later deploy.
        previous = None
        for deploy_id, deployed_at in production_deploys:
            for k in range(2):
                sha = f"{deploy_id:012x}{k:028x}"
                yield (deploy_id, sha, deployed_at - dt.timedelta(seconds=rng.uniform(60, 5 * 86400)), "")
            if previous and rng.random() < 0.1:
                yield (deploy_id, previous[0], previous[1], "")
            previous = (f"{deploy_id:012x}{0:028x}", deployed_at - dt.timedelta(days=6))

    print("loading about 2,000,000 commits…", flush=True)
    copy_rows("deploys_deploycommit", ["deploy_id", "sha", "authored_at", "message"], commit_rows())

    incidents = 50_000

    def incident_rows():
        for n in range(incidents):
            at = START + dt.timedelta(seconds=span * rng.random())
            detected = at + dt.timedelta(seconds=rng.uniform(10, 7200))
            resolved = detected + dt.timedelta(seconds=rng.uniform(60, 86400)) if rng.random() < 0.98 else None
            yield (
                f"Incident {n}",
                rng.randint(1, 4),
                at,
                detected,
                None,
                None,
                resolved,
                "monitoring",
                "",
                "",
                "",
                "[]",
                "bench",
                f"{MARKER}-{n}",
                at,
                at,
                "",
                "",
                "",
                "",
            )

    print(f"loading {incidents:,} incidents…", flush=True)
    copy_rows(
        "incidents_incident",
        [
            "title",
            "severity",
            "started_at",
            "detected_at",
            "acknowledged_at",
            "mitigated_at",
            "resolved_at",
            "detected_by",
            "detection_source",
            "summary",
            "commander",
            "participants",
            "source",
            "external_id",
            "created_at",
            "updated_at",
            "archive_reason",
            # Added since this was written: NOT NULL without a database default.
            "summary_html",
            "comms_lead",
            "scribe",
        ],
        incident_rows(),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM incidents_incident WHERE source = 'bench' ORDER BY id")
        incident_ids = [row[0] for row in cursor.fetchall()]
    deploy_ids = [row[0] for row in production_deploys]
    copy_rows(
        "incidents_incident_services",
        ["incident_id", "service_id"],
        ((i, rng.choice(services).pk) for i in incident_ids),
    )
    copy_rows(
        "incidents_incidentdeploy",
        ["incident_id", "deploy_id", "relation", "note", "created_at"],
        ((i, rng.choice(deploy_ids), "cause", "", START) for i in incident_ids[: incidents // 5]),
    )
    print("marking each sha's first production delivery…", flush=True)
    with connection.cursor() as cursor:
        # The rule of deploys.services.commit_deliveries_refresh, in one statement for the bulk load.
        cursor.execute(
            """UPDATE deploys_deploycommit c
               SET first_delivered_at = f.deployed_at,
                   lead_seconds = CASE WHEN c.authored_at < f.deployed_at
                                       THEN EXTRACT(EPOCH FROM f.deployed_at - c.authored_at) END
               FROM (SELECT DISTINCT ON (c2.sha) c2.id, d.deployed_at
                     FROM deploys_deploycommit c2
                     JOIN deploys_deploy d ON d.id = c2.deploy_id
                     JOIN deploys_environment e ON e.id = d.environment_id
                     WHERE e.is_production AND d.status IN ('succeeded', 'rolled_back')
                     ORDER BY c2.sha, d.deployed_at, d.id) f
               WHERE c.id = f.id"""
        )
        # VACUUM too: index-only scans need the visibility map it writes.
        cursor.execute("VACUUM ANALYZE")
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)


def loaded() -> bool:
    from deploys.models import Deploy

    return Deploy.objects.filter(external_id=f"{MARKER}-0").exists()


def wipe() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE deploys_deploy, deploys_deploycommit, incidents_incident, "
            "incidents_incident_services, incidents_incidentdeploy, incidents_timelineentry CASCADE"
        )
    call_command("flush", interactive=False, verbosity=0)


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deploys", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/reports.py runs on PostgreSQL: set DATABASE_URL=postgres://…/opslog_bench")

    call_command("migrate", verbosity=0)
    if args.reload:
        wipe()
    if not loaded():
        load(args.deploys)

    from django.contrib.auth import get_user_model
    from django.test import Client

    from deploys.services import api_token_create
    from reports import selectors
    from reports.selectors import monthly_report

    user, _ = get_user_model().objects.get_or_create(username="bench")
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
    browser = Client()
    browser.force_login(user)

    first, last = dt.date(2016, 1, 1), dt.date(2025, 12, 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM deploys_deploy")
        deploy_rows = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM deploys_deploycommit")
        commit_rows = cursor.fetchone()[0]

    def baseline():
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT date_trunc('month', d.deployed_at AT TIME ZONE 'UTC') AS month, count(*)
                   FROM deploys_deploy d JOIN deploys_environment e ON e.id = d.environment_id
                   WHERE e.is_production AND d.status IN ('succeeded', 'rolled_back')
                     AND d.deployed_at >= %s AND d.deployed_at < %s
                   GROUP BY 1 ORDER BY 1""",
                [START, END],
            )
            return cursor.fetchall()

    def report():
        return monthly_report(first=first, last=last)

    def scan():
        real, selectors.rollup_zone = selectors.rollup_zone, lambda: None
        try:
            return report()
        finally:
            selectors.rollup_zone = real

    if selectors.rollup_zone() != settings.OPSLOG_REPORT_TIME_ZONE:
        sys.exit(
            f"the report rollups are in {selectors.rollup_zone()}, not {settings.OPSLOG_REPORT_TIME_ZONE}: "
            "run manage.py rebuild_report_rollup"
        )

    def through_api():
        response = api.get("/api/reports/monthly/?from=2016-01&to=2025-12")
        assert response.status_code == 200, response.content[:500]
        return response

    def dashboard():
        response = browser.get("/?from=2025-01&to=2025-12")
        assert response.status_code == 200
        return response

    report()  # warm the caches once, as a running server would be
    load_before = os.getloadavg()[0]
    baseline_s, rows = timed(baseline, args.repeat)
    report_s, result = timed(report, args.repeat)
    api_s, _ = timed(through_api, args.repeat)
    dashboard_s, _ = timed(dashboard, args.repeat)
    scan_s, scanned = timed(scan, min(args.repeat, 3))
    assert sum(p.deploys for p in result.periods) == sum(n for _, n in rows)
    assert result == scanned, "the rollups and the scan disagree"

    tracemalloc.start()
    baseline_memory = tracemalloc.get_traced_memory()[0]
    report()
    peak_memory = tracemalloc.get_traced_memory()[1] - baseline_memory
    tracemalloc.stop()

    print(f"data: {deploy_rows:,} deploys, {commit_rows:,} commits")
    print(f"1-minute load average: {load_before:.2f} before the timings, {os.getloadavg()[0]:.2f} after")
    print(f"baseline GROUP BY (deploys per month): {baseline_s * 1000:8.1f} ms")
    print(
        f"120-month report, selector:            {report_s * 1000:8.1f} ms  (goal < 1000 ms; "
        f"{report_s / baseline_s:.1f}x baseline, goal <= 3x)"
    )
    print(f"120-month report, API:                 {api_s * 1000:8.1f} ms")
    print(f"12-month dashboard page:               {dashboard_s * 1000:8.1f} ms  (goal < 300 ms)")
    print(f"120-month report without the rollups:  {scan_s * 1000:8.1f} ms  (same answer)")
    print(f"report peak Python memory:             {peak_memory / 1e6:8.1f} MB  (goal < 100 MB)")


if __name__ == "__main__":
    main()
