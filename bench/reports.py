"""Benchmark: the DORA report over ten years of data on PostgreSQL, every filter and period (#19).

Loads once (later runs reuse it; --reload drops and loads again) N production deploys over
2016–2025 (--deploys, default 1,000,000), a fifth in a second production environment, plus N/4
staging deploys, about 2.1 N commits (one deploy in ten ships the previous deploy's first commit
again), N/20 incidents (a fifth linked to a causing deploy, half of those to a remediating one),
2 % rolled back, 2 % failed, with COPY, into the database named by DATABASE_URL: use one database
per size (opslog_bench_1m, opslog_bench_10m). Each sha's first production delivery is worked out
while the commits are written, so no UPDATE over them is needed (--check-deliveries recounts it in
SQL). Then times, each the median of --repeat runs (default 5; fewer once a timing has taken
--budget seconds), beside the 1-minute load average:

- the baseline: one hand-written GROUP BY counting deploys per month;
- the 120-month report unfiltered and with every combination of one service, one team, one
  environment and one severity (16), and every period (week, quarter, year) unfiltered and with
  all four filters, each as a ratio to the baseline (goal ≤ 1.5×; at 10 M the unfiltered report
  ≤ 0.25×);
- the 12-month dashboard page (goal < 150 ms), the report through the API, the report with the
  rollups set aside (its answer must equal the rollups', or the run fails);
- a single deploy with two commits through deploys.services (median of --ingest-repeat, default
  200, each rolled back) on the loaded database and on an empty one (opslog_bench_empty, created
  when missing; goal within 1.5×).

    createdb -h 127.0.0.1 -U postgres opslog_bench_1m
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opslog_bench_1m .venv/bin/python bench/reports.py

--only runs a subset by name or word (e.g. --only "report month,dashboard,ingest" or --only
environment), --explain prints each query's time and the slowest query's plan, --verify checks
every report against the scan's answer, --load-only loads and stops.
"""

import argparse
import datetime as dt
import itertools
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from array import array
from bisect import bisect_right
from pathlib import Path

# The repository in place of bench/, whose markdown.py would shadow the markdown package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)
# The test settings: the real ones with static files served without a collectstatic manifest.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from reports.services import refresh_rollback_times  # noqa: E402

