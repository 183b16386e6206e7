"""Alert pages (list, detail, promote), the monthly alert review (selector, page, API)."""

import datetime as dt
import itertools

import pytest
from django.test import Client

from alerts import selectors
from alerts.models import Alert
from deploys.factories import ServiceFactory
from incidents.factories import IncidentFactory
from incidents.models import Incident
from integrations.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
_fingerprints = itertools.count(1)


def make_alert(name="HighErrorRate", *, starts_at, seconds=None, incident=None, **fields) -> Alert:
    """An alert that started at `starts_at` and, with `seconds`, resolved that long after."""
    ends_at = starts_at + dt.timedelta(seconds=seconds) if seconds is not None else None
    defaults = {
        "fingerprint": f"{next(_fingerprints):016x}",
        "labels": {"alertname": name, "severity": "critical", "service": "web"},
        "annotations": {"summary": f"{name} is firing"},
        "status": Alert.Status.RESOLVED if ends_at else Alert.Status.FIRING,
    }
    return Alert.objects.create(
        name=name, starts_at=starts_at, ends_at=ends_at, incident=incident, **{**defaults, **fields}
    )


def jan(day, hour=12, minute=0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, minute, tzinfo=UTC)


# --- Promotion from the alert page ------------------------------------------------------------


@pytest.fixture
def alert():
    ServiceFactory(slug="web")
    return make_alert(
        starts_at=dt.datetime(2024, 1, 15, 10, 0, 0, 123456, tzinfo=UTC),
        integration=IntegrationFactory(kind="alertmanager"),
        fingerprint="1a30ba71cca2921f",
    )


def test_promoting_from_the_alert_page_files_an_incident_and_links_it(logged_in, user, alert):
    response = logged_in.post(f"/alerts/{alert.pk}/promote/")

    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/"
    alert.refresh_from_db()
    assert alert.incident == incident
    assert incident.title == "HighErrorRate is firing"
    assert incident.started_at == incident.detected_at == dt.datetime(2024, 1, 15, 10, 0, 0, 123456, tzinfo=UTC)
    assert incident.detected_by == Incident.DetectedBy.MONITORING
    assert incident.source == "alertmanager"
    assert incident.external_id == "alert:1a30ba71cca2921f:2024-01-15T10:00:00.123456Z"
    assert incident.created_by == user
    assert [s.slug for s in incident.services.all()] == ["web"]


def test_promoting_twice_files_one_incident(logged_in, alert):
    logged_in.post(f"/alerts/{alert.pk}/promote/")
    response = logged_in.post(f"/alerts/{alert.pk}/promote/", follow=True)

    assert Incident.objects.count() == 1
    assert "already promoted" in response.content.decode()


