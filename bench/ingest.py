"""Benchmark: deploy ingest on PostgreSQL under gunicorn.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/ingest.py

It creates (drops first) the database named by --database-url (default
postgres://postgres@127.0.0.1:5432/opslog_load), migrates it and loads the demo data (`seed_demo`),
then serves the app with `gunicorn config.wsgi` (--workers, default 4) on a free port with production
settings (DEBUG off, OPSLOG_API_WRITE_RATE=off so nothing is throttled) and measures, in one run:

1. single deploys: `POST /api/deploys/` from --clients (default 16) concurrent clients (threads,
   one requests.Session each) for --single-seconds (default 20): requests per second, p50/p95/p99;
   each deploy has two commits, a third of them are production deploys;
2. bulk: `POST /api/deploys/bulk/` in batches of 1,000 deploys from one client, --batches batches
   (default 10): deploys per second, the time per batch. A backfill: each batch covers a stretch of
   past days in time order for the four demo services in two environments, previous_version left
   to the server; --bulk-commits commits per deploy (default 0);
3. the ceiling: the same rows (other external_ids) inserted straight into deploys_deploy with
   psycopg's `executemany`, one transaction per 1,000 rows: rows per second, with the table's
   triggers (as production runs) and without them (the bare insert rate).

Goal: at least 5,000 deploys per second through the bulk endpoint. Any answer but 201 is an error.
gunicorn is stopped on exit (also on Ctrl-C or an error) and the database dropped unless --keep-db.
"""

import argparse
import datetime as dt
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appserver import DEFAULT_DATABASE_URL, App, load_average, psycopg_url  # noqa: E402

SERVICES = ["web", "api", "search", "payments"]
BATCH = 1000


def quantiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (values[0],) * 3 if values else (0.0, 0.0, 0.0)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def single_deploy(now: dt.datetime) -> dict:
    key = uuid.uuid4().hex
    return {
        "service": SERVICES[int(key[:2], 16) % len(SERVICES)],
        "environment": ("production", "staging", "qa")[int(key[2:4], 16) % 3],
        "version": key[:12],
        "deployer": "ingest-bench",
        "message": "Ingest benchmark",
        "deployed_at": now.isoformat(),
        "duration_seconds": 30.0,
        "external_id": f"single-{key}",
        "commits": [
            {
                "sha": uuid.uuid4().hex + key[:8],
                "authored_at": (now - dt.timedelta(hours=h)).isoformat(),
                "message": f"Change {h}",
            }
            for h in (3, 7)
        ],
    }


