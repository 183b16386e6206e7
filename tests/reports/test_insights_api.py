"""/api/insights/ and /insights/: JSON, CSV, errors per parameter, constant query counts, and
drill-down links that list exactly the rows each figure counts."""

import csv
import datetime as dt
import io
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.factories import IncidentFactory
from incidents.filters import IncidentFilter
from incidents.models import Incident
from postmortems import selectors as postmortem_selectors
from postmortems.forms import RemediationFilterForm
from reports.insights import InsightFilters, insights
from tests.reports.test_insights import END, START
from tests.support.insights import generate

pytestmark = pytest.mark.django_db


@pytest.fixture
def zone(settings):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = settings.OPSLOG_WORKING_HOURS_TIME_ZONE = "Europe/Berlin"
    settings.OPSLOG_WORKING_HOURS = (9 * 60, 18 * 60)
    settings.OPSLOG_WORKING_DAYS = frozenset(range(5))


RANGE = f"start={START}&end={END}"


def test_json_has_every_figure_with_links(api, zone):
    generate(3, 25)
    response = api.get(f"/api/insights/?{RANGE}")
    assert response.status_code == 200
    data = response.json()
    assert data["start"] == "2025-01-15" and data["end"] == "2025-12-31" and data["time_zone"] == "Europe/Berlin"
    assert set(data) >= {"factors", "by_service", "by_team", "repeats", "stages", "remediations", "reviews", "on_call"}
    assert data["incidents"]["link"].startswith("/incidents/?since=2025-01-15&until=2025-12-31")
    assert data["factors"] and all(m["link"] for f in data["factors"] for m in f["months"])


def test_csv_is_long_rows_with_links(api, zone):
    generate(3, 25)
    response = api.get(f"/api/insights/?{RANGE}&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="opslog-insights-2025-01-15-to-2025-12-31.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    data = api.get(f"/api/insights/?{RANGE}").json()
    assert rows[0] == {
        "figure": "incidents",
        "factor": "",
        "service": "",
        "team": "",
        "severity": "",
        "kind": "",
        "responder": "",
        "month": "",
        "value": str(data["incidents"]["count"]),
        "link": data["incidents"]["link"],
    }
    outside = [r for r in rows if r["figure"] == "outside_hours_incidents" and r["month"]]
    assert [int(r["value"]) for r in outside] == [m["count"] for m in data["on_call"]["outside_hours"]["months"]]
    # The Accept header chooses CSV too.
    assert api.get(f"/api/insights/?{RANGE}", HTTP_ACCEPT="text/csv")["Content-Type"].startswith("text/csv")


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("start=2025-13-01", {"start": ["Enter a day as YYYY-MM-DD, e.g. 2026-03-31."]}),
        ("start=0001-01-01", {"start": ["Enter a day between 1970 and 2999."]}),
        (
            "start=2025-05-02&end=2025-05-01",
            {"start": ["The first day (2025-05-02) is after the last one (2025-05-01)."]},
        ),
        ("severity=0,x", {"severity": ["Unknown severity: “0”, “x”. Use 1, 2, 3 or 4."]}),
        ("factor=nope", {"factor": ["Unknown contributing factor: “nope”."]}),
        (
            "service=serach&team=Nobody",
            {"service": ["Unknown service: “serach”."], "team": ["Unknown team: “Nobody”."]},
        ),
        ("tag=" + "x" * 101, {"tag": ["A tag is at most 100 characters."]}),
    ],
)
def test_bad_parameters_are_a_400_per_parameter_even_as_csv(api, zone, query, errors):
    for suffix in ("", "&format=csv"):
        response = api.get(f"/api/insights/?{query}{suffix}")
        assert response.status_code == 400
        assert response.json() == errors


def test_huge_and_odd_input_is_a_clear_400(api, zone):
    response = api.get("/api/insights/?" + "&".join(f"tag=t{i}" for i in range(500)))
    assert response.status_code == 400 and response.json() == {"tag": ["At most 20 tags."]}
    response = api.get("/api/insights/?tag=%F0%9F%94%A5%E2%80%AE&service=%00")
    assert response.status_code == 400 and "service" in response.json()
    response = api.get("/api/insights/?tag=a%00b")
    assert response.status_code == 400 and response.json() == {"tag": ["A tag can't contain control characters."]}
    # Odd but printable: no such tag, empty figures.
    response = api.get("/api/insights/?tag=%F0%9F%94%A5%E2%80%AE")
    assert response.status_code == 200 and response.json()["incidents"]["count"] == 0