def test_promoting_needs_a_login(client, alert):
    response = client.post(f"/alerts/{alert.pk}/promote/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Incident.objects.count() == 0


def test_promoting_needs_the_csrf_token(user, alert):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    response = browser.post(f"/alerts/{alert.pk}/promote/")

    assert response.status_code == 403
    assert Incident.objects.count() == 0


def test_promoting_is_a_post(logged_in, alert):
    assert logged_in.get(f"/alerts/{alert.pk}/promote/").status_code == 405
    assert Incident.objects.count() == 0


def test_an_alert_starting_in_the_future_is_not_promoted_and_says_why(logged_in):
    future = make_alert(starts_at=dt.datetime.now(UTC) + dt.timedelta(hours=1))

    response = logged_in.post(f"/alerts/{future.pk}/promote/", follow=True)

    assert response.status_code == 200
    assert "can&#x27;t be in the future" in response.content.decode()
    assert Incident.objects.count() == 0


def test_the_alert_page_shows_the_promote_button_and_escapes_the_payload(logged_in):
    nasty = make_alert(
        "<script>alert(1)</script>",
        starts_at=jan(3),
        labels={"alertname": "<script>alert(1)</script>", "team": "<b>ops</b>"},
        annotations={"summary": "<img src=x onerror=alert(2)>"},
    )

    page = logged_in.get(f"/alerts/{nasty.pk}/").content.decode()

    assert f'action="/alerts/{nasty.pk}/promote/"' in page
    assert "csrfmiddlewaretoken" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>ops</b>" not in page


def test_a_promoted_alert_links_its_incident_instead_of_the_button(logged_in):
    incident = IncidentFactory()
    promoted = make_alert(starts_at=jan(3), incident=incident)

    page = logged_in.get(f"/alerts/{promoted.pk}/").content.decode()

    assert f'href="/incidents/{incident.pk}/"' in page
    assert "/promote/" not in page


def test_an_unknown_alert_is_a_404(logged_in):
    assert logged_in.get("/alerts/999999/").status_code == 404


# --- The alerts list --------------------------------------------------------------------------


def test_the_list_filters_by_status_and_name(logged_in):
    disk = make_alert("DiskFull", starts_at=jan(1), seconds=60)
    cpu = make_alert("CPUHot", starts_at=jan(2))
    make_alert("DiskFull", starts_at=jan(3))

    by_status = logged_in.get("/alerts/?status=resolved")
    by_name = logged_in.get("/alerts/?name=CPUHot")
    both = logged_in.get("/alerts/?name=DiskFull&status=resolved")

    assert list(by_status.context["page"]) == [disk]
    assert list(by_name.context["page"]) == [cpu]
    assert list(both.context["page"]) == [disk]


def test_a_bad_filter_shows_an_error_and_no_500(logged_in):
    make_alert(starts_at=jan(1))

    response = logged_in.get("/alerts/?status=exploded")

    assert response.status_code == 200
    assert list(response.context["page"]) == []
    assert "status" in response.content.decode()


def test_the_list_is_paginated_newest_first_keeping_the_filters(logged_in):
    for minute in range(55):
        make_alert("Flappy", starts_at=jan(5, 10, minute))

    first = logged_in.get("/alerts/?name=Flappy")
    second = logged_in.get("/alerts/?name=Flappy&page=2")

    assert first.context["page"][0].starts_at == jan(5, 10, 54)
    assert len(first.context["page"]) == 50
    assert len(second.context["page"]) == 5
    assert "?name=Flappy&amp;page=2" in first.content.decode()


def test_the_nav_links_to_alerts(logged_in):
    assert 'href="/alerts/"' in logged_in.get("/incidents/").content.decode()


def test_the_alert_pages_need_a_login(client):
    for path in ("/alerts/", "/alerts/review/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- The monthly review -------------------------------------------------------------------------


@pytest.fixture
def january():
    """January 2024, worked out by hand:

    DiskFull: 4 firings, resolved after 60, 120, 300 and 600 s; one promoted.
        fired 4, signal 1, noise 3; median of 60, 120, 300, 600 = (120 + 300) / 2 = 210 s.
    CPUHot: 3 firings, none resolved, none promoted.
        fired 3, signal 0, noise 3; median None.
    HighErrorRate: 3 firings, resolved after 100 and 200 s, the third still firing; two promoted.
        fired 3, signal 2, noise 1; median of 100, 200 = 150 s (the firing one doesn't count).
    Order: most noise first (DiskFull and CPUHot 3, HighErrorRate 1), then most fired (DiskFull 4
    before CPUHot 3).
    Not in January: an alert on 1 February (UTC), and one on 31 December.
    """
    make_alert("DiskFull", starts_at=jan(1), seconds=60, incident=IncidentFactory(started_at=jan(1)))
    make_alert("DiskFull", starts_at=jan(2), seconds=120)
    make_alert("DiskFull", starts_at=jan(3), seconds=300)
    make_alert("DiskFull", starts_at=jan(4), seconds=600)
    for day in (5, 6, 7):
        make_alert("CPUHot", starts_at=jan(day))
    make_alert("HighErrorRate", starts_at=jan(8), seconds=100, incident=IncidentFactory(started_at=jan(8)))
    make_alert("HighErrorRate", starts_at=jan(9), seconds=200, incident=IncidentFactory(started_at=jan(9)))
    make_alert("HighErrorRate", starts_at=jan(31, 23, 59))
    make_alert("DiskFull", starts_at=dt.datetime(2024, 2, 1, 0, 0, tzinfo=UTC), seconds=30)
    make_alert("DiskFull", starts_at=dt.datetime(2023, 12, 31, 23, 59, tzinfo=UTC), seconds=30)


def rows(review_month) -> list[tuple]:
    return [(r.name, r.fired, r.signal, r.noise, r.median_firing_seconds) for r in review_month.rows]


def test_the_review_counts_signal_and_noise_noisiest_first(january):
    [month] = selectors.alert_review(first=dt.date(2024, 1, 1), last=dt.date(2024, 1, 31))

    assert month.month == dt.date(2024, 1, 1)
    assert rows(month) == [
        ("DiskFull", 4, 1, 3, 210.0),
        ("CPUHot", 3, 0, 3, None),
        ("HighErrorRate", 3, 2, 1, 150.0),
    ]
    assert (month.fired, month.signal, month.noise) == (10, 3, 7)


def test_the_review_has_every_month_of_the_range_even_empty_ones(january):
    months = selectors.alert_review(first=dt.date(2023, 11, 1), last=dt.date(2024, 2, 1))

    assert [m.month for m in months] == [
        dt.date(2023, 11, 1),
        dt.date(2023, 12, 1),
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 1),
    ]
    assert rows(months[0]) == []
    assert rows(months[1]) == [("DiskFull", 1, 0, 1, 30.0)]
    assert rows(months[3]) == [("DiskFull", 1, 0, 1, 30.0)]


def test_the_review_buckets_months_in_the_reporting_time_zone(settings):
    settings.OPSLOG_REPORT_TIME_ZONE = "Europe/Paris"
    # 23:30 UTC on 31 January is 00:30 on 1 February in Paris (UTC+1 in winter).
    make_alert("LateNight", starts_at=jan(31, 23, 30), seconds=90)
    make_alert("LateNight", starts_at=jan(31, 22, 30), seconds=10)

    january_, february = selectors.alert_review(first=dt.date(2024, 1, 1), last=dt.date(2024, 2, 1))

    assert rows(january_) == [("LateNight", 1, 0, 1, 10.0)]
    assert rows(february) == [("LateNight", 1, 0, 1, 90.0)]


def test_the_review_page_shows_the_month(logged_in, january):
    response = logged_in.get("/alerts/review/?month=2024-01")

    assert response.status_code == 200
    assert rows(response.context["review"])[0] == ("DiskFull", 4, 1, 3, 210.0)
    page = response.content.decode()
    assert "January 2024" in page
    assert "3.5 min" in page  # DiskFull's median, 210 s
    assert "?month=2023-12" in page and "?month=2024-02" in page


@pytest.mark.parametrize("month", ["2024-13", "January", "2024-1", "0999-01", "2024-01-01"])
def test_the_review_page_explains_a_bad_month_without_a_500(logged_in, month):
    response = logged_in.get(f"/alerts/review/?month={month}")

    assert response.status_code == 200
    assert "Enter a month" in response.content.decode()


def test_the_review_api_answers_each_month_of_the_range(api, january):
    response = api.get("/api/alerts/review/?from=2024-01&to=2024-02")

    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"], body["time_zone"]) == ("2024-01", "2024-02", "UTC")
    assert [m["month"] for m in body["months"]] == ["2024-01", "2024-02"]
    jan_ = body["months"][0]
    assert (jan_["fired"], jan_["signal"], jan_["noise"]) == (10, 3, 7)
    assert jan_["alerts"][0] == {
        "name": "DiskFull",
        "fired": 4,
        "signal": 1,
        "noise": 3,
        "signal_ratio": 0.25,
        "median_firing_seconds": 210.0,
    }
    assert jan_["alerts"][1]["median_firing_seconds"] is None
    assert [a["name"] for a in jan_["alerts"]] == ["DiskFull", "CPUHot", "HighErrorRate"]
    assert body["months"][1]["alerts"] == [
        {"name": "DiskFull", "fired": 1, "signal": 0, "noise": 1, "signal_ratio": 0.0, "median_firing_seconds": 30.0}
    ]


def test_the_review_api_defaults_from_to_to(api, january):
    body = api.get("/api/alerts/review/?to=2024-01").json()

    assert [m["month"] for m in body["months"]] == ["2024-01"]


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("from=2024-13&to=2024-12", {"from": ["Enter a month as YYYY-MM, e.g. 2010-05."]}),
        ("from=jan&to=2024-01", {"from": ["Enter a month as YYYY-MM, e.g. 2010-05."]}),
        ("to=2024-1", {"to": ["Enter a month as YYYY-MM, e.g. 2010-05."]}),
        ("from=2024-03&to=2024-01", {"from": ["`from` is after `to`."]}),
        ("from=1950-01&to=2024-01", {"from": ["Enter a month between 1970 and 2999."]}),
        ("from=2000-01&to=2024-01", {"to": ["The review covers at most 240 months."]}),
    ],
)
def test_the_review_api_answers_a_bad_month_with_a_400_naming_it(api, query, errors):
    response = api.get(f"/api/alerts/review/?{query}")

    assert response.status_code == 400
    assert response.json() == errors


def test_the_review_api_needs_a_token(client):
    assert client.get("/api/alerts/review/").status_code in (401, 403)


def test_the_generator_url_is_a_link_only_when_it_is_http(logged_in):
    graph = make_alert(starts_at=jan(3), generator_url="http://prometheus.example.org:9090/graph?g0.expr=up&g0.tab=1")
    script = make_alert(starts_at=jan(4), generator_url="javascript:alert(1)")

    assert (
        'href="http://prometheus.example.org:9090/graph?g0.expr=up&amp;g0.tab=1"'
        in logged_in.get(f"/alerts/{graph.pk}/").content.decode()
    )
    page = logged_in.get(f"/alerts/{script.pk}/").content.decode()
    assert 'href="javascript:' not in page
    assert "<code>javascript:alert(1)</code>" in page
