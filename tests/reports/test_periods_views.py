"""The dashboard's periods: the switch, the table per week, quarter and year, and drill-downs that
select exactly each period's rows, across a month boundary and a summer-time change."""

import datetime as dt
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from reports.selectors import Filters, counted_deploys, counted_incidents
from tests.support.reports import build_march
from tests.support.times import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def march():
    return build_march()


def switch_links(html: str) -> dict[str, dict]:
    """The period switch's links: period → its query, parsed."""
    nav = re.search(r'<nav class="period-switch" aria-label="Period">(.*?)</nav>', html, re.S)
    assert nav, "no period switch"
    links = re.findall(r'<a href="([^"]+)" data-period="(\w+)"( aria-current="page")?>', nav[1])
    return {
        period: {"query": parse_qs(urlsplit(unescape(url)).query), "current": bool(current)}
        for url, period, current in links
    }


def test_the_switch_keeps_the_filters_and_gives_the_range_in_each_periods_notation(logged_in, march):
    html = logged_in.get(
        "/?from=2024-02&to=2024-04&service=web&severity=1&severity=2&include_partial=1"
    ).content.decode()

    links = switch_links(html)
    assert list(links) == ["week", "month", "quarter", "year"]
    assert [p for p, link in links.items() if link["current"]] == ["month"]
    for link in links.values():
        assert link["query"]["service"] == ["web"]
        assert link["query"]["severity"] == ["1", "2"]
        assert link["query"]["include_partial"] == ["1"]
    # February to April 2024: 1 February is in 2024-W05, 30 April in 2024-W18.
    assert (links["week"]["query"]["from"], links["week"]["query"]["to"]) == (["2024-W05"], ["2024-W18"])
    assert (links["quarter"]["query"]["from"], links["quarter"]["query"]["to"]) == (["2024-Q1"], ["2024-Q2"])
    assert (links["year"]["query"]["from"], links["year"]["query"]["to"]) == (["2024"], ["2024"])
    assert (links["month"]["query"]["from"], links["month"]["query"]["to"]) == (["2024-02"], ["2024-04"])


def test_without_a_range_the_switch_leaves_each_period_its_default(logged_in, march):
    links = switch_links(logged_in.get("/?service=web").content.decode())

    assert "from" not in links["week"]["query"] and links["week"]["query"]["period"] == ["week"]


def test_a_weekly_dashboard(logged_in, march):
    response = logged_in.get("/?period=week&from=2024-W10&to=2024-W14&service=web")
    html = response.content.decode()

    assert response.status_code == 200
    assert "<h1>The weekly numbers</h1>" in html
    assert '<h2 id="months-heading">Week by week</h2>' in html
    assert '<th rowspan="2" scope="col">Week</th>' in html
    assert '<input type="hidden" name="period" value="week">' in html
    assert 'type="week" name="from" value="2024-W10"' in html and 'type="week" name="to" value="2024-W14"' in html
    rows = response.context["months"]
    assert [r.label for r in rows] == ["2024-W10", "2024-W11", "2024-W12", "2024-W13", "2024-W14"]
    assert rows[0].dates == "4–10 Mar 2024" and rows[4].dates == "1–7 Apr 2024"
    assert [r.figures.deploys for r in rows] == [1, 1, 1, 0, 1]
    assert response.context["totals"].label == "All weeks"
    assert "DORA level, 2024-W10 to 2024-W14:" in html
    assert response.context["chart"]["labels"][0] == "2024-W10"
    assert [p for p, link in switch_links(html).items() if link["current"]] == ["week"]


def test_a_quarterly_and_a_yearly_dashboard(logged_in, march):
    quarters = logged_in.get("/?period=quarter&from=2024-Q1&to=2024-Q2&service=web")
    years = logged_in.get("/?period=year&from=2023&to=2024&service=web")

    assert [(r.label, r.figures.deploys) for r in quarters.context["months"]] == [("2024-Q1", 3), ("2024-Q2", 1)]
    assert 'name="from" value="2024-Q1" placeholder="YYYY-Qn"' in quarters.content.decode()
    assert '<th rowspan="2" scope="col">Quarter</th>' in quarters.content.decode()
    assert [(r.label, r.figures.deploys) for r in years.context["months"]] == [("2023", 0), ("2024", 4)]
    assert "<h1>The yearly numbers</h1>" in years.content.decode()


