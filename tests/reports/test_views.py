"""The dashboard and the "how we count" page."""

import datetime as dt
import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.models import IncidentDeploy
from reports.selectors import Filters, monthly_report
from reports.views import drilldown
from tests.support.reports import build_march
from tests.support.times import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def march():
    return build_march()


def html_of(response) -> str:
    return response.content.decode()


def month_row(html: str, label: str) -> str:
    match = re.search(rf'<tr class="period">\s*<th scope="row" class="month">{label}</th>(.*?)</tr>', html, re.S)
    assert match, f"no row for {label}"
    return match[1]


def cells(html: str, label: str) -> list[str]:
    """The text of a row's cells after its label."""
    row = month_row(html, label)
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r'<td class="[^"]*">(.*?)</td>', row)]


def cell_link(row: str, css: str) -> str:
    match = re.search(rf'<td class="num {css}"><a class="[^"]*" href="([^"]+)"', row)
    assert match, f"no link in {css}"
    return unescape(match[1])


def listed_pks(client, url: str) -> set[int]:
    response = client.get(url)
    assert response.status_code == 200
    return {row.pk for row in response.context["page"]}


@pytest.mark.parametrize("url", ["/", "/reports/", "/reports/how-we-count/"])
def test_pages_need_a_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(f"/accounts/login/?next={url}")


def test_defaults_to_the_last_12_months_ending_this_month_in_the_reporting_time_zone(logged_in, settings, monkeypatch):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "Europe/Berlin"
    monkeypatch.setattr("plumbing.fields.timezone.now", lambda: at("2024-03-31T22:30:00Z"))  # 00:30 on 1 April

    response = logged_in.get("/")

    assert response.status_code == 200
    months = response.context["months"]
    assert [m.label for m in months][:1] + [m.label for m in months][-1:] == ["May 2023", "Apr 2024"]
    assert len(months) == 12
    html = html_of(response)
    assert 'name="from" value="2023-05"' in html and 'name="to" value="2024-04"' in html
    assert "months in Europe/Berlin" in html


def test_every_figure_of_a_month_and_the_totals(logged_in, march):
    html = html_of(logged_in.get("/?from=2024-02&to=2024-04&service=web"))

    text = cells(html, "Mar 2024")
    assert text == [
        "3",
        "2",
        "3",
        "2",
        "1",  # deploys, deployers, incidents, deploy-related, unresolved
        "66.7 %",
        "66.7 %",
        "0.0 %",  # incident rate, change failure rate, rework rate
        "1 min 10 s",
        "1 min",  # MTTD mean, median
        "3 min 15 s",
        "3 min 15 s",  # MTTA: (300 + 90) / 2 = 195 s; i3 was never acknowledged
        "20 min",
        "20 min",  # MTTR
        "21 min 30 s",
        "21 min 30 s",  # time to restore: 1290 s
        "13 h",  # lead time median: 46800 s
        "4 d 7 h",
        "4 d 7 h",  # failed deployment recovery time: (691200 + 52260) / 2 = 371730 s
        "0",  # unrecovered failed deploys
        "low",  # DORA overall
    ]
    # No deploys in February is measured (low); the level names what had nothing to measure.
    assert cells(html, "Feb 2024") == ["0"] * 5 + ["—"] * 14 + ["0"] + [
        "low left out: lead time (no commits); change failure rate (no deploys); "
        "failed deployment recovery time (no failed deploys)"
    ]
    assert cells(html, "All months")[:8] == ["4", "2", "3", "2", "1", "50.0 %", "50.0 %", "25.0 %"]


def test_year_summary_line_in_etsys_style(logged_in, march):
    html = html_of(logged_in.get("/?from=2024-02&to=2024-04&service=web"))

    line = re.sub(r"<[^>]+>", "", re.search(r"<li><strong>2024:</strong>(.*?)</li>", html, re.S)[1])
    # The whole of 2024: d1 d2 d3 d5; i1 i2 deploy-related; MTTD mean (120+60+30)/3, MTTA mean (300+90)/2,
    # MTTR mean (600+1800)/2.
    assert " ".join(line.split()) == (
        "4 code deploys, 2 deploy-related incidents, 1 min 10 s MTTD, 3 min 15 s MTTA, 20 min MTTR"
    )
    assert "MTTD, MTTA and MTTR here are <em>means</em>" in html


def test_year_summary_lists_each_calendar_year_of_the_range(logged_in):
    html = html_of(logged_in.get("/?from=2023-11&to=2024-02"))

    assert re.findall(r"<li><strong>(\d{4}):</strong>", html) == ["2023", "2024"]
    lines = [" ".join(re.sub(r"<[^>]+>", "", li).split()) for li in re.findall(r"<li>(.*?)</li>", html, re.S)]
    assert "2023: 0 code deploys, 0 deploy-related incidents, no MTTD, no MTTA, no MTTR" in lines