def run_single(url: str, token: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client() -> None:
        mine, bad = [], []
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {token}"
            start.wait()
            while time.perf_counter() < stop_at[0]:
                body = single_deploy(dt.datetime.now(dt.UTC))
                began = time.perf_counter()
                try:
                    answer = session.post(f"{url}/api/deploys/", json=body, timeout=60)
                except requests.RequestException as error:
                    bad.append(type(error).__name__)
                    continue
                mine.append(time.perf_counter() - began)
                if answer.status_code != 201:
                    bad.append(f"{answer.status_code} {answer.text[:200]}")
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    p50, p95, p99 = quantiles(latencies)
    return {
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "errors": errors,
    }


def bulk_batches(batches: int, commits: int, prefix: str) -> list[list[dict]]:
    """`batches` × 1,000 past deploys in time order: a backfill, oldest first."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    total = batches * BATCH
    first = now - dt.timedelta(days=30)
    step = (now - dt.timedelta(hours=1) - first) / total
    out = []
    for b in range(batches):
        batch = []
        for i in range(BATCH):
            n = b * BATCH + i
            at = first + step * n
            batch.append(
                {
                    "service": SERVICES[n % len(SERVICES)],
                    "environment": "production" if n % 2 else "staging",
                    "version": f"v{n}",
                    "deployer": f"dev{n % 40:02d}",
                    "message": "Backfilled deploy",
                    "deployed_at": at.isoformat(),
                    "duration_seconds": 30.0,
                    "status": "succeeded",
                    "external_id": f"{prefix}-{n}",
                    "commits": [
                        {
                            "sha": f"{n:024x}{c:016x}",
                            "authored_at": (at - dt.timedelta(hours=2)).isoformat(),
                            "message": "Backfilled commit",
                        }
                        for c in range(commits)
                    ],
                }
            )
        out.append(batch)
    return out


def run_bulk(url: str, token: str, batches: list[list[dict]]) -> dict:
    bodies = [json.dumps({"deploys": batch}).encode() for batch in batches]
    times, errors = [], []
    with requests.Session() as session:
        session.headers.update({"Authorization": f"Token {token}", "Content-Type": "application/json"})
        began = time.perf_counter()
        for body in bodies:
            t = time.perf_counter()
            answer = session.post(f"{url}/api/deploys/bulk/", data=body, timeout=300)
            times.append(time.perf_counter() - t)
            if answer.status_code != 201:
                errors.append(f"{answer.status_code} {answer.text[:300]}")
            else:
                answer.json()  # read and parse the whole answer, as a client would
        elapsed = time.perf_counter() - began
    deploys = sum(len(batch) for batch in batches)
    return {"deploys": deploys, "rate": deploys / elapsed, "median_batch": statistics.median(times), "errors": errors}


COLUMNS = [
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
    "change_record_id",
]


def run_ceiling(database_url: str, batches: list[list[dict]], *, triggers: bool = True) -> dict:
    """The same rows with psycopg's executemany, straight into the table: what the database takes.

    With `triggers=False` the session skips the table's triggers (session_replication_role), so the
    figure is the bare insert rate: the report rollup's statement-level triggers run once per
    INSERT, which is once per row for executemany but once per batch for the bulk endpoint. Those
    rows are deleted the same way afterwards, so the rollup never saw them and stays exact."""
    prefix = "ceiling-" if triggers else "bare-"
    with psycopg.connect(psycopg_url(database_url)) as conn:
        if not triggers:
            conn.execute("SET session_replication_role = replica")
        ids = dict(conn.execute("SELECT slug, id FROM deploys_service").fetchall())
        envs = dict(conn.execute("SELECT slug, id FROM deploys_environment").fetchall())
        conn.commit()
        statement = f"INSERT INTO deploys_deploy ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
        # Rows built before the clock starts, as the API's clients send theirs ready-made.
        row_batches = [
            [
                (
                    ids[d["service"]],
                    envs[d["environment"]],
                    d["version"],
                    "",
                    d["deployer"],
                    d["message"],
                    dt.datetime.fromisoformat(d["deployed_at"]),
                    d["duration_seconds"],
                    d["status"],
                    "",
                    prefix + d["external_id"],
                    dt.datetime.now(dt.UTC),
                    None,
                )
                for d in batch
            ]
            for batch in batches
        ]
        began = time.perf_counter()
        for rows in row_batches:
            with conn.cursor() as cursor:
                cursor.executemany(statement, rows)
            conn.commit()
        elapsed = time.perf_counter() - began
        if not triggers:
            conn.execute("DELETE FROM deploys_deploy WHERE external_id LIKE 'bare-%%'")
            conn.commit()
    rows = sum(len(r) for r in row_batches)
    return {"rows": rows, "rate": rows / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent single-deploy clients (default 16)")
    parser.add_argument("--single-seconds", type=float, default=20)
    parser.add_argument("--batches", type=int, default=10, help="bulk batches of 1,000 (default 10)")
    parser.add_argument("--bulk-commits", type=int, default=0, help="commits per bulk deploy (default 0)")
    parser.add_argument("--days", type=int, default=730, help="days of demo data (default 730)")
    parser.add_argument("--keep-db", action="store_true", help="don't drop the database at the end")
    args = parser.parse_args()

    print(f"load average before: {load_average()}")
    with App(args.database_url, workers=args.workers, seed_days=args.days, keep_db=args.keep_db) as app:
        # One small warm-up request per worker process, so start-up isn't timed.
        for _ in range(args.workers * 2):
            requests.get(f"{app.url}/healthz", timeout=30)

        print(f"\n1. single POST /api/deploys/: {args.clients} clients for {args.single_seconds:.0f} s…", flush=True)
        single = run_single(app.url, app.token, args.clients, args.single_seconds)
        print(
            f"   {single['requests']:,} requests, {single['rate']:.1f} requests/s, "
            f"p50 {single['p50'] * 1000:.0f} ms, p95 {single['p95'] * 1000:.0f} ms, "
            f"p99 {single['p99'] * 1000:.0f} ms, errors {len(single['errors'])}",
            flush=True,
        )
        for error in sorted(set(single["errors"]))[:5]:
            print(f"   error: {error}")

        batches = bulk_batches(args.batches, args.bulk_commits, "bulk")
        print(
            f"\n2. POST /api/deploys/bulk/: {args.batches} batches of {BATCH:,}"
            f" ({args.bulk_commits} commits each deploy)…",
            flush=True,
        )
        bulk = run_bulk(app.url, app.token, batches)
        print(
            f"   {bulk['deploys']:,} deploys, {bulk['rate']:,.0f} deploys/s, "
            f"{bulk['median_batch'] * 1000:.0f} ms per batch (median), errors {len(bulk['errors'])}",
            flush=True,
        )
        for error in bulk["errors"][:3]:
            print(f"   error: {error}")

        print(f"\n3. ceiling: executemany of the same {bulk['deploys']:,} rows into deploys_deploy…", flush=True)
        ceiling = run_ceiling(args.database_url, batches)
        print(
            f"   {ceiling['rows']:,} rows, {ceiling['rate']:,.0f} rows/s (the report rollup's triggers run per INSERT)"
        )
        bare = run_ceiling(args.database_url, batches, triggers=False)
        print(f"   without triggers: {bare['rows']:,} rows, {bare['rate']:,.0f} rows/s (the bare insert rate)")

        met = bulk["rate"] >= 5000 and not bulk["errors"]
        print(
            f"\nbulk is {bulk['rate'] / ceiling['rate']:.0%} of the executemany ceiling with triggers, "
            f"{bulk['rate'] / bare['rate']:.0%} of the bare insert rate; goal ≥ 5,000 deploys/s: "
            f"{'met' if met else 'NOT met'}"
        )
        print(f"load average after: {load_average()}")
        if single["errors"] or bulk["errors"]:
            print(app.log_tail())
    return 0 if met and not single["errors"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: gunicorn stopped", file=sys.stderr)
        sys.exit(130)