def test_partial_weeks_are_marked_and_left_out_of_the_level(logged_in, march, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: at("2024-03-20T12:00:00Z"))  # a Wednesday

    response = logged_in.get("/?period=week&from=2024-W10&to=2024-W12")
    html = response.content.decode()

    assert [r.figures.partial for r in response.context["months"]] == [False, False, True]
    assert "2024-W12 so far — partial, not in the level." in html
    assert "DORA level, 2024-W10 to 2024-W11:" in html
    assert "This week hasn&#x27;t ended" in html or "This week hasn't ended" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("period=day", "Unknown period “day”: use week, month, quarter or year."),
        ("period=week&from=2026-W54", "2026 has no week W54: its ISO weeks are W01 to W53."),
        ("period=quarter&from=2026-Q5", "A year has quarters Q1 to Q4, not Q5."),
        ("period=week&from=2024-W10&to=2024-W01", "The first week (2024-W10) is after the last one (2024-W01)."),
    ],
)
def test_bad_periods_are_form_errors_not_a_500(logged_in, query, message):
    response = logged_in.get(f"/?{query}")

    assert response.status_code == 400
    assert message in unescape(response.content.decode())
    # The switch leads to each period's default range rather than to the same error.
    for link in switch_links(response.content.decode()).values():
        assert "from" not in link["query"] and "to" not in link["query"]


@pytest.mark.parametrize("period", ["week", "quarter"])
def test_query_count_does_not_grow_with_the_range(logged_in, march, period):
    def count(query):
        with CaptureQueriesContext(connection) as ctx:
            assert logged_in.get(f"/?period={period}&{query}").status_code == 200
        return len(ctx.captured_queries)

    if period == "week":
        one, many = count("from=2024-W10&to=2024-W10&service=web"), count("from=2015-W01&to=2024-W52&service=web")
    else:
        one, many = count("from=2024-Q1&to=2024-Q1&service=web"), count("from=2005-Q1&to=2024-Q4&service=web")
    monthly = count("period=month&from=2024-03&to=2024-03&service=web")

    # As the monthly dashboard: session, user, services, production environments, the report and
    # the year line.
    assert one == many == monthly <= 2 + 2 + 2 * 11


# --- Drill-downs: a week across a month boundary and a summer-time change -------------------------


def build_new_york_week():
    """2026-W44 in New York: Monday 26 October 00:00 EDT (04:00 UTC) to Monday 2 November 00:00 EST
    (05:00 UTC), 169 hours: summer time ends on Sunday 1 November. Rows on and either side of each edge."""
    web = ServiceFactory(slug="web", dev_team="Storefront")
    api = ServiceFactory(slug="api", dev_team="Platform")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")

    def deploy(when, deployer, status="succeeded", service=web, environment=production):
        return DeployFactory(
            service=service, environment=environment, deployed_at=at(when), deployer=deployer, status=status
        )

    deploys = [
        deploy("2026-10-26T03:59:59Z", "before"),  # Sunday 25 October 23:59:59 EDT: W43
        first := deploy("2026-10-26T04:00:00Z", "first"),  # W44 starts
        deploy("2026-10-31T23:00:00Z", "october", status="rolled_back"),  # Saturday 31 October 19:00 EDT
        cause := deploy("2026-11-01T06:30:00Z", "fallback", service=api),  # 01:30 EST, the second 01:30
        deploy("2026-11-01T10:00:00Z", "failed", status="failed"),  # not counted
        deploy("2026-11-01T11:00:00Z", "staging", environment=staging),  # not counted
        last := deploy("2026-11-02T04:59:59Z", "last"),  # Sunday 23:59:59 EST: still W44
        deploy("2026-11-02T05:00:00Z", "after"),  # Monday 2 November 00:00 EST: W45
    ]

    def incident(started, service=web, resolved=None, severity=3):
        started = at(started)
        return IncidentFactory(
            started_at=started,
            detected_at=started + dt.timedelta(minutes=2),
            resolved_at=started + dt.timedelta(minutes=resolved) if resolved is not None else None,
            severity=severity,
            services=[service],
        )

    incidents = [
        incident("2026-10-26T03:59:00Z", resolved=5),  # W43
        caused := incident("2026-11-01T06:40:00Z", service=api, resolved=30, severity=1),
        incident("2026-10-31T12:00:00Z"),  # unresolved
        incident("2026-11-02T04:59:00Z", resolved=1),  # last minute of W44
        incident("2026-11-02T05:00:00Z", resolved=1),  # W45
    ]
    IncidentDeployFactory(incident=caused, deploy=cause, relation="cause")
    IncidentDeployFactory(incident=caused, deploy=last, relation="remediation")
    return {"deploys": deploys, "incidents": incidents, "first": first}