def test_dora_levels_for_the_range_with_the_bands(logged_in, march):
    response = logged_in.get("/?from=2024-02&to=2024-04&service=web")
    html = html_of(response)

    assert re.search(r'<h2 id="dora-heading">DORA level, Feb 2024 to Apr 2024: <span class="dora-level low">low', html)
    levels = {m.key: m.level for m in response.context["dora"]}
    assert levels == {
        "deploy_frequency": "medium",
        "lead_time": "elite",
        "change_failure_rate": "low",
        "failed_deployment_recovery_time": "medium",
        "time_to_restore": "elite",
    }
    row = re.search(r'<tr class="dora-change_failure_rate">(.*?)</tr>', html, re.S)[1]
    assert "50.0 %" in row
    assert '<td class="band current">more</td>' in row
    for band in ("≥ 1 a day", "≥ 1 a week", "≥ 1 a month", "&lt; 1 hour", "≤ 15 %"):
        assert band in html


def test_a_month_without_deploys_is_rated_low_and_says_what_was_left_out(logged_in, march):
    response = logged_in.get("/?from=2024-02&to=2024-02&service=web")
    html = html_of(response)

    assert re.search(r'<h2 id="dora-heading">DORA level, Feb 2024 to Feb 2024: <span class="dora-level low">low', html)
    assert (
        "Left out of the level: lead time (no commits); change failure rate (no deploys); "
        "failed deployment recovery time (no failed deploys)."
    ) in html
    summary = {m.key: (m.level, m.value) for m in response.context["dora"]}
    assert summary == {
        "deploy_frequency": ("low", "none in 29 days: 0"),
        "lead_time": (None, "left out: no commits"),
        "change_failure_rate": (None, "left out: no deploys"),
        "failed_deployment_recovery_time": (None, "left out: no failed deploys"),
        "time_to_restore": (None, "none restored (not in the level)"),
    }


def test_counts_link_to_exactly_the_incidents_they_count(logged_in, march):
    row = month_row(html_of(logged_in.get("/?from=2024-03&to=2024-03&service=web")), "Mar 2024")

    incidents = cell_link(row, "incidents")
    related = cell_link(row, "deploy-related")

    assert incidents == "/incidents/?since=2024-03-01&until=2024-03-31&service=web"
    assert related == "/incidents/?since=2024-03-01&until=2024-03-31&service=web&deploy_related=true"
    assert listed_pks(logged_in, incidents) == {march["i1"].pk, march["i2"].pk, march["i3"].pk}
    assert listed_pks(logged_in, related) == {march["i1"].pk, march["i2"].pk}


def test_severity_goes_into_the_incident_links_not_the_deploy_links(logged_in, march):
    row = month_row(html_of(logged_in.get("/?from=2024-03&to=2024-03&service=web&severity=1")), "Mar 2024")

    assert listed_pks(logged_in, cell_link(row, "incidents")) == {march["i2"].pk}
    assert "severity" not in cell_link(row, "deploys")


def test_a_team_goes_into_the_links(logged_in, march):
    row = month_row(html_of(logged_in.get("/?from=2024-03&to=2024-03&team=Platform")), "Mar 2024")

    assert cell_link(row, "incidents") == "/incidents/?since=2024-03-01&until=2024-03-31&team=Platform"
    assert listed_pks(logged_in, cell_link(row, "incidents")) == {march["i4"].pk}
    assert listed_pks(logged_in, cell_link(row, "deploys")) == {march["api_deploy"].pk}


def test_deploy_links_cover_the_month_the_service_and_production(logged_in, march):
    row = month_row(html_of(logged_in.get("/?from=2024-03&to=2024-03&service=web")), "Mar 2024")
    url = cell_link(row, "deploys")

    assert url == (
        "/deploys/?since=2024-03-01&until=2024-03-31&service=web&production=true&status=succeeded&status=rolled_back"
    )
    # #15.12: "Deployers" leads to the people behind those same deploys, not the deploys again.
    assert cell_link(row, "deployers") == url.replace("/deploys/", "/reports/deployers/")


def test_deploy_count_links_to_exactly_the_counted_deploys(logged_in, march):
    row = month_row(html_of(logged_in.get("/?from=2024-03&to=2024-03&service=web")), "Mar 2024")

    assert listed_pks(logged_in, cell_link(row, "deploys")) == {march["d1"].pk, march["d2"].pk, march["d3"].pk}


def test_unresolved_count_links_to_exactly_the_unresolved_incidents(logged_in, march):
    row = month_row(html_of(logged_in.get("/?from=2024-03&to=2024-03&service=web")), "Mar 2024")

    assert listed_pks(logged_in, cell_link(row, "unresolved")) == {march["i3"].pk}


