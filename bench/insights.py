"""Benchmark: the insights page and API on bench/reports.py's data (PostgreSQL).

Loads bench/reports.py's data if it isn't there (its `load`: 50,000 incidents over 2016–2025; the
deploys matter little here, so `--deploys` defaults to 20,000 rather than its 1,000,000), then adds
once what the insights read and the report doesn't: roles and participants on every incident, a
tag on a third, post-mortems on 70 % (60 % of those published), one or two contributing factors
on most, and up to three remediations each. Then it times, median of `--repeat` runs:

- the 12-month /insights/ page (2025), goal < 300 ms;
- the same through /api/insights/ (JSON) and as CSV;
- /api/insights/ over the whole ten years.

    createdb -h 127.0.0.1 -U postgres opslog_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opslog_bench .venv/bin/python bench/insights.py
"""

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

# Not this folder (its markdown.py would hide the Markdown package), the project's root instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from bench import reports as bench_reports  # noqa: E402  (sets Django up)

PEOPLE = [f"oncall{n:02d}" for n in range(30)]


def insights_loaded() -> bool:
    from postmortems.models import PostMortem

    return PostMortem.objects.filter(facilitator="bench").exists()


@transaction.atomic
def load_insights() -> None:
    from incidents.models import Incident
    from postmortems.models import ContributingFactor, PostMortem, PostMortemFactor, Remediation

    rng = random.Random(17)
    started = time.perf_counter()
    from postmortems.defaults import DEFAULT_FACTORS

    # A flush (--reload) empties the taxonomy migration 0006 seeded.
    for position, (slug, name, description) in enumerate(DEFAULT_FACTORS, start=1):
        ContributingFactor.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "position": position * 10}
        )
    factors = list(ContributingFactor.objects.all())
    rows = list(Incident.objects.filter(source="bench").values_list("id", "resolved_at", "started_at"))
    print(f"adding roles, tags, post-mortems, factors and remediations to {len(rows):,} incidents…", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE incidents_incident
               SET commander = 'oncall' || lpad((id % 30)::text, 2, '0'),
                   comms_lead = 'oncall' || lpad(((id * 7) % 30)::text, 2, '0'),
                   scribe = CASE WHEN id % 3 = 0 THEN 'oncall' || lpad(((id * 11) % 30)::text, 2, '0') ELSE '' END,
                   participants = jsonb_build_array('oncall' || lpad(((id * 13) % 30)::text, 2, '0'))
               WHERE source = 'bench'"""
        )
    tagged = [incident_id for incident_id, _, _ in rows if incident_id % 3 == 0]
    for start in range(0, len(tagged), 5000):
        for incident in Incident.objects.filter(pk__in=tagged[start : start + 5000]):
            incident.tags.add(rng.choice(["dns", "database", "black-friday"]))
    postmortems = []
    for incident_id, resolved_at, started_at in rows:
        if rng.random() >= 0.7:
            continue
        published = resolved_at is not None and rng.random() < 0.6
        postmortems.append(
            PostMortem(
                incident_id=incident_id,
                facilitator="bench",
                status=PostMortem.Status.PUBLISHED if published else PostMortem.Status.DRAFT,
                published_at=resolved_at + dt.timedelta(hours=rng.uniform(2, 400)) if published else None,
                created_at=started_at,
                updated_at=started_at,
            )
        )
    PostMortem.objects.bulk_create(postmortems, batch_size=2000)
    links, remediations = [], []
    for pm in PostMortem.objects.filter(facilitator="bench").values("id", "created_at"):
        for factor in rng.sample(factors, rng.choice([0, 1, 1, 2])):
            links.append(PostMortemFactor(postmortem_id=pm["id"], factor=factor))
        for _ in range(rng.randrange(0, 4)):
            created = pm["created_at"] + dt.timedelta(days=rng.uniform(0, 5))
            status = rng.choice(["open", "in_progress", "done", "done", "done", "wont_do"])
            remediations.append(
                Remediation(
                    postmortem_id=pm["id"],
                    description="Bench remediation",
                    kind=rng.choice(["dev", "ops"]),
                    owner_name=rng.choice(PEOPLE),
                    status=status,
                    wont_do_reason="bench" if status == "wont_do" else "",
                    created_at=created,
                    completed_at=created + dt.timedelta(days=rng.uniform(0.5, 40)) if status == "done" else None,
                    due_date=(created + dt.timedelta(days=rng.randrange(3, 30))).date() if rng.random() < 0.8 else None,
                )
            )
    PostMortemFactor.objects.bulk_create(links, batch_size=5000)
    Remediation.objects.bulk_create(remediations, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"added {len(postmortems):,} post-mortems, {len(links):,} factor links, {len(remediations):,} remediations "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deploys", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reload", action="store_true", help="drop the loaded data and load again")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/insights.py runs on PostgreSQL: set DATABASE_URL=postgres://…/opslog_bench")

    call_command("migrate", verbosity=0)
    if args.reload:
        bench_reports.wipe()
    if not bench_reports.loaded():
        bench_reports.load(args.deploys)
    if not insights_loaded():
        load_insights()

    from django.contrib.auth import get_user_model
    from django.test import Client

    from deploys.services import api_token_create
    from incidents.models import Incident

    user, _ = get_user_model().objects.get_or_create(username="bench")
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
    browser = Client()
    browser.force_login(user)

    def get(client, url):
        def fetch():
            response = client.get(url)
            assert response.status_code == 200, response.content[:500]
            return response

        return fetch

    year = "start=2025-01-01&end=2025-12-31"
    page = get(browser, f"/insights/?{year}")
    page()  # warm the caches once, as a running server would be
    load_before = os.getloadavg()[0]
    page_s, _ = bench_reports.timed(page, args.repeat)
    api_s, response = bench_reports.timed(get(api, f"/api/insights/?{year}"), args.repeat)
    csv_s, _ = bench_reports.timed(get(api, f"/api/insights/?{year}&format=csv"), args.repeat)
    decade_s, _ = bench_reports.timed(get(api, "/api/insights/?start=2016-01-01&end=2025-12-31"), args.repeat)

    print(f"data: {Incident.objects.count():,} incidents; {response.json()['incidents']['count']:,} in 2025")
    print(f"1-minute load average: {load_before:.2f} before the timings, {os.getloadavg()[0]:.2f} after")
    print(f"12-month /insights/ page:        {page_s * 1000:8.1f} ms  (goal < 300 ms)")
    print(f"12-month /api/insights/ (JSON):  {api_s * 1000:8.1f} ms")
    print(f"12-month /api/insights/ (CSV):   {csv_s * 1000:8.1f} ms")
    print(f"10-year /api/insights/ (JSON):   {decade_s * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