def expected_rows(filters: Filters, start: dt.date, end: dt.date, zone) -> dict[str, set[int]]:
    since = dt.datetime.combine(start, dt.time.min, tzinfo=zone)
    until = dt.datetime.combine(end, dt.time.min, tzinfo=zone)
    deploys = {d.pk: d for d in counted_deploys(filters, since, until)}
    incidents = {i.pk: i for i in counted_incidents(filters, since, until)}
    from incidents.models import IncidentDeploy

    links = set(IncidentDeploy.objects.values_list("deploy_id", "incident_id", "relation"))
    causing = {deploy for deploy, _, relation in links if relation == "cause"}
    remediating = {deploy for deploy, _, relation in links if relation == "remediation"}
    caused = {incident for _, incident, relation in links if relation == "cause"}
    return {
        "deploys": set(deploys),
        "failed_deploys": {pk for pk, d in deploys.items() if pk in causing or d.status == "rolled_back"},
        "rework_deploys": set(deploys) & remediating,
        "lead_time": set(deploys),
        "incidents": set(incidents),
        "deploy_related_incidents": set(incidents) & caused,
        "unresolved_incidents": {pk for pk, i in incidents.items() if i.resolved_at is None},
        "mttd": set(incidents),
        "mttr": {pk for pk, i in incidents.items() if i.resolved_at is not None},
        "time_to_restore": {pk for pk, i in incidents.items() if i.resolved_at is not None},
    }


COUNTS = {
    "deploys": "deploys",
    "failed_deploys": "failed_deploys",
    "rework_deploys": "rework_deploys",
    "incidents": "incidents",
    "deploy_related_incidents": "deploy_related_incidents",
    "unresolved_incidents": "unresolved_incidents",
}


@pytest.mark.parametrize(("query", "filters"), [("", Filters()), ("service=web", Filters(services=("web",)))])
def test_each_weeks_links_select_exactly_its_rows_across_a_month_and_a_summer_time_change(
    logged_in, settings, query, filters
):
    import zoneinfo

    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "America/New_York"
    build_new_york_week()
    zone = zoneinfo.ZoneInfo("America/New_York")

    response = logged_in.get(f"/?period=week&from=2026-W43&to=2026-W45&{query}")

    assert response.status_code == 200
    rows = response.context["months"]
    assert [r.label for r in rows] == ["2026-W43", "2026-W44", "2026-W45"]
    w44 = rows[1].figures
    assert (w44.start, w44.end) == (dt.date(2026, 10, 26), dt.date(2026, 11, 2))
    expected_deploys = 4 if not filters.services else 3  # first, october, fallback (api), last
    assert w44.deploys == expected_deploys
    if not filters.services:
        assert (w44.incidents, w44.deploy_related_incidents, w44.unresolved_incidents) == (3, 1, 1)
        assert (w44.failed_deploys, w44.rework_deploys) == (2, 1)  # october rolled back, fallback caused
    for row in [*rows, response.context["totals"]]:
        f = row.figures
        expected = expected_rows(filters, f.start, f.end, zone)
        for what, rows_expected in expected.items():
            listed = logged_in.get(row.links[what].url)
            assert listed.status_code == 200, row.links[what].url
            assert {r.pk for r in listed.context["page"]} == rows_expected, (row.label, what)
            if what in COUNTS:
                assert len(rows_expected) == getattr(f, COUNTS[what]), (row.label, what)


def test_how_we_count_defines_weeks_and_quarters(logged_in):
    html = logged_in.get("/reports/how-we-count/").content.decode()

    assert '<h2 id="weeks-quarters">Weeks, quarters and years</h2>' in html
    assert "167 or 169 hours" in html and "<code>2026-W05</code>" in html and "80 quarters" in html