def test_no_link_is_approximate_any_more(logged_in, march):
    html = html_of(logged_in.get("/?from=2024-03&to=2024-03&service=web,api&team=Storefront,Platform&severity=1,3"))
    row = month_row(html, "Mar 2024")

    assert re.search(r'<td class="num incidents"><a class="count" href="[^"]+">3</a>', row)
    assert "approx" not in html and "Approximate" not in html
    assert "Links marked with a dotted underline" not in html
    assert "can&#x27;t yet select" not in html


def test_month_edges_follow_the_reporting_time_zone(logged_in, settings):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "Europe/Berlin"
    web = ServiceFactory(slug="web")
    production = EnvironmentFactory(slug="production")
    march_last = DeployFactory(service=web, environment=production, deployed_at=at("2024-03-31T21:59:00Z"))
    april_first = DeployFactory(service=web, environment=production, deployed_at=at("2024-03-31T22:30:00Z"))

    html = html_of(logged_in.get("/?from=2024-03&to=2024-04"))

    assert listed_pks(logged_in, cell_link(month_row(html, "Mar 2024"), "deploys")) == {march_last.pk}
    assert listed_pks(logged_in, cell_link(month_row(html, "Apr 2024"), "deploys")) == {april_first.pk}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2024-13", "From: Enter a month as YYYY-MM, e.g. 2010-05."),
        ("from=2024-05&to=2024-04", "From: The first month (2024-05) is after the last one (2024-04)."),
        ("from=1990-01&to=2024-12", "To: A report covers at most 240 months (20 years); 1990-01 to 2024-12 is 420."),
        ("service=serach", "Service: Unknown service: “serach”."),
        ("severity=9", "Severity: Unknown severity: “9”. Use 1, 2, 3 or 4."),
        ("team=%00", "Team: Unknown team: “\x00”."),
        ("from=99999-01", "From: Enter a month as YYYY-MM, e.g. 2010-05."),
    ],
)
def test_bad_values_are_form_errors_not_a_500(logged_in, query, message):
    response = logged_in.get(f"/?{query}")

    assert response.status_code == 400
    assert message in unescape(html_of(response))
    assert '<table class="report"' not in html_of(response)


def test_the_form_keeps_what_was_typed_when_it_is_wrong(logged_in):
    html = html_of(logged_in.get("/?from=2024-13&to=2024-02"))

    assert 'name="from" value="2024-13"' in html and 'name="to" value="2024-02"' in html


def test_filter_choices_are_the_services_and_teams(logged_in, march):
    html = html_of(logged_in.get("/?service=web"))

    assert '<option value="web" selected>web</option>' in html
    assert '<option value="api">api</option>' in html
    assert '<option value="Platform">Platform</option>' in html and '<option value="Storefront">' in html
    assert '<option value="1">SEV1 · critical</option>' in html


def test_charts_use_the_vendored_library_and_no_inline_script(logged_in, march):
    response = logged_in.get("/?from=2024-02&to=2024-04&service=web")
    html = html_of(response)

    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert [attrs for attrs, body in scripts if body.strip() and 'type="application/json"' not in attrs] == []
    assert '<script src="/static/vendor/chartjs/chart.umd.min.js" defer></script>' in html
    assert '<script src="/static/opslog/dashboard.js" defer></script>' in html
    # Nothing loaded from another host (a bare "cdn" search would trip on random CSRF tokens).
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)
    chart = response.context["chart"]
    assert chart["labels"] == ["Feb 2024", "Mar 2024", "Apr 2024"]  # #15.12: named as in the table
    assert (chart["deploys"], chart["deployers"]) == ([0, 3, 1], [0, 2, 1])
    assert (chart["incidents"], chart["deploy_related_incidents"]) == ([0, 3, 0], [0, 2, 0])
    assert chart["mttd_median"] == [None, 60.0, None]
    assert chart["change_failure_rate"] == [None, 2 / 3, 0.0]
    # d2 rolled back on 12 March, recovered by d3 on the 20th (8 days); d3, the cause of i1 and
    # i2, recovered when i2 was resolved at 00:31 on the 21st (14 h 31 min): the median of the two.
    assert chart["failed_deployment_recovery_median"] == [None, (8 * 86400 + 52260) / 2, None]
    assert chart["durations_text"]["failed_deployment_recovery_median"][1] == "4 d 7 h"
    assert "failed_change=true" in chart["links"]["failed_deployment_recovery"][1]
    assert chart["links"]["deploys"][1].startswith("/deploys/?since=2024-03-01&until=2024-03-31")
    assert 'id="report-data"' in html
    for asset in ("/static/vendor/chartjs/chart.umd.min.js", "/static/opslog/dashboard.js"):
        assert logged_in.get(asset).status_code == 200