START = dt.datetime(2016, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MARKER = "bench-loaded"


SERVICES = [
    ("web", "storefront"),
    ("api", "platform"),
    ("search", "discovery"),
    ("payments", "checkout"),
    ("images", "platform"),
]
# The database's size per production deploy loaded (with its staging deploys, commits, incidents,
# links, indexes and rollups), measured on the 1 M load; used to refuse a load the disk can't hold.
BYTES_PER_DEPLOY = 1_900


def copy_rows(table: str, columns: list[str], rows) -> int:
    """COPY rows into a table, streaming in chunks."""
    count = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def check_disk(deploys: int) -> None:
    """Estimate the load's size and stop when the disk can't hold twice that (WAL, VACUUM)."""
    need = deploys * BYTES_PER_DEPLOY
    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        directory = cursor.fetchone()[0]
    try:
        free = shutil.disk_usage(directory).free
    except OSError:  # not readable by this user: the filesystem holding this checkout, then
        free = shutil.disk_usage(Path(__file__).resolve().parent).free
    print(f"estimated size: {need / 1e9:.1f} GB; free: {free / 1e9:.1f} GB", flush=True)
    if free < 2 * need:
        sys.exit("not enough free disk for this load (twice the estimate, for WAL and VACUUM)")


def load(deploys: int) -> None:
    """Load `deploys` production deploys and everything proportional to them, with COPY.

    Deploys are generated in time order (ids grow with deployed_at, as ingest makes them); a
    fifth go to a second production environment, `production-eu`, so the environment filter picks
    a real subset. Each production deploy ships two commits, and one in ten also ships the previous
    deploy's first commit again (often in the other production environment), so the first delivery
    to one environment isn't always the first delivery to production. The first production delivery
    of each sha (deploys.services.commit_deliveries_refresh's rule: the earliest counted production
    deploy, ties by lower id) is worked out here, in the pass that writes the commits, so no UPDATE
    over the commits is needed at any size; `check_deliveries` recounts it in SQL, in batches.

    50,000 incidents per million deploys over the decade; a fifth linked as caused by a production
    deploy up to 4 hours before they started, and half of those remediated by a deploy up to 6 hours
    after. 2 % of production deploys are rolled back, 2 % failed.
    """
    from deploys.models import Environment, Service

    check_disk(deploys)
    rng = random.Random(2010)
    services = [Service.objects.get_or_create(slug=s, defaults={"name": s, "dev_team": t})[0].pk for s, t in SERVICES]
    # get_or_create: --reload's flush empties the environments the migration made.
    production = Environment.objects.get_or_create(slug="production", defaults={"is_production": True})[0].pk
    eu = Environment.objects.get_or_create(
        slug="production-eu", defaults={"name": "Production (EU)", "is_production": True}
    )[0].pk
    staging = Environment.objects.get_or_create(slug="staging")[0].pk
    span = (END - START).total_seconds()
    start_ts = START.timestamp()
    deployers = [f"dev{n:03d}" for n in range(120)]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM deploys_deploy")
        base = cursor.fetchone()[0] + 1

    def when(ts: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts, dt.UTC)

    # Everything about the production deploys first, in compact arrays: deploy n has id base + n.
    # Times are whole microseconds (what the database keeps), sorted. Volume grows over the decade.
    print(f"drawing {deploys:,} production deploys…", flush=True)
    at = array("d", sorted(round(start_ts + span * (rng.random() ** 0.7), 6) for _ in range(deploys)))
    service = array("b", (rng.randrange(len(services)) for _ in range(deploys)))
    in_eu = array("b", (rng.random() < 0.2 for _ in range(deploys)))
    # 0 succeeded, 1 rolled back, 2 failed (not counted).
    status = array("b", (1 if rng.random() < 0.02 else 2 if rng.random() < 0.02 else 0 for _ in range(deploys)))
    # Deploy n ships deploy n - 1's first commit again.
    again = array("b", (n > 0 and rng.random() < 0.1 for n in range(deploys)))
    statuses = ("succeeded", "rolled_back", "failed")

    def deploy_rows():
        for n in range(deploys):
            moment = when(at[n])
            yield (
                base + n,
                services[service[n]],
                eu if in_eu[n] else production,
                str(100000 + n),
                "",
                rng.choice(deployers),
                "Production deploy",
                moment,
                42.0,
                statuses[status[n]],
                "",
                f"{MARKER}-{n}",
                moment,
            )
        for n in range(deploys // 4):
            moment = START + dt.timedelta(seconds=span * rng.random())
            yield (
                base + deploys + n,
                rng.choice(services),
                staging,
                str(50000000 + n),
                "",
                rng.choice(deployers),
                "Staging deploy",
                moment,
                30.0,
                "succeeded",
                "",
                f"{MARKER}-s{n}",
                moment,
            )

    columns = ["id", "service_id", "environment_id", "version", "previous_version", "deployer", "message"]
    columns += ["deployed_at", "duration_seconds", "status", "diff_url", "external_id", "created_at"]
    print(f"loading {deploys:,} production deploys (+{deploys // 4:,} staging)…", flush=True)
    copy_rows("deploys_deploy", columns, deploy_rows())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('deploys_deploy', 'id'), (SELECT max(id) FROM deploys_deploy))"
        )
    print(f"  deploys loaded at {time.perf_counter() - started:.0f} s", flush=True)

    def row(deploy_id: int, sha: str, authored: dt.datetime, delivered: dt.datetime | None, env_first: bool):
        # (first production delivery, its lead) and (first delivery to the deploy's environment, its lead)
        lead = (delivered - authored).total_seconds() if delivered and authored < delivered else None
        values = (delivered, lead) if delivered is not None else (None, None)
        env_values = (None, None, None)
        if env_first:
            env_values = (deployed_at(deploy_id), env_lead(deploy_id, authored), environment(deploy_id))
        return (deploy_id, sha, authored, "", *values, *env_values)

    def deployed_at(deploy_id: int) -> dt.datetime:
        return when(at[deploy_id - base])

    def environment(deploy_id: int) -> int:
        return eu if in_eu[deploy_id - base] else production

    def env_lead(deploy_id: int, authored: dt.datetime) -> float | None:
        delivered = deployed_at(deploy_id)
        return (delivered - authored).total_seconds() if authored < delivered else None

    def commit_rows():
        # Times sorted and ids growing: of a sha's two rows (deploy n, and deploy n + 1 shipping it
        # again) the first delivery is deploy n's row when n counts, else n + 1's when that counts;
        # the first to n + 1's environment is n + 1's row unless n counts in the same environment.
        for n in range(deploys):
            deployed = when(at[n])
            counted = status[n] != 2
            for k in range(2):
                authored = when(round(at[n] - rng.uniform(60, 5 * 86400), 6))
                yield row(base + n, f"{base + n:012x}{k:028x}", authored, deployed if counted else None, counted)
            if again[n]:
                authored = when(round(at[n - 1] - 6 * 86400, 6))
                first = counted and status[n - 1] == 2
                env_first = counted and not (status[n - 1] != 2 and in_eu[n - 1] == in_eu[n])
                yield row(base + n, f"{base + n - 1:012x}{0:028x}", authored, deployed if first else None, env_first)

    print(f"loading about {deploys * 21 // 10:,} commits…", flush=True)
    copy_rows(
        "deploys_deploycommit",
        ["deploy_id", "sha", "authored_at", "message", "first_delivered_at", "lead_seconds"]
        + ["env_first_delivered_at", "env_lead_seconds", "env_delivered_to_id"],
        commit_rows(),
    )
    print(f"  commits loaded at {time.perf_counter() - started:.0f} s", flush=True)

    incidents = deploys // 20
    linked = incidents // 5
    causes: list[tuple[int, int, int | None]] = []  # (incident n, cause deploy n, remediation deploy n)

    def incident_rows():
        for n in range(incidents):
            if n < linked:
                cause = rng.randrange(deploys)
                begin = at[cause] + rng.uniform(60, 4 * 3600)
                fix = bisect_right(at, begin + rng.uniform(600, 6 * 3600)) if rng.random() < 0.5 else None
                causes.append((n, cause, fix if fix is not None and fix < deploys else None))
            else:
                begin = start_ts + span * rng.random()
            begin = round(begin, 6)
            detected = begin + rng.uniform(10, 7200)
            resolved = detected + rng.uniform(60, 86400) if rng.random() < 0.98 else None
            yield (
                f"Incident {n}",
                rng.randint(1, 4),
                when(begin),
                when(round(detected, 6)),
                None,
                None,
                when(round(resolved, 6)) if resolved is not None else None,
                "monitoring",
                "",
                "",
                "",
                "[]",
                "bench",
                f"{MARKER}-{n}",
                when(begin),
                when(begin),
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
        incident_ids = [r[0] for r in cursor.fetchall()]
    caused_by = {n: cause for n, cause, _ in causes}
    # A linked incident affects its cause's service; the others a random one.
    copy_rows(
        "incidents_incident_services",
        ["incident_id", "service_id"],
        (
            (i, services[service[caused_by[n]]] if n in caused_by else rng.choice(services))
            for n, i in enumerate(incident_ids)
        ),
    )

    def link_rows():
        for n, cause, fix in causes:
            yield (incident_ids[n], base + cause, "cause", "", START)
            if fix is not None:
                yield (incident_ids[n], base + fix, "remediation", "", START)

    copy_rows("incidents_incidentdeploy", ["incident_id", "deploy_id", "relation", "note", "created_at"], link_rows())
    print(f"  incidents loaded at {time.perf_counter() - started:.0f} s; VACUUM ANALYZE…", flush=True)
    refresh_rollback_times()  # as beat does every minute: the loaded deploys' rollback times kept
    with connection.cursor() as cursor:
        # VACUUM too: index-only scans need the visibility map it writes.
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT pg_database_size(current_database())")
        size = cursor.fetchone()[0]
    print(
        f"loaded in {time.perf_counter() - started:.0f} s; database {size / 1e9:.2f} GB "
        f"({size / deploys:.0f} bytes a production deploy)",
        flush=True,
    )


def check_deliveries(batch: int = 500_000) -> int:
    """Recount in SQL, in batches of deploy ids, which commit row is each sha's first production
    delivery (commit_deliveries_refresh's rule) and return how many rows disagree with the stored
    first_delivered_at and lead_seconds, or with env_first_delivered_at, env_lead_seconds and
    env_delivered_to_id (the same rule within each environment). The load's shas are shared only by neighbouring deploys, so
    reading every row of a batch's shas sees each sha whole."""
    wrong = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(deploy_id), max(deploy_id) FROM deploys_deploycommit")
        low, high = cursor.fetchone()
        if low is None:
            return 0
        for first in range(low, high + 1, batch):
            cursor.execute(
                """WITH c AS (
                       SELECT c.id, c.sha, c.authored_at, c.first_delivered_at, c.lead_seconds,
                              c.env_first_delivered_at, c.env_lead_seconds, c.env_delivered_to_id,
                              d.deployed_at, d.environment_id,
                              d.status IN ('succeeded', 'rolled_back') AS live, e.is_production, d.id AS deploy_id
                       FROM deploys_deploycommit c JOIN deploys_deploy d ON d.id = c.deploy_id
                       JOIN deploys_environment e ON e.id = d.environment_id
                       WHERE c.sha IN (SELECT sha FROM deploys_deploycommit WHERE deploy_id >= %s AND deploy_id < %s)
                   ), f AS (
                       SELECT DISTINCT ON (sha) id FROM c WHERE live AND is_production
                       ORDER BY sha, deployed_at, deploy_id
                   ), g AS (
                       SELECT DISTINCT ON (sha, environment_id) id FROM c WHERE live
                       ORDER BY sha, environment_id, deployed_at, deploy_id
                   )
                   SELECT count(*) FROM c LEFT JOIN f ON f.id = c.id LEFT JOIN g ON g.id = c.id
                   WHERE c.deploy_id >= %s AND c.deploy_id < %s
                     AND (c.first_delivered_at, c.lead_seconds, c.env_first_delivered_at, c.env_lead_seconds,
                          c.env_delivered_to_id)
                         IS DISTINCT FROM
                         (CASE WHEN f.id IS NOT NULL THEN c.deployed_at END,
                          CASE WHEN f.id IS NOT NULL AND c.authored_at < c.deployed_at
                               THEN EXTRACT(EPOCH FROM c.deployed_at - c.authored_at)::double precision END,
                          CASE WHEN g.id IS NOT NULL THEN c.deployed_at END,
                          CASE WHEN g.id IS NOT NULL AND c.authored_at < c.deployed_at
                               THEN EXTRACT(EPOCH FROM c.deployed_at - c.authored_at)::double precision END,
                          CASE WHEN g.id IS NOT NULL THEN c.environment_id END)""",
                [first, first + batch, first, first + batch],
            )
            wrong += cursor.fetchone()[0]
    return wrong


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


def timed(fn, repeat: int, budget: float = float("inf")) -> tuple[float, object, int]:
    """Median seconds of `repeat` runs of `fn`, its last answer, and the runs made: fewer when
    they have taken `budget` seconds already (a 10 M scan takes minutes a run)."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
        if sum(times) >= budget:
            break
    return statistics.median(times), result, len(times)


# The filters of the 16 combinations: one value each (api is a platform service).
FILTER_VALUES = {
    "service": ("services", ("api",)),
    "team": ("teams", ("platform",)),
    "environment": ("environments", ("production-eu",)),
    "severity": ("severities", (1,)),
}
FIRST, LAST = dt.date(2016, 1, 1), dt.date(2025, 12, 1)
REPORTS = {"week": "weekly_report", "month": "monthly_report", "quarter": "quarterly_report", "year": "yearly_report"}


def filters_of(names: tuple[str, ...]):
    from reports.engines.scope import Filters

    return Filters(**dict(FILTER_VALUES[name] for name in names))


def cases() -> list[tuple[str, str, object]]:
    """(name, goal, what) of every timing but the baseline: a report is ("report", grain, filter names)."""
    found = [("report month", "<= 1.5x", ("report", "month", ()))]
    names = list(FILTER_VALUES)
    for size in range(1, len(names) + 1):
        for combination in itertools.combinations(names, size):
            found.append((f"report month {'+'.join(combination)}", "<= 1.5x", ("report", "month", combination)))
    for grain in ("week", "quarter", "year"):
        found.append((f"report {grain}", "<= 1.5x", ("report", grain, ())))
    for grain in ("week", "quarter", "year"):  # month: among the combinations above
        found.append((f"report {grain} {'+'.join(names)}", "<= 1.5x", ("report", grain, tuple(names))))
    found += [
        ("dashboard", "< 150 ms", ("dashboard",)),
        # The inferred attribution rule (Filters(attribution="inferred")): its cause pairs are
        # worked out per incident, so timed apart.
        ("report month inferred", "<= 1.5x", ("inferred",)),
        ("dashboard inferred", "< 150 ms", ("dashboard inferred",)),
        ("api month", "", ("api",)),
        ("scan month", "same answer", ("scan",)),
    ]
    return found


def report_of(grain: str, names: tuple[str, ...]):
    from reports import selectors

    return getattr(selectors, REPORTS[grain])(first=FIRST, last=LAST, filters=filters_of(names))


class QueryTimes:
    """connection.execute_wrapper recording each query's time and text, for --explain."""

    def __init__(self) -> None:
        self.queries: list[tuple[float, str, object]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((time.perf_counter() - started, sql, params))


def explain(fn) -> None:
    """Run `fn` once, print each query's time, and EXPLAIN ANALYZE's summary of the slowest."""
    from reports import selectors

    recorder = QueryTimes()
    with connection.execute_wrapper(recorder):
        fn()
    for seconds, sql, _ in recorder.queries:
        text = " ".join(sql.split())
        print(f"      {seconds * 1000:8.1f} ms  {text[:150]}")
    seconds, sql, params = max(recorder.queries, key=lambda q: q[0])
    if seconds < 0.02 or not sql.lstrip().upper().startswith(("SELECT", "WITH")):
        return
    with selectors._report_transaction(postgres=True):
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params)
            plan = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    print("      slowest query's plan (nodes over 5 % of its time):")
    total = seconds * 1000
    for line in plan:
        match = re.search(r"actual time=[\d.]+\.\.([\d.]+) rows=\d+ loops=(\d+)", line)
        if match and float(match.group(1)) * int(match.group(2)) >= total * 0.05:
            print(f"        {line.rstrip()[:170]}")
        elif line.startswith(("Planning Time", "Execution Time")):
            print(f"        {line}")


def ingest_times(repeat: int) -> float:
    """Median of `repeat` single deploys with two commits through deploys.services.deploy_record,
    each rolled back (its own transaction, so the triggers and first-delivery upkeep all run)."""
    from deploys.contract import CommitInput, DeployInput
    from deploys.services import deploy_record

    times = []
    tag = f"{os.getpid():x}{int(time.time()):x}"
    for n in range(repeat):
        data = DeployInput(
            service="api",
            environment="production",
            version=f"ingest-{n}",
            deployer="dev001",
            commits=(
                CommitInput(sha=f"{tag}{n:08x}a", authored_at=END - dt.timedelta(hours=3)),
                CommitInput(sha=f"{tag}{n:08x}b", authored_at=END - dt.timedelta(hours=2)),
            ),
        )
        with transaction.atomic():
            started = time.perf_counter()
            deploy_record(data=data, notify=False)
            times.append(time.perf_counter() - started)
            transaction.set_rollback(True)
    return statistics.median(times)


def empty_ingest(repeat: int, url: str) -> float:
    """ingest_times on an empty database (created and migrated when missing), in a child process."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    server = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    output = subprocess.run(
        [sys.executable, __file__, "--ingest-only", "--ingest-repeat", str(repeat)],
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(output.split()[-1])


def selected(name: str, only: list[str] | None) -> bool:
    """Whether --only picks `name`: an entry of several words names one timing exactly; one word
    picks every timing whose name has it (a filter, a period, "dashboard", "ingest"…)."""
    return only is None or any(name == o if " " in o else o in name.replace("+", " ").split() for o in only)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deploys", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--load-only", action="store_true", help="load (if not loaded) and stop")
    parser.add_argument(
        "--check-deliveries", action="store_true", help="recount every sha's first delivery in SQL and stop"
    )
    parser.add_argument(
        "--only",
        help="comma-separated timings to run: a whole name ('report month', 'report month team+severity') or "
        "one word ('environment', 'week', 'dashboard', 'ingest'); the baseline always runs",
    )
    parser.add_argument(
        "--budget", type=float, default=60.0, help="stop repeating a timing after this many seconds (default 60)"
    )
    parser.add_argument("--explain", action="store_true", help="per-query times and the slowest query's plan")
    parser.add_argument("--verify", action="store_true", help="check every report against the scan's answer")
    parser.add_argument(
        "--probe-rollbacks",
        action="store_true",
        help="log every service and environment as changed, so reports probe each rollback deploy "
        "instead of reading the kept times (what beat's refresh saves); refreshed again at the end",
    )
    parser.add_argument("--ingest-repeat", type=int, default=200)
    parser.add_argument(
        "--empty-database-url",
        default=None,
        help="where to time the ingest on an empty database (default: opslog_bench_empty on the same server)",
    )
    parser.add_argument("--ingest-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/reports.py runs on PostgreSQL: set DATABASE_URL=postgres://…/opslog_bench_1m")

    call_command("migrate", verbosity=0)
    if args.ingest_only:
        print(ingest_times(args.ingest_repeat))
        return
    if args.reload:
        wipe()
    if not loaded():
        load(args.deploys)
    if args.check_deliveries:
        started = time.perf_counter()
        wrong = check_deliveries()
        print(f"first deliveries: {wrong} commit rows differ from the rule ({time.perf_counter() - started:.0f} s)")
        sys.exit(1 if wrong else 0)
    if args.load_only:
        return
    # What beat's refresh_rollback_times would have done by now (a no-op after a load).
    started = time.perf_counter()
    pairs = refresh_rollback_times()
    print(
        f"rollback times refreshed for {pairs} changed service/environment pairs in {time.perf_counter() - started:.1f} s"
    )
    if args.probe_rollbacks:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO reports_rollbackchange (service_id, environment_id) "
                "SELECT DISTINCT service_id, environment_id FROM reports_rollbacktime"
            )
            print(f"--probe-rollbacks: {cursor.rowcount} pairs logged as changed; every rollback deploy is probed")

    from django.contrib.auth import get_user_model
    from django.test import Client

    from deploys.services import api_token_create
    from reports import selectors

    only = [o.strip() for o in args.only.split(",")] if args.only else None
    user, _ = get_user_model().objects.get_or_create(username="bench")
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
    browser = Client()
    browser.force_login(user)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM deploys_deploy")
        deploy_rows = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM deploys_deploycommit")
        commit_rows = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM incidents_incident")
        incident_rows = cursor.fetchone()[0]

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

    def scanned(fn):
        real, selectors.rollup_zone = selectors.rollup_zone, lambda: None
        try:
            return fn()
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

    def dashboard(attribution: str = "linked"):
        response = browser.get(f"/?from=2025-01&to=2025-12&attribution={attribution}")
        assert response.status_code == 200
        return response

    def inferred_report():
        from reports.engines.scope import Filters

        return selectors.monthly_report(first=FIRST, last=LAST, filters=Filters(attribution="inferred"))

    def runner(what):
        if what[0] == "report":
            return lambda: report_of(what[1], what[2])
        if what[0] == "scan":
            return lambda: scanned(lambda: report_of("month", ()))
        return {
            "dashboard": dashboard,
            "dashboard inferred": lambda: dashboard("inferred"),
            "inferred": inferred_report,
            "api": through_api,
        }[what[0]]

    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, PostgreSQL {connection.pg_version}")
    print(f"data: {deploy_rows:,} deploys, {commit_rows:,} commits, {incident_rows:,} incidents")
    report_of("month", ())  # warm the caches once, as a running server would be
    baseline_s, rows, _ = timed(baseline, args.repeat)
    print(
        f"{'baseline GROUP BY (deploys per month)':50} {baseline_s * 1000:9.1f} ms  1.00x   (load {os.getloadavg()[0]:.2f})"
    )

    unmet: list[str] = []
    answers = {}
    for name, goal, what in cases():
        if not selected(name, only):
            continue
        repeat = min(args.repeat, 3) if what[0] == "scan" else args.repeat
        seconds, result, runs = timed(runner(what), repeat, args.budget)
        answers[name] = result
        ratio = seconds / baseline_s
        met = ""
        if goal == "<= 1.5x":
            met = "met" if ratio <= 1.5 else "NOT met"
        elif goal == "< 150 ms":
            met = "met" if seconds < 0.15 else "NOT met"
        if met == "NOT met":
            unmet.append(name)
        print(
            f"{name:50} {seconds * 1000:9.1f} ms  {ratio:5.2f}x  (load {os.getloadavg()[0]:.2f})  "
            f"{('goal ' + goal + ': ' + met) if met else goal}{f'  (median of {runs})' if runs < repeat else ''}",
            flush=True,
        )
        if name == "report month":
            assert sum(p.deploys for p in result.periods) == sum(n for _, n in rows)
            if deploy_rows >= 10_000_000:
                print(f"{'':50} 120-month report at 10 M: goal <= 0.25x: {'met' if ratio <= 0.25 else 'NOT met'}")
        if args.verify and what[0] == "report":
            assert result == scanned(runner(what)), f"{name}: the rollups and the scan disagree"
        if args.explain:
            explain(runner(what))
    if "report month" in answers and "scan month" in answers:
        assert answers["report month"] == answers["scan month"], "the rollups and the scan disagree"

    if selected("ingest", only):
        loaded_s = ingest_times(args.ingest_repeat)
        url = args.empty_database_url
        if url is None:
            parts = settings.DATABASES["default"]
            url = f"postgresql://{parts['USER']}@{parts['HOST']}:{parts['PORT']}/opslog_bench_empty"
        empty_s = empty_ingest(args.ingest_repeat, url)
        ratio = loaded_s / empty_s
        print(
            f"{'single deploy ingest, loaded / empty':50} {loaded_s * 1000:9.2f} ms / {empty_s * 1000:.2f} ms  "
            f"{ratio:5.2f}x  (load {os.getloadavg()[0]:.2f})  goal <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'}"
        )
        if ratio > 1.5:
            unmet.append("ingest")

    if only is None or selected("memory", only):
        tracemalloc.start()
        baseline_memory = tracemalloc.get_traced_memory()[0]
        report_of("month", ())
        peak_memory = tracemalloc.get_traced_memory()[1] - baseline_memory
        tracemalloc.stop()
        print(f"{'report peak Python memory':50} {peak_memory / 1e6:9.1f} MB")
    again_s, _, _ = timed(baseline, args.repeat)
    print(
        f"{'baseline again, at the end':50} {again_s * 1000:9.1f} ms  {again_s / baseline_s:5.2f}x  "
        f"(load {os.getloadavg()[0]:.2f}; ratios above are to the first)"
    )
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f}; goals not met: {', '.join(unmet) or 'none'}")
    if args.probe_rollbacks:
        refresh_rollback_times()


if __name__ == "__main__":
    main()
