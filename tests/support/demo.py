"""The demo data the demo tests share: 240 days of deploys and incidents up to a fixed moment."""

import datetime as dt

from deploys.demo import seed_deploys
from incidents.demo import seed_incidents

NOW = dt.datetime(2026, 6, 4, 17, 0, tzinfo=dt.UTC)  # a Thursday in the past


def seed_deploys_and_incidents() -> int:
    """Seeds the deploys, then the incidents; the number of incidents seeded."""
    seed_deploys(days=240, now=NOW)
    return seed_incidents(days=240, now=NOW)