def test_query_count_does_not_grow_with_the_range(logged_in, march):
    def count(query):
        with CaptureQueriesContext(connection) as ctx:
            assert logged_in.get(f"/?{query}").status_code == 200
        return len(ctx.captured_queries)

    one = count("from=2024-03&to=2024-03&service=web")
    ten_years = count("from=2015-01&to=2024-12&service=web")

    # Session, user, services, production environments (the filter's choices), and the report and
    # its year line: 21 queries on SQLite, 23 on PostgreSQL (each report transaction's savepoint,
    # its release and one set_config of the planner settings). The links need no query.
    assert one == ten_years <= 2 + 2 + 2 * 11


def test_how_we_count_states_the_definitions(logged_in, settings):
    settings.OPSLOG_REPORT_TIME_ZONE = "America/New_York"

    html = html_of(logged_in.get("/reports/how-we-count/"))

    assert "<strong>America/New_York</strong>" in html
    for phrase in (
        "Deploy-related incidents ÷ deploys",
        "counts once",
        "Why MTTR starts at detection",
        "MTTA, time to acknowledge",
        "<code>acknowledged − detected</code>), over the month's acknowledged incidents",
        "halfway between the two",
        "lowest of four",
        "Failed deployment recovery time",
        "its <strong>rollback deploy</strong>",
        "Bands by edition",
        "2023 edition",
        "≤ 5 %",
        "&lt; 1 hour",
        "only the first time",
    ):
        assert phrase in html, phrase
    assert logged_in.get("/").status_code == 200


# --- The link helper ----------------------------------------------------------------------------


def test_drilldown_builds_exact_links_for_every_filter():
    common = dict(start=dt.date(2024, 3, 1), end=dt.date(2024, 4, 1))
    filters = Filters(services=("web", "api"), teams=("Platform",), severities=(1, 2))

    deploys = drilldown("deploys", filters=filters, **common)
    unresolved = drilldown("unresolved_incidents", filters=filters, **common)

    assert deploys.url == (
        "/deploys/?since=2024-03-01&until=2024-03-31&team=Platform&service=web&service=api"
        "&production=true&status=succeeded&status=rolled_back"
    )
    assert drilldown("deployers", filters=filters, **common).url == deploys.url.replace(
        "/deploys/", "/reports/deployers/"
    )
    # #15.12: the durations lead to the rows they average.
    assert drilldown("lead_time", filters=filters, **common) == deploys
    assert drilldown("mttd", filters=filters, **common).url == unresolved.url.replace("&resolved=false", "")
    assert drilldown("mttr", filters=filters, **common).url == unresolved.url.replace("=false", "=true")
    assert drilldown("mtta", filters=filters, **common).url == unresolved.url.replace(
        "&resolved=false", "&acknowledged=true"
    )
    assert drilldown("time_to_restore", filters=filters, **common).url == unresolved.url.replace("=false", "=true")
    assert unresolved.url == (
        "/incidents/?since=2024-03-01&until=2024-03-31&team=Platform&service=web&service=api"
        "&severity=1&severity=2&resolved=false"
    )


def test_drilldown_without_filters_and_for_the_rate_numerators():
    common = dict(start=dt.date(2024, 12, 1), end=dt.date(2025, 1, 1))

    incidents = drilldown("incidents", filters=Filters(severities=(2,)), **common)
    deploys = drilldown("deploys", filters=Filters(), **common)
    failed = drilldown("failed_deploys", filters=Filters(), **common)
    rework = drilldown("rework_deploys", filters=Filters(), **common)
    related = drilldown("deploy_related_incidents", filters=Filters(), **common)
    environments = drilldown("deploys", filters=Filters(environments=("production", "production-eu")), **common)

    assert incidents.url == "/incidents/?since=2024-12-01&until=2024-12-31&severity=2"
    assert related.url == "/incidents/?since=2024-12-01&until=2024-12-31&deploy_related=true"
    counted = "/deploys/?since=2024-12-01&until=2024-12-31&production=true&status=succeeded&status=rolled_back"
    assert deploys.url == counted
    assert failed.url == counted + "&failed_change=true"
    assert rework.url == counted + "&remediates=true"
    assert environments.url == (
        "/deploys/?since=2024-12-01&until=2024-12-31&production=true&environment=production"
        "&environment=production-eu&status=succeeded&status=rolled_back"
    )
    with pytest.raises(ValueError):
        drilldown("change_failure_rate", filters=Filters(), **common)


def test_the_duration_filter_rounds_seconds_for_people():
    from plumbing.templatetags.opslog import duration

    assert duration(17.0364) in ("17 s", "17.0 s")
    assert duration(85.553) in ("86 s", "85.6 s")


