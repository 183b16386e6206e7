"""#15.9: a period that hasn't ended is marked partial and left out of the DORA level unless asked."""

import csv
import io

import pytest

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import Deploy
from tests.support.times import at

pytestmark = pytest.mark.django_db

NOW = at("2026-12-03T09:00:00Z")  # three days into December


@pytest.fixture
def december(monkeypatch):
    """November: ten good deploys. December so far: two deploys, one rolled back (50 % failures)."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    for day in range(1, 11):
        DeployFactory(service=web, environment=production, deployed_at=at(f"2026-11-{day:02}T10:00:00Z"))
    DeployFactory(service=web, environment=production, deployed_at=at("2026-12-01T10:00:00Z"))
    DeployFactory(
        service=web,
        environment=production,
        deployed_at=at("2026-12-02T10:00:00Z"),
        status=Deploy.Status.ROLLED_BACK,
    )


def test_the_current_month_is_partial_and_out_of_the_level(api, december):
    """#15.9: December (not over) is `partial: true` and doesn't drag the range's level to low."""
    body = api.get("/api/reports/monthly/?from=2026-11&to=2026-12").json()
    asked = api.get("/api/reports/monthly/?from=2026-11&to=2026-12&include_partial=1").json()

    nov, dec = body["months"]
    assert (nov["partial"], dec["partial"]) == (False, True)
    assert dec["change_failure_rate"] == 0.5  # the month's own figures stay exact
    assert body["totals"]["partial"] is True
    assert body["totals"]["deploys"] == 12  # the totals still count every deploy of the range
    # The level: November alone (0 % failures), unless the partial month is asked for.
    assert body["totals"]["dora"]["change_failure_rate"] == "elite"
    assert asked["totals"]["dora"]["change_failure_rate"] == "high"  # 1 of 12: 8.3 %


def test_past_months_are_complete(api, december):
    """#15.9: a range wholly in the past has no partial month, and the level is the plain one."""
    body = api.get("/api/reports/monthly/?from=2026-10&to=2026-11").json()

    assert [m["partial"] for m in body["months"]] == [False, False]
    assert body["totals"]["partial"] is False


def test_a_bad_include_partial_is_a_400(api, december):
    response = api.get("/api/reports/monthly/?include_partial=maybe")

    assert response.status_code == 400
    assert "include_partial" in response.json()


def test_the_current_year_is_partial(api, december):
    body = api.get("/api/reports/yearly/?from=2025&to=2026").json()

    assert [y["partial"] for y in body["years"]] == [False, True]


def test_csv_has_a_partial_column(api, december):
    text = api.get("/api/reports/monthly/?from=2026-11&to=2026-12&format=csv").content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))

    assert [(row["month"], row["partial"]) for row in rows] == [("2026-11", "False"), ("2026-12", "True")]


def test_the_dashboard_says_the_month_is_partial(logged_in, december):
    """#15.9: the table row and the DORA heading say December is partial and not in the level."""
    html = logged_in.get("/?from=2026-11&to=2026-12").content.decode()

    assert 'class="period partial"' in html
    assert "December 2026 so far — partial, not in the level" in html


def test_the_alert_review_opens_on_the_last_complete_month(logged_in, december):
    """#15.9: not on the 3-day-old month, and with no link to a month that hasn't come."""
    html = logged_in.get("/alerts/review/").content.decode()
    december_page = logged_in.get("/alerts/review/?month=2026-12").content.decode()

    assert "November 2026" in html
    assert 'rel="next"' in html  # to December so far
    assert "?month=2027-01" not in december_page
    assert 'rel="next"' not in december_page
