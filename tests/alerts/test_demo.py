"""The alerts seed_demo adds to the demo incidents."""

import datetime as dt

import pytest

from incidents.models import Incident
from tests.support.demo import NOW, seed_deploys_and_incidents

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return seed_deploys_and_incidents()


def test_demo_alerts_give_the_review_noise_and_signal(demo):
    from alerts.demo import seed_alerts
    from alerts.models import Alert
    from alerts.selectors import alert_review

    created = seed_alerts(days=240, now=NOW)

    assert created == Alert.objects.count() > 0
    assert seed_alerts(days=240, now=NOW) == 0  # safe to run twice
    monitored = Incident.objects.filter(detected_by="monitoring")
    # Every incident monitoring caught was promoted from an alert: the review's signal.
    assert set(Alert.objects.exclude(incident=None).values_list("incident", flat=True)) == set(
        monitored.values_list("pk", flat=True)
    )
    months = alert_review(first=dt.date(2026, 1, 1), last=dt.date(2026, 5, 1))
    rows = [row for month in months for row in month.rows]
    noisy = {row.name for row in rows if row.signal == 0}
    assert {"DiskSpaceLow", "HighLatencyP99"} <= noisy
    # The noisiest alert of a month comes first.
    for month in months:
        assert [row.noise for row in month.rows] == sorted((row.noise for row in month.rows), reverse=True)