def test_durations_on_the_dashboard_are_for_people():
    """#15.12: one format for every duration: the largest unit and the next, never "89.1 min"
    beside "3 h 25 min"."""
    from reports.templatetags.reports import for_people

    values = (17.0364, 85.553, 390.0, 5346.0, 12300.0, 4422.0, 86399.9, 3.2 * 86400, None)
    assert [for_people(v) for v in values] == [
        "17 s",
        "1 min 26 s",
        "6 min 30 s",
        "1 h 29 min",  # 89.1 min
        "3 h 25 min",
        "1 h 14 min",  # 73.7 min
        "1 d",
        "3 d 5 h",
        "—",
    ]


def test_an_incident_counts_in_its_start_month_only(logged_in):
    web = ServiceFactory(slug="web")
    incident = IncidentFactory(
        started_at=at("2024-03-31T23:00:00Z"), detected_at=at("2024-04-01T01:00:00Z"), services=[web]
    )

    html = html_of(logged_in.get("/?from=2024-03&to=2024-04"))

    assert listed_pks(logged_in, cell_link(month_row(html, "Mar 2024"), "incidents")) == {incident.pk}
    assert listed_pks(logged_in, cell_link(month_row(html, "Apr 2024"), "incidents")) == set()


# --- Every count's link lists exactly the rows the count counts --------------------------------------


def build_drilldown_data() -> dict:
    """March 2024 (UTC) with what the lists must tell apart, and February and April around it.

    Services: web (Storefront), admin (Storefront), api (Platform), search (Platform), and an
    untouched one. Production environments: production and production-eu; staging isn't one.
    """
    from deploys.models import Environment
    from incidents.factories import IncidentDeployFactory

    web = ServiceFactory(slug="web", dev_team="Storefront")
    admin = ServiceFactory(slug="admin", dev_team="Storefront")
    api = ServiceFactory(slug="api", dev_team="Platform")
    search = ServiceFactory(slug="search", dev_team="Platform")
    ServiceFactory(slug="docs", dev_team="Docs")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")
    production_eu = Environment.objects.create(slug="production-eu", is_production=True)

    def deploy(when, service, deployer, status="succeeded", environment=production):
        return DeployFactory(
            service=service, environment=environment, deployed_at=at(when), deployer=deployer, status=status
        )

    d = {
        "feb-last": deploy("2024-02-29T23:59:59Z", web, "alice"),
        "web-ok": deploy("2024-03-01T00:00:00Z", web, "alice"),
        "web-rolled": deploy("2024-03-04T10:00:00Z", web, "bob", status="rolled_back"),
        "web-failed": deploy("2024-03-05T10:00:00Z", web, "carol", status="failed"),
        "web-staging": deploy("2024-03-06T10:00:00Z", web, "carol", environment=staging),
        "web-eu": deploy("2024-03-07T10:00:00Z", web, "erin", environment=production_eu),
        "web-cause": deploy("2024-03-08T10:00:00Z", web, "alice"),
        "admin-ok": deploy("2024-03-09T10:00:00Z", admin, "frank"),
        "api-cause": deploy("2024-03-10T10:00:00Z", api, "dave"),
        "api-fix": deploy("2024-03-11T10:00:00Z", api, "dave"),
        "search-failed-cause": deploy("2024-03-12T10:00:00Z", search, "gina", status="failed"),
        "search-staging-fix": deploy("2024-03-13T10:00:00Z", search, "gina", environment=staging),
        "search-rolled-fix": deploy("2024-03-14T10:00:00Z", search, "hugo", status="rolled_back"),
        "apr-first": deploy("2024-04-01T00:00:00Z", web, "alice"),
    }

    def incident(started, services, severity, **stamps):
        started = at(started)
        minutes = {name: started + dt.timedelta(minutes=value) for name, value in stamps.items()}
        return IncidentFactory(
            started_at=started,
            detected_at=started + dt.timedelta(minutes=1),
            severity=severity,
            services=services,
            **minutes,
        )

    i = {
        "feb-open": incident("2024-02-28T10:00:00Z", [web], 2),
        "web-resolved": incident("2024-03-08T11:00:00Z", [web], 1, resolved_at=30),
        "web-api-acked": incident("2024-03-10T11:00:00Z", [web, api], 2, acknowledged_at=5),
        "api-mitigated": incident("2024-03-11T09:00:00Z", [api], 3, acknowledged_at=5, mitigated_at=20),
        "search-open": incident("2024-03-12T11:00:00Z", [search], 2),
        "admin-search": incident("2024-03-15T11:00:00Z", [admin, search], 4, resolved_at=60),
        "no-service": incident("2024-03-16T11:00:00Z", [], 1),
        "web-twice": incident("2024-03-31T23:59:00Z", [web], 3, resolved_at=0),
        # Filed twice: archived, so neither counted nor listed (it would be unresolved and deploy-related).
        "web-api-archived": incident("2024-03-10T11:05:00Z", [web, api], 2),
    }
    from incidents.services import incident_archive

    incident_archive(incident=i["web-api-archived"], reason=f"duplicate of #{i['web-api-acked'].pk}")
    link = IncidentDeployFactory
    link(incident=i["web-resolved"], deploy=d["web-cause"], relation="cause")
    link(incident=i["web-twice"], deploy=d["web-cause"], relation="cause")  # caused two: counts once
    link(incident=i["web-api-acked"], deploy=d["api-cause"], relation="cause")
    link(incident=i["web-api-archived"], deploy=d["api-cause"], relation="cause")
    link(incident=i["web-api-acked"], deploy=d["api-fix"], relation="remediation")
    link(incident=i["search-open"], deploy=d["search-failed-cause"], relation="cause")  # failed: not counted
    link(incident=i["search-open"], deploy=d["search-staging-fix"], relation="remediation")  # staging: not counted
    link(incident=i["search-open"], deploy=d["search-rolled-fix"], relation="remediation")
    return {"deploys": d, "incidents": i}


