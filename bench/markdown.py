"""Markdown that can't stall a worker (#14.1): render time of each adversarial shape against prose of
the same length, and what an incident page and the incident list API cost with such a summary.

    .venv/bin/python bench/markdown.py [--repeat 5]

Runs in-process on a throwaway SQLite database in a temporary folder (removed on exit), with
OPSLOG_TRACKER_URL set so tracker links are part of every render. Each time is the fastest of
--repeat runs. Goals: every 100,000-character shape well under a second; the page and the list
within 3x of the same with plain prose.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file is named markdown.py: its folder first on the path would hide the `markdown` package
# that Django REST framework imports when it is installed.
sys.path = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    folder = tempfile.TemporaryDirectory(prefix="opslog-bench-markdown-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder.name}/bench.sqlite3"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.test_settings"
    os.environ["OPSLOG_TRACKER_URL"] = "https://tracker.example.com/browse/{key}"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from deploys.services import api_token_create
    from plumbing.markdown import render_markdown
    from tests.support.adversarial_markdown import PATTERNS, best_time, plain_prose, write_up

    settings.OPSLOG_TRACKER_URL = os.environ["OPSLOG_TRACKER_URL"]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    print("\nrender_markdown, fastest of", args.repeat, "runs (ms; x = times a write-up of the same length)")
    print(f"{'shape':28} {'10k ms':>8} {'x':>6} {'100k ms':>8} {'x':>6} {'100k/10k':>9}")
    baselines = {}
    for name, make in [("write-up", write_up), ("plain prose", plain_prose), *PATTERNS.items()]:
        row = []
        for length in (10_000, 100_000):
            text = make(length)
            took = best_time(lambda text=text: render_markdown(text), repeats=args.repeat)
            if name == "write-up":
                baselines[length] = took
            row.append(took)
        ratios = [row[0] / baselines[10_000], row[1] / baselines[100_000]]
        growth = row[1] / row[0] if row[0] else float("nan")
        print(
            f"{name:28} {row[0] * 1000:8.1f} {ratios[0]:6.1f} {row[1] * 1000:8.1f} {ratios[1]:6.1f} {growth:9.1f}",
            flush=True,
        )

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from deploys.factories import ServiceFactory
    from incidents.factories import IncidentFactory

    user = get_user_model().objects.create_superuser("bench", password="bench-password")
    client = Client()
    client.force_login(user)
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")

    def timed(c, url):
        def get():
            response = c.get(url)
            assert response.status_code == 200, response.status_code

        return best_time(get, repeats=args.repeat)

    print("\nA 100,000-character summary: incident page, and /api/incidents/ holding 5 such incidents (ms)")
    # Each shape's incidents affect a service of their own: the list is filtered to them.
    plain = ServiceFactory(slug="plain")
    plain_ids = [IncidentFactory(summary=plain_prose(100_000), services=[plain]).pk for _ in range(5)]
    print(f"{'shape':28} {'page ms':>8} {'plain':>6} {'x':>6} {'list ms':>8} {'plain':>6} {'x':>6}")
    for number, (name, make) in enumerate(PATTERNS.items()):
        service = ServiceFactory(slug=f"shape-{number}")
        started = time.perf_counter()
        ids = [IncidentFactory(summary=make(100_000), services=[service]).pk for _ in range(5)]
        write = (time.perf_counter() - started) / 5
        # Plain prose measured again beside each shape: the same database, the same moment.
        page_plain = timed(client, f"/incidents/{plain_ids[0]}/")
        page = timed(client, f"/incidents/{ids[0]}/")
        list_plain = timed(api, "/api/incidents/?service=plain")
        listing = timed(api, f"/api/incidents/?service={service.slug}")
        print(
            f"{name:28} {page * 1000:8.1f} {page_plain * 1000:6.1f} {page / page_plain:6.2f}"
            f" {listing * 1000:8.1f} {list_plain * 1000:6.1f} {listing / list_plain:6.2f}   (write {write * 1000:.0f} ms)",
            flush=True,
        )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    folder.cleanup()


if __name__ == "__main__":
    main()