def test_login_required(client, zone):
    assert client.get("/api/insights/").status_code in (401, 403)
    response = client.get("/insights/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def _queries(callable_) -> int:
    with CaptureQueriesContext(connection) as ctx:
        callable_()
    return len(ctx.captured_queries)


def test_query_count_is_the_same_at_1_and_at_30_incidents(api, logged_in, zone):
    generate(5, 1)
    api_small = _queries(lambda: api.get(f"/api/insights/?{RANGE}"))
    page_small = _queries(lambda: logged_in.get(f"/insights/?{RANGE}"))
    filtered = f"{RANGE}&severity=1,2,3,4&factor=f-config&tag=dns"
    api_filtered_small = _queries(lambda: api.get(f"/api/insights/?{filtered}"))
    generate(6, 29)
    assert Incident.objects.count() >= 30
    assert _queries(lambda: api.get(f"/api/insights/?{RANGE}")) == api_small
    assert _queries(lambda: logged_in.get(f"/insights/?{RANGE}")) == page_small
    assert _queries(lambda: api.get(f"/api/insights/?{filtered}")) == api_filtered_small


def test_page_shows_charts_tables_downloads_and_empty_state(logged_in, zone):
    response = logged_in.get(f"/insights/?{RANGE}")
    assert response.status_code == 200
    assert b"No incidents or remediations in this range" in response.content
    generate(3, 25)
    response = logged_in.get(f"/insights/?{RANGE}")
    content = response.content.decode()
    assert 'id="chart-factors"' in content and 'id="insights-data"' in content
    assert "/api/insights/?start=2025-01-15&amp;end=2025-12-31&amp;format=csv" in content
    assert '<a href="/insights/" aria-current="page">Insights</a>' in content
    assert logged_in.get("/insights/?start=nope").status_code == 400


def _incident_list(url: str):
    parts = urlsplit(url)
    assert parts.path == "/incidents/"
    filterset = IncidentFilter(QueryDict(parts.query), queryset=Incident.objects.all())
    assert filterset.is_valid(), filterset.errors
    return filterset.qs


def _remediation_list(url: str):
    parts = urlsplit(url)
    assert parts.path == "/remediations/"
    form = RemediationFilterForm(QueryDict(parts.query))
    assert form.is_valid(), form.errors
    return form.by_status(form.scope(postmortem_selectors.remediation_list()))


@pytest.mark.parametrize(
    "filters",
    [InsightFilters(), InsightFilters(teams=("platform",), severities=(1, 3)), InsightFilters(services=("web",))],
)
def test_drill_downs_list_exactly_the_rows_counted(zone, filters):
    """Followed through the lists' own filters: the list has as many rows as the figure counts
    (links needing the factor and tag filters, built elsewhere, are left to those lists' tests)."""
    generate(7, 80)
    data = insights(start=START, end=END, filters=filters)

    def check(figure):
        assert _incident_list(figure["link"]).count() == figure["count"], figure["link"]

    check(data["incidents"])
    for row in data["by_service"] + data["by_team"]:
        if row["link"]:
            check(row)
            for severity in row["severities"]:
                if severity["link"]:
                    check(severity)
                else:  # left out by the severity filter
                    assert severity["count"] == 0 and filters.severities
    for row in data["stages"]:
        for stage in ("detect", "acknowledge", "mitigate", "resolve"):
            if row[stage]["link"]:
                check(row[stage])
    check(data["reviews"]["published"])
    check(data["repeats"])
    for row in data["repeats"]["by_service"]:
        check(row)
    for person in data["on_call"]["responders"]:
        check(person["total"])
        for month in person["months"]:
            check(month)
    check(data["on_call"]["outside_hours"])
    for month in data["on_call"]["outside_hours"]["months"]:
        check(month)
    for kind in ("dev", "ops", "all"):
        for name in ("opened", "done", "wont_do", "overdue"):
            figure = data["remediations"][kind][name]
            assert _remediation_list(figure["link"]).count() == figure["count"], figure["link"]


def test_drill_down_into_a_month_uses_whole_days_of_the_reporting_zone(zone):
    generate(8, 40)
    data = insights(start=dt.date(2025, 2, 10), end=dt.date(2025, 11, 20))
    for month in data["on_call"]["outside_hours"]["months"]:
        assert _incident_list(month["link"]).count() == month["count"]


def test_the_remediation_list_keeps_the_insights_filters(logged_in, zone):
    generate(9, 30)
    data = insights(start=START, end=END, filters=InsightFilters(teams=("platform",), severities=(1, 2)))
    figure = data["remediations"]["ops"]["opened"]
    response = logged_in.get(figure["link"])
    assert response.status_code == 200
    content = response.content.decode()
    assert f"{figure['count']} remediation" in content
    assert '<input type="hidden" name="team" value="platform">' in content
    assert '<input type="hidden" name="since" value="2025-01-15">' in content


def test_how_we_count_defines_the_insights_with_the_settings(logged_in, settings):
    settings.OPSLOG_INSIGHTS_REPEAT_DAYS = 14
    settings.OPSLOG_WORKING_HOURS = (8 * 60, 17 * 60 + 30)
    content = logged_in.get("/reports/how-we-count/").content.decode()
    assert 'id="insights"' in content
    assert "at most 14 days before it" in content and "08:00–17:30" in content


@pytest.mark.parametrize(
    "filters",
    [
        InsightFilters(),
        InsightFilters(tags=("dns",)),
        InsightFilters(factors=("f-config", "f-capacity"), severities=(1, 2)),
    ],
)
def test_factor_and_tag_drill_downs_list_exactly_the_rows_counted(zone, filters):
    """The factor figures' links and any figure under a tag or factor filter, followed through the
    incident list's own ?factor= and ?tag= filters."""
    generate(11, 80)
    data = insights(start=START, end=END, filters=filters)

    def check(figure):
        if figure["link"]:
            assert _incident_list(figure["link"]).count() == figure["count"], figure["link"]

    check(data["incidents"])
    assert data["factors"], "the generated data names factors"
    for factor in data["factors"]:
        check(factor["total"])
        for row in factor["months"] + factor["services"] + factor["teams"]:
            check(row)
    for row in data["by_service"]:
        check(row)
    check(data["repeats"])


def test_a_tag_filter_finds_a_tag_by_its_name_in_any_case_or_by_its_slug():
    tagged = IncidentFactory(started_at=timezone.now() - dt.timedelta(days=1))
    tagged.tags.add("Black Friday")
    IncidentFactory(started_at=timezone.now() - dt.timedelta(days=1))
    today = timezone.localdate()
    for spelling in ("Black Friday", "black friday", "black-friday"):
        data = insights(start=today - dt.timedelta(days=3), end=today, filters=InsightFilters(tags=(spelling,)))
        assert data["incidents"]["count"] == 1, spelling
        assert list(_incident_list(data["incidents"]["link"])) == [tagged]
