"""Benchmark: Opslog under load — 32 concurrent users for 60 seconds against gunicorn on PostgreSQL.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/load.py

It creates (drops first) the database named by --database-url (default
postgres://postgres@127.0.0.1:5432/opslog_load), migrates it and loads the demo data (`seed_demo`,
two years), then serves the app with `gunicorn config.wsgi` (--workers, default 4) on a free port
with production settings: DEBUG off, a throwaway secret key, static files by whitenoise after
collectstatic, and OPSLOG_API_WRITE_RATE=off so the load isn't throttled. A superuser logs in once
per simulated user through the login form; each user then, with a think time of --wait-min to
--wait-max seconds between requests (default 1–5 s, as in Locust's own examples), opens the
dashboard `/` (weight 2), the deploy log `/deploys/` (3), the incident list `/incidents/` (3), or
posts a deploy with two commits to `/api/deploys/` with its API token (2). Locust (used as a library) drives the users; the figures
cover the --duration seconds after all users have started and logged in.

Prints requests per second, p50/p95/p99 latency and errors, overall and per endpoint. Any answer
but 200 (pages) or 201 (POSTs) is an error, redirects to the login page included. Goals on the
project's 2-core machine: zero errors, p95 under 300 ms. Locust and gunicorn share the machine.

gunicorn is stopped on exit (also on Ctrl-C or an error) and the database dropped unless --keep-db.
"""

# Locust patches the standard library for gevent on import: it comes first.
import locust  # noqa: F401  isort:skip

import argparse
import datetime as dt
import itertools
import sys
import time
import uuid
from pathlib import Path

import gevent
from locust import HttpUser, between, task
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appserver import DEFAULT_DATABASE_URL, App, load_average  # noqa: E402

SERVICES = ["web", "api", "search", "payments"]
ENVIRONMENTS = ["qa", "staging", "production"]
PAGES = {"dashboard": "/", "deploy log": "/deploys/", "incident list": "/incidents/"}


class Opslog(HttpUser):
    """One person with a browser session and a CI job with a token, taking turns."""

    abstract = True  # made concrete in main() once the wait time is known
    sessions: itertools.cycle
    token = ""

    def on_start(self):
        self.client.cookies.update(next(self.sessions))

    def _page(self, name: str):
        with self.client.get(PAGES[name], name=name, allow_redirects=False, catch_response=True) as answer:
            if answer.status_code != 200:
                answer.failure(f"{answer.status_code} {answer.headers.get('Location', '')}".strip())

    @task(2)
    def dashboard(self):
        self._page("dashboard")

    @task(3)
    def deploy_log(self):
        self._page("deploy log")

    @task(3)
    def incident_list(self):
        self._page("incident list")

    @task(2)
    def post_deploy(self):
        now = dt.datetime.now(dt.UTC)
        key = uuid.uuid4().hex
        body = {
            "service": SERVICES[int(key[:2], 16) % len(SERVICES)],
            "environment": ENVIRONMENTS[int(key[2:4], 16) % len(ENVIRONMENTS)],
            "version": key[:12],
            "deployer": "load-test",
            "message": "Load test deploy",
            "deployed_at": now.isoformat(),
            "duration_seconds": 42.0,
            "external_id": f"load-{key}",
            "commits": [
                {
                    "sha": uuid.uuid4().hex + key[:8],
                    "authored_at": (now - dt.timedelta(hours=h)).isoformat(),
                    "message": f"Change {h}",
                }
                for h in (2, 5)
            ],
        }
        with self.client.post(
            "/api/deploys/",
            json=body,
            name="POST deploy",
            headers={"Authorization": f"Token {self.token}"},
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            if answer.status_code != 201:
                answer.failure(f"{answer.status_code} {answer.text[:200]}")


def percentile(entry, fraction: float) -> int:
    return int(entry.get_response_time_percentile(fraction) or 0) if entry.num_requests else 0


def report(stats, seconds: float) -> dict:
    rows = sorted(stats.entries.values(), key=lambda e: e.name)
    print(
        f"\n{'endpoint':<16} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'errors':>7}"
    )
    for entry in [*rows, stats.total]:
        name = "all" if entry is stats.total else entry.name
        print(
            f"{name:<16} {entry.num_requests:>9,} {entry.num_requests / seconds:>7.1f} "
            f"{percentile(entry, 0.5):>7} {percentile(entry, 0.95):>7} {percentile(entry, 0.99):>7} "
            f"{int(entry.max_response_time or 0):>7} {entry.num_failures:>7}"
        )
    for error in stats.errors.values():
        print(f"error: {error.method} {error.name}: {error.error} ×{error.occurrences}")
    return {"p95": percentile(stats.total, 0.95), "errors": stats.total.num_failures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60, help="seconds measured (default 60)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--wait-min", type=float, default=1.0, help="think time, seconds (default 1)")
    parser.add_argument("--wait-max", type=float, default=5.0, help="think time, seconds (default 5)")
    parser.add_argument("--days", type=int, default=730, help="days of demo data (default 730)")
    parser.add_argument("--keep-db", action="store_true", help="don't drop the database at the end")
    args = parser.parse_args()

    print(f"load average before: {load_average()}")
    with App(args.database_url, workers=args.workers, seed_days=args.days, keep_db=args.keep_db) as app:
        # Every user has a session of its own, from a real login (not counted in the figures).
        sessions = [app.login_cookies() for _ in range(args.users)]
        user_class = type(
            "OpslogUser",
            (Opslog,),
            {
                "abstract": False,
                "wait_time": between(args.wait_min, args.wait_max),
                "sessions": itertools.cycle(sessions),
                "token": app.token,
            },
        )
        env = Environment(user_classes=[user_class], host=app.url)
        runner = env.create_local_runner()
        try:
            runner.start(args.users, spawn_rate=args.users)
            while runner.user_count < args.users:
                gevent.sleep(0.05)
            gevent.sleep(0.5)
            env.stats.reset_all()
            print(
                f"{args.users} users, think time {args.wait_min}–{args.wait_max} s, measuring {args.duration:.0f} s…",
                flush=True,
            )
            started = time.perf_counter()
            load_during = []
            end = started + args.duration
            while time.perf_counter() < end:
                gevent.sleep(min(5.0, end - time.perf_counter()))
                load_during.append(load_average().split()[0])
            seconds = time.perf_counter() - started
            runner.stop()
        finally:
            runner.quit()
        figures = report(env.stats, seconds)
        print(f"\nload average (1 min) during the run: {', '.join(load_during)}; after: {load_average()}")
        print(
            f"goals: zero errors — {'met' if figures['errors'] == 0 else 'NOT met'}; "
            f"p95 under 300 ms — {'met' if figures['p95'] < 300 else 'NOT met'} ({figures['p95']} ms)"
        )
        if figures["errors"]:
            print(app.log_tail())
    return 0 if figures["errors"] == 0 and figures["p95"] < 300 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: gunicorn stopped", file=sys.stderr)
        sys.exit(130)