def expected_rows(what: str, filters: Filters, start: dt.date, end: dt.date) -> set[int]:
    """The rows a count counts, from reports.selectors and the links as stored."""
    from incidents.models import IncidentDeploy
    from reports.selectors import counted_deploys, counted_incidents

    since = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    until = dt.datetime.combine(end, dt.time.min, tzinfo=dt.UTC)
    deploys = {d.pk: d for d in counted_deploys(filters, since, until)}
    incidents = {i.pk: i for i in counted_incidents(filters, since, until)}
    links = set(IncidentDeploy.objects.values_list("deploy_id", "incident_id", "relation"))
    causing = {deploy for deploy, _, relation in links if relation == "cause"}
    remediating = {deploy for deploy, _, relation in links if relation == "remediation"}
    caused = {incident for _, incident, relation in links if relation == "cause"}
    failed = {pk for pk, d in deploys.items() if pk in causing or d.status == "rolled_back"}
    return {
        "deploys": set(deploys),
        "deployers": set(deploys),
        "failed_deploys": failed,
        # Failed deployment recovery time (and its unrecovered ones) lead to the failed deploys.
        "failed_deployment_recovery": failed,
        "unrecovered_failed_deploys": failed,
        "rework_deploys": set(deploys) & remediating,
        "incidents": set(incidents),
        "deploy_related_incidents": set(incidents) & caused,
        "unresolved_incidents": {pk for pk, i in incidents.items() if i.resolved_at is None},
        "lead_time": set(deploys),
        "mttd": set(incidents),
        "mtta": {pk for pk, i in incidents.items() if i.acknowledged_at is not None},
        "mttr": {pk for pk, i in incidents.items() if i.resolved_at is not None},
        "time_to_restore": {pk for pk, i in incidents.items() if i.resolved_at is not None},
    }[what]


def listed(client, url: str) -> list:
    response = client.get(url)
    assert response.status_code == 200, url
    assert not response.context["filter"].errors, url
    page = response.context["page"]
    assert page.paginator.num_pages == 1
    return list(page)


DRILLDOWN_FILTERS = [
    ("", Filters()),
    ("service=web", Filters(services=("web",))),
    ("service=web,api", Filters(services=("web", "api"))),
    ("service=web&service=search", Filters(services=("web", "search"))),
    ("team=Platform", Filters(teams=("Platform",))),
    ("team=Storefront&service=web,api", Filters(services=("web", "api"), teams=("Storefront",))),
    (
        "team=Storefront,Platform&service=admin,search",
        Filters(services=("admin", "search"), teams=("Storefront", "Platform")),
    ),
    # admin-search affects a Storefront service and a chosen one, but no chosen Storefront one.
    ("team=Storefront&service=search,web", Filters(services=("search", "web"), teams=("Storefront",))),
    ("severity=1&severity=2", Filters(severities=(1, 2))),
    ("service=web,api&severity=2,3", Filters(services=("web", "api"), severities=(2, 3))),
    ("team=Platform&severity=2&severity=3", Filters(teams=("Platform",), severities=(2, 3))),
    ("team=Docs", Filters(teams=("Docs",))),
]


@pytest.mark.parametrize(("query", "filters"), DRILLDOWN_FILTERS, ids=[q or "everything" for q, _ in DRILLDOWN_FILTERS])
def test_every_count_links_to_exactly_the_rows_it_counts(logged_in, query, filters):
    build_drilldown_data()

    response = logged_in.get(f"/?from=2024-02&to=2024-04&{query}")

    assert response.status_code == 200
    rows = [*response.context["months"], response.context["totals"], *response.context["years"]]
    checked = 0
    for row in rows:
        f = row.figures
        counts = {
            "deploys": f.deploys,
            "deployers": f.deployers,
            "failed_deploys": f.failed_deploys,
            "rework_deploys": f.rework_deploys,
            "incidents": f.incidents,
            "deploy_related_incidents": f.deploy_related_incidents,
            "unresolved_incidents": f.unresolved_incidents,
        }
        durations = (
            "lead_time",
            "mttd",
            "mtta",
            "mttr",
            "time_to_restore",
            "failed_deployment_recovery",
            "unrecovered_failed_deploys",
        )
        assert set(row.links) == set(counts) | set(durations)
        for what in (*counts, *durations):
            link = row.links[what]
            expected = expected_rows(what, filters, f.start, f.end)
            if what == "deployers":
                # The people behind the counted deploys, each with their count of them.
                people = logged_in.get(link.url).context["people"]
                counted = listed(logged_in, row.links["deploys"].url)
                assert len(people) == counts[what], (row.label, what)
                assert {name: n for name, n, _ in people} == {
                    name: sum(d.deployer == name for d in counted) for name in {d.deployer for d in counted}
                }, (row.label, link.url)
                continue
            rows_listed = listed(logged_in, link.url)
            assert {r.pk for r in rows_listed} == expected, (row.label, what, link.url)
            if what in counts:
                assert len(rows_listed) == counts[what], (row.label, what)
            checked += bool(expected)
    assert checked or query == "team=Docs"


def test_the_linked_lists_hold_the_tricky_rows(logged_in):
    """What the parametrized test relies on: the month has each kind of row that must be told apart."""
    data = build_drilldown_data()
    d, i = data["deploys"], data["incidents"]
    months = logged_in.get("/?from=2024-03&to=2024-03").context["months"]
    links = months[0].links

    deploys = {r.pk for r in listed(logged_in, links["deploys"].url)}
    assert {d["web-ok"].pk, d["web-rolled"].pk, d["web-eu"].pk} <= deploys  # edge, rolled back, 2nd production
    assert not {d["web-failed"].pk, d["web-staging"].pk, d["feb-last"].pk, d["apr-first"].pk} & deploys
    assert {r.pk for r in listed(logged_in, links["failed_deploys"].url)} == {
        d["web-rolled"].pk,
        d["web-cause"].pk,
        d["api-cause"].pk,
        d["search-rolled-fix"].pk,
    }
    rework = {r.pk for r in listed(logged_in, links["rework_deploys"].url)}
    assert rework == {d["api-fix"].pk, d["search-rolled-fix"].pk}
    unresolved = {r.pk for r in listed(logged_in, links["unresolved_incidents"].url)}
    # Acknowledged and mitigated ones are unresolved too (status=open would miss them).
    assert unresolved == {i["web-api-acked"].pk, i["api-mitigated"].pk, i["search-open"].pk, i["no-service"].pk}
    # MTTA's incidents: acknowledged, also when mitigated since (status=acknowledged would miss that one).
    assert {r.pk for r in listed(logged_in, links["mtta"].url)} == {i["web-api-acked"].pk, i["api-mitigated"].pk}
    platform = logged_in.get("/?from=2024-03&to=2024-03&team=Platform&severity=2").context["months"][0].links
    # An incident affecting web and api is Platform's through api.
    assert {r.pk for r in listed(logged_in, platform["incidents"].url)} == {i["web-api-acked"].pk, i["search-open"].pk}


def test_a_team_and_services_select_incidents_through_one_service_like_the_report(logged_in):
    """`team=Storefront&service=search`: the incident affecting admin (Storefront) and search (Platform)
    has no affected service that is both, so the report doesn't count it and the list doesn't show it."""
    build_drilldown_data()

    row = logged_in.get("/?from=2024-03&to=2024-03&team=Storefront&service=search").context["months"][0]

    assert row.figures.incidents == 0
    assert listed(logged_in, row.links["incidents"].url) == []


def test_a_clicked_deploy_count_says_what_the_list_shows(logged_in, march):
    row = month_row(html_of(logged_in.get("/?from=2024-03&to=2024-03&team=Storefront")), "Mar 2024")

    html = html_of(logged_in.get(cell_link(row, "deploys")))

    text = " ".join(re.sub(r"<[^>]+>", "", re.search(r'<p class="active-filters">(.*?)</p>', html, re.S)[1]).split())
    assert text == (
        "Showing production deploys that succeeded or were rolled back, team Storefront, "
        "from 1 Mar 2024 to 31 Mar 2024. Clear"
    )


def test_rates_link_to_their_numerators_rows(logged_in, march):
    response = logged_in.get("/?from=2024-03&to=2024-03&service=web")
    html = html_of(response)
    links = response.context["months"][0].links

    for name in ("failed_deploys", "rework_deploys", "deploy_related_incidents"):
        assert f'href="{links[name].url}"'.replace("&", "&amp;") in html, name
    failed = logged_in.get(links["failed_deploys"].url).context["page"]
    figures = response.context["months"][0].figures
    assert figures.failed_deploys > 0
    assert len(list(failed)) == figures.failed_deploys


# --- How we count ---------------------------------------------------------------------------------


def test_the_severity_filter_leaves_change_failure_and_rework_as_how_we_count_says(logged_in):
    started = dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC)
    cause = DeployFactory(deployed_at=started - dt.timedelta(hours=1))
    fix = DeployFactory(deployed_at=started + dt.timedelta(hours=1), service=cause.service)
    DeployFactory(deployed_at=started + dt.timedelta(days=1), service=cause.service)
    incident = IncidentFactory(
        severity=3, started_at=started, detected_at=started, resolved_at=started + dt.timedelta(hours=2)
    )
    IncidentDeployFactory(incident=incident, deploy=cause, relation=IncidentDeploy.Relation.CAUSE)
    IncidentDeployFactory(incident=incident, deploy=fix, relation=IncidentDeploy.Relation.REMEDIATION)
    march = dict(first=dt.date(2024, 3, 1), last=dt.date(2024, 3, 1))

    everything = monthly_report(**march).periods[0]
    sev1 = monthly_report(**march, filters=Filters(severities=(1,))).periods[0]
    html = logged_in.get("/reports/how-we-count/").content.decode()

    assert (everything.incidents, sev1.incidents) == (1, 0)
    assert everything.mttr_seconds.mean is not None and sev1.mttr_seconds.mean is None
    assert (sev1.deploys, sev1.change_failure_rate, sev1.rework_rate) == (3, 1 / 3, 1 / 3)
    assert (everything.change_failure_rate, everything.rework_rate) == (1 / 3, 1 / 3)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert (
        "does not change the change failure rate or the rework rate: the first counts a deploy that caused "
        "any incident, the second a deploy made to fix any incident, whatever that incident's severity"
    ) in text


@pytest.mark.parametrize(
    "query", ["until=zzz", "since=9999-99-99", "service=nope", "deployer=" + "é\u202e" * 5000, "status=exploded"]
)
def test_the_deployers_page_answers_bad_input_with_an_error_not_a_500(logged_in, query):
    """#15.12: the Deployers page takes the deploy log's filters, and their errors."""
    response = logged_in.get(f"/reports/deployers/?{query}")

    assert response.status_code in (200, 400)
    assert "Deployers" in response.content.decode()


def test_the_environment_filter_shows_with_two_production_environments_and_narrows_the_deploys(logged_in, march):
    # One production environment: nothing to choose between.
    assert 'name="environment"' not in html_of(logged_in.get("/?from=2024-03&to=2024-03"))
    eu = EnvironmentFactory(slug="production-eu", is_production=True)
    e1 = DeployFactory(service=march["web"], environment=eu, deployed_at=at("2024-03-06T10:00:00Z"), deployer="erin")

    unfiltered = html_of(logged_in.get("/?from=2024-03&to=2024-03"))
    html = html_of(logged_in.get("/?from=2024-03&to=2024-03&environment=production-eu"))

    assert '<option value="production-eu">production-eu</option>' in unfiltered
    assert '<option value="production-eu" selected>production-eu</option>' in html
    assert '<option value="production">production</option>' in html
    assert "deploys to production-eu only (incidents aren't tied to an environment)" in html
    # Deploys and deployers: d1 d2 d3 api + e1 unfiltered, e1 alone here; incidents stay 4.
    assert cells(unfiltered, "Mar 2024")[:3] == ["5", "4", "4"]
    assert cells(html, "Mar 2024")[:3] == ["1", "1", "4"]
    row = month_row(html, "Mar 2024")
    assert "environment=production-eu" in cell_link(row, "deploys")
    assert listed_pks(logged_in, cell_link(row, "deploys")) == {e1.pk}
    # The period switch keeps the filter.
    week = re.search(r'<a href="([^"]+)" data-period="week"', html)[1]
    assert "environment=production-eu" in unescape(week)


def test_an_unknown_environment_is_a_form_error_naming_it(logged_in, march):
    response = logged_in.get("/?environment=staging")

    assert response.status_code == 400
    assert (
        "Environment: Not a production environment: “staging”. Only deploys to production environments count: "
        "use production." in unescape(html_of(response))
    )
    # Shown although there is one production environment, so the choice can be undone.
    assert 'name="environment"' in html_of(response)
