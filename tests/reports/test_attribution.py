"""The two attribution rules (docs/metrics.md, "Attribution"): known answers worked out by hand,
in two reporting zones, by every engine (on PostgreSQL the report_path fixture runs each test on
the scan and on the rollups: the same answers, so rollup == scan)."""

import csv
import datetime as dt
import io
import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.models import IncidentDeploy
from reports.selectors import Filters, monthly_report, yearly_report

pytestmark = pytest.mark.django_db

LINKED = Filters()
INFERRED = Filters(attribution="inferred")
MARCH = dt.date(2024, 3, 1)


def at(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(params=["Europe/Berlin", "America/New_York"])
def zone(request, settings, report_path):
    settings.OPSLOG_REPORT_TIME_ZONE = request.param
    settings.TIME_ZONE = request.param
    settings.OPSLOG_ATTRIBUTION_WINDOW_HOURS = 4
    report_path()  # before the data: on PostgreSQL the rollup's triggers keep it
    return request.param


@pytest.fixture
def data(zone):
    web, api = ServiceFactory(slug="web", dev_team="storefront"), ServiceFactory(slug="api", dev_team="platform")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")
    d = {}

    def deploy(name, when, *, service=web, environment=production, status="succeeded"):
        d[name] = DeployFactory(service=service, environment=environment, deployed_at=at(when), status=status)

    def incident(name, started, *services, archived=False):
        d[name] = IncidentFactory(
            started_at=at(started),
            detected_at=at(started) + dt.timedelta(minutes=5),
            resolved_at=at(started) + dt.timedelta(minutes=50),
            services=list(services or [web]),
            archived_at=at(started) + dt.timedelta(days=1) if archived else None,
        )

    # Exactly at started_at − window: counts; for two incidents, counted once.
    deploy("a_edge", "2024-03-05T08:00:00Z")
    incident("iA", "2024-03-05T12:00:00Z")
    incident("iA2", "2024-03-05T11:00:00Z")
    # One second before started_at − window: doesn't.
    deploy("b_early", "2024-03-06T07:59:59Z")
    incident("iB", "2024-03-06T12:00:00Z")
    # After started_at: doesn't.
    deploy("c_after", "2024-03-07T12:00:01Z")
    incident("iC", "2024-03-07T12:00:00Z")
    # Two services: the latest deploy of either.
    deploy("d_web", "2024-03-08T09:00:00Z")
    deploy("d_api", "2024-03-08T10:00:00Z", service=api)
    incident("iD", "2024-03-08T12:00:00Z", web, api)
    # Staging and failed deploys are ignored: the latest counted production deploy is the cause.
    deploy("e_prod", "2024-03-09T10:00:00Z")
    deploy("e_staging", "2024-03-09T11:00:00Z", environment=staging)
    deploy("e_failed", "2024-03-09T11:30:00Z", status="failed")
    incident("iE", "2024-03-09T12:00:00Z")
    # A linked cause wins over inference, however long before.
    deploy("f_linked", "2024-03-01T12:00:00Z")
    deploy("f_recent", "2024-03-10T11:00:00Z")
    incident("iF", "2024-03-10T12:00:00Z")
    IncidentDeployFactory(incident=d["iF"], deploy=d["f_linked"], relation="cause")
    # Archived incidents are ignored.
    deploy("g", "2024-03-11T11:00:00Z")
    incident("iG", "2024-03-11T12:00:00Z", archived=True)
    # Two deploys at the same instant: the higher id; rolled back, so failed under both rules.
    deploy("h1", "2024-03-12T11:00:00Z", service=api)
    deploy("h2", "2024-03-12T11:00:00Z", service=api, status="rolled_back")
    incident("iH", "2024-03-12T12:00:00Z", api)
    # A March deploy inferred for an incident at 00:30 UTC on 1 April: April's in Berlin (02:30),
    # March's in New York (20:30 on 31 March). The deploy fails in March either way.
    deploy("j", "2024-03-31T21:00:00Z")
    incident("iJ", "2024-04-01T00:30:00Z")
    return d


def march(filters):
    return monthly_report(first=MARCH, last=MARCH, filters=filters, include_partial=True)


def test_linked_rule(data, zone):
    figures = march(LINKED).periods[0]
    assert figures.deploys == 12
    assert figures.incidents == (8 if zone == "Europe/Berlin" else 9)
    assert figures.failed_deploys == 2  # f_linked (linked), h2 (rolled back)
    assert figures.deploy_related_incidents == 1  # iF
    assert figures.change_failure_rate == 2 / 12


def test_inferred_rule(data, zone):
    figures = march(INFERRED).periods[0]
    assert figures.deploys == 12
    berlin = zone == "Europe/Berlin"
    assert figures.incidents == (8 if berlin else 9)
    # f_linked (linked), a_edge (iA and iA2: once), d_api, e_prod, h2 (rolled back and inferred:
    # once), j (for iJ, whatever month iJ is in).
    assert figures.failed_deploys == 6
    # iA, iA2, iD, iE, iF (linked), iH, and iJ where it is March's.
    assert figures.deploy_related_incidents == (6 if berlin else 7)
    assert figures.change_failure_rate == 6 / 12
    assert figures.incident_rate == figures.deploy_related_incidents / 12

    april = monthly_report(first=dt.date(2024, 4, 1), last=dt.date(2024, 4, 1), filters=INFERRED).periods[0]
    assert (april.incidents, april.deploy_related_incidents, april.failed_deploys) == (
        (1, 1, 0) if berlin else (0, 0, 0)
    )


def test_the_window_per_report(data):
    hour = march(Filters(attribution="inferred", attribution_window=dt.timedelta(hours=1))).periods[0]
    assert hour.failed_deploys == 2  # f_linked; h2, rolled back and inferred for iH
    assert hour.deploy_related_incidents == 2  # iF, iH
    # The edge moves with the window: 08:00 is 4 h before iA, 5 h before iB's 12:00 minus a second.
    wide = march(Filters(attribution="inferred", attribution_window=dt.timedelta(hours=4, seconds=1))).periods[0]
    assert wide.failed_deploys == 7  # and b_early
    # The setting is the default window.
    assert march(INFERRED).periods[0].failed_deploys == 6


def test_the_setting(data, settings):
    settings.OPSLOG_ATTRIBUTION_WINDOW_HOURS = 1
    assert march(INFERRED).periods[0].failed_deploys == 2
    assert INFERRED.window == dt.timedelta(hours=1)
    assert Filters(attribution_window=dt.timedelta(minutes=5)).window == dt.timedelta(minutes=5)


def test_filters_select_rows_not_pairs(data):
    """Pairs are facts: a filter on services picks the deploys and incidents counted, not which
    deploy caused which incident."""
    web = march(Filters(services=("web",), attribution="inferred")).periods[0]
    api = march(Filters(services=("api",), attribution="inferred")).periods[0]
    assert web.failed_deploys == 4  # f_linked, a_edge, e_prod, j
    assert api.failed_deploys == 2  # d_api, h2
    assert api.deploy_related_incidents == 2  # iD (caused by d_api), iH


def test_yearly_agrees(data):
    year = yearly_report(first=dt.date(2024, 1, 1), last=dt.date(2024, 1, 1), filters=INFERRED, include_partial=True)
    totals = year.periods[0]
    assert totals.failed_deploys == 6
    assert totals.deploy_related_incidents == 7  # iJ is 2024's in both zones


def test_inferred_attributions_are_never_stored(data):
    links = list(IncidentDeploy.objects.values_list("id", "deploy_id", "incident_id", "relation"))
    with CaptureQueriesContext(connection) as ctx:
        march(INFERRED)
    assert list(IncidentDeploy.objects.values_list("id", "deploy_id", "incident_id", "relation")) == links
    writes = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].lstrip().split()[0].upper() not in ("SELECT", "WITH", "SET", "SAVEPOINT", "RELEASE")
    ]
    assert writes == []


def test_query_count_is_the_same_for_both_rules(data):
    def count(filters, first, last):
        with CaptureQueriesContext(connection) as ctx:
            monthly_report(first=first, last=last, filters=filters, include_partial=True)
        return len(ctx.captured_queries)

    short = count(LINKED, MARCH, MARCH)
    assert count(INFERRED, MARCH, MARCH) == short
    assert count(INFERRED, dt.date(2010, 1, 1), dt.date(2029, 12, 1)) == short


# --- The report API -----------------------------------------------------------------------------


def test_schema_describes_the_inferred_object_as_answered(api, data):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["components"]["schemas"]
    both = api.get("/api/reports/weekly/?from=2024-W10&to=2024-W10&attribution=both").json()
    linked = api.get("/api/reports/weekly/?from=2024-W10&to=2024-W10").json()

    for component in ("ReportWeek", "ReportMonth", "ReportQuarter", "ReportYear", "ReportFigures"):
        inferred = schema[component]["properties"]["inferred"]
        assert inferred["allOf"] == [{"$ref": "#/components/schemas/ReportInferred"}]
        # Optional: only attribution=both answers it.
        assert "inferred" not in schema[component]["required"]
    assert list(schema["ReportInferred"]["properties"]) == list(both["weeks"][0]["inferred"])
    assert list(both["totals"]["inferred"]) == list(both["weeks"][0]["inferred"])
    assert "inferred" not in linked["weeks"][0] and "inferred" not in linked["totals"]


def test_api_both_side_by_side(api, data, zone):
    body = api.get("/api/reports/monthly/?from=2024-03&to=2024-03&include_partial=1&attribution=both").json()

    assert list(body)[:5] == ["time_zone", "from", "to", "attribution", "window_seconds"]
    assert (body["attribution"], body["window_seconds"]) == ("both", 4 * 3600.0)
    month = body["months"][0]
    related = 6 if zone == "Europe/Berlin" else 7
    # Today's fields are the linked rule's.
    assert month["change_failure_rate"] == 2 / 12
    assert month["deploy_related_incidents"] == 1
    recovery = ("failed_deployment_recovery_seconds", "unrecovered_failed_deploys")
    assert {k: v for k, v in month["inferred"].items() if k not in recovery} == {
        "deploy_related_incidents": related,
        "failed_deploys": 6,
        "change_failure_rate": 0.5,
        "incident_rate": related / 12,
        "dora": {**month["inferred"]["dora"], "change_failure_rate": "low"},
    }
    # Recovery follows the rule too: the inferred object's is the inferred report's.
    figures = monthly_report(first=MARCH, last=MARCH, filters=INFERRED, include_partial=True).periods[0]
    assert month["inferred"]["unrecovered_failed_deploys"] == figures.unrecovered_failed_deploys
    assert month["inferred"]["failed_deployment_recovery_seconds"] == {
        "mean": figures.failed_deployment_recovery_seconds.mean,
        "median": figures.failed_deployment_recovery_seconds.median,
    }
    assert month["dora"]["change_failure_rate"] == "low"  # 16.7 %: above 15 % either way
    assert body["totals"]["inferred"]["failed_deploys"] == 6
    assert body["totals"]["inferred"]["dora"]["overall"] == month["inferred"]["dora"]["overall"]


def test_api_inferred_and_window(api, data):
    inferred = api.get("/api/reports/monthly/?from=2024-03&to=2024-03&attribution=inferred").json()
    assert (inferred["attribution"], inferred["window_seconds"]) == ("inferred", 14400.0)
    assert inferred["months"][0]["change_failure_rate"] == 0.5
    assert "inferred" not in inferred["months"][0] and "inferred" not in inferred["totals"]

    for window in ("1h", "60m", "1", "0.5h30m", "3600s"):
        hour = api.get(f"/api/reports/monthly/?from=2024-03&to=2024-03&attribution=inferred&window={window}").json()
        assert hour["window_seconds"] == 3600.0, window
        assert hour["months"][0]["change_failure_rate"] == 2 / 12, window
    wide = api.get("/api/reports/yearly/?from=2024&to=2024&attribution=both&window=4h0m1s").json()
    assert wide["window_seconds"] == 14401.0
    assert wide["years"][0]["inferred"]["failed_deploys"] == 7
    assert wide["years"][0]["change_failure_rate"] == 2 / 12  # linked


def test_api_csv_appends_the_inferred_columns(api, data):
    def rows(query):
        text = api.get(f"/api/reports/monthly/?from=2024-03&to=2024-03&format=csv{query}").content.decode()
        return list(csv.reader(io.StringIO(text)))

    linked = rows("")
    both = rows("&attribution=both")
    added = [
        "inferred_deploy_related_incidents",
        "inferred_failed_deploys",
        "inferred_change_failure_rate",
        "inferred_incident_rate",
        "inferred_dora_change_failure_rate",
        "inferred_dora_overall",
        "inferred_failed_deployment_recovery_seconds_mean",
        "inferred_failed_deployment_recovery_seconds_median",
        "inferred_unrecovered_failed_deploys",
    ]
    assert both[0] == linked[0] + added
    assert both[1][: len(linked[1])] == linked[1]
    assert dict(zip(both[0], both[1]))["inferred_failed_deploys"] == "6"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("attribution=guess", "attribution", "Use linked"),
        ("window=0", "window", "more than 0"),
        ("window=0h", "window", "more than 0"),
        ("window=-1", "window", "more than 0"),
        ("window=169", "window", "at most 7 days"),
        ("window=8d", "window", "at most 7 days"),
        ("window=four", "window", "Enter a duration"),
        ("window=4x", "window", "Enter a duration"),
        ("window=nan", "window", "Enter a duration"),
        ("window=h", "window", "Enter a duration"),
        # Huge, odd and pathological: the same clear 400, never a 500 (an overflowing timedelta).
        ("window=" + "9" * 5000 + "h", "window", "Enter a duration"),
        ("window=" + "9" * 30 + "h", "window", "at most 7 days"),
        ("window=99999999999999", "window", "at most 7 days"),
        ("window=1e9", "window", "Enter a duration"),
        ("window=1_0", "window", "Enter a duration"),
        ("window=%D9%A4h", "window", "Enter a duration"),  # an Arabic-Indic 4
        ("window=4h%E2%80%AE", "window", "Enter a duration"),  # a bidi override
        ("window=" + "1h" * 5000, "window", "Enter a duration"),
    ],
)
def test_api_400s(api, query, field, message):
    for path in ("monthly", "yearly"):
        response = api.get(f"/api/reports/{path}/?{query}")
        assert response.status_code == 400
        assert list(response.json()) == [field]
        assert message in response.json()[field][0]


def test_api_query_count_is_constant(api, data):
    def count(query):
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(f"/api/reports/monthly/?{query}").status_code == 200
        return len(ctx.captured_queries)

    linked = count("from=2024-03&to=2024-03&include_partial=1")
    assert count("from=2024-03&to=2024-03&include_partial=1&attribution=inferred") == linked
    assert count("from=2010-01&to=2029-12&include_partial=1&attribution=inferred") == linked
    # Both: the report computed a second time, under the inferred rule (minus the token and the
    # service list, read once).
    both = count("from=2024-03&to=2024-03&include_partial=1&attribution=both")
    assert both == count("from=2010-01&to=2029-12&include_partial=1&attribution=both") > linked


# --- The dashboard and the drill-down --------------------------------------------------------------


def test_the_dashboard_says_which_rule_and_switches_keeping_the_filters(logged_in, data):
    html = logged_in.get("/?from=2024-03&to=2024-03&service=web&include_partial=1").content.decode()
    assert "Attribution: linked causes only." in html
    switch = re.search(r'<nav class="period-switch attribution-switch".*?</nav>', html, re.S)[0]
    links = {
        name: unescape(href) for href, name in re.findall(r'href="\?([^"]*)#attribution" class="switch-(\w+)"', switch)
    }
    assert set(links) == {"linked", "inferred", "both"}
    for name, query in links.items():
        assert "service=web" in query and "from=2024-03" in query and f"attribution={name}" in query
    assert 'class="switch-linked" aria-current="page"' in switch

    inferred = logged_in.get(f"/?{links['inferred']}")
    assert inferred.status_code == 200
    text = inferred.content.decode()
    assert "Attribution: linked causes, else inferred" in text and "within 4 h" in text
    assert inferred.context["months"][0].figures.failed_deploys == 4  # web: f_linked, a_edge, e_prod, j
    # The filter form keeps the rule.
    assert '<input type="hidden" name="attribution" value="inferred">' in text

    both = logged_in.get(f"/?{links['both']}")
    text = both.content.decode()
    table = re.search(r'<table class="attribution-both">.*?</table>', text, re.S)[0]
    # web in March: 9 deploys (a_edge, b_early, c_after, d_web, e_prod, f_linked, f_recent, g, j).
    figures = both.context["months"][0].figures
    assert figures.failed_deploys == 1  # the table is the linked rule's
    assert re.search(r'rule-linked.*?<td class="cfr">11\.1 %</td>', table, re.S)
    assert re.search(r'rule-inferred.*?<td class="cfr">44\.4 %</td>', table, re.S)


def test_the_window_param_on_the_dashboard(logged_in, data):
    response = logged_in.get("/?from=2024-03&to=2024-03&attribution=inferred&window=1h")
    assert "within 1 h" in response.content.decode()
    assert response.context["months"][0].figures.failed_deploys == 2
    assert logged_in.get("/?attribution=maybe").status_code == 400
    assert logged_in.get("/?window=9d").status_code == 400


def test_following_the_inferred_links_lists_exactly_the_counted_rows(logged_in, data, zone):
    response = logged_in.get("/?from=2024-03&to=2024-03&attribution=inferred&include_partial=1")
    month = response.context["months"][0]
    html = response.content.decode()
    for name in ("failed_deploys", "deploy_related_incidents"):
        assert f'href="{month.links[name].url}"'.replace("&", "&amp;") in html, name

    failed = logged_in.get(month.links["failed_deploys"].url)
    assert failed.status_code == 200
    rows = failed.context["rows"]
    assert len(rows) == month.figures.failed_deploys == 6
    assert {item.row.pk for item in rows} == {data[n].pk for n in ("f_linked", "a_edge", "d_api", "e_prod", "h2", "j")}
    # Which deploys were inferred: counted only through an inferred pair.
    assert {item.row.pk for item in rows if item.inferred} == {data[n].pk for n in ("a_edge", "d_api", "e_prod", "j")}
    a_edge = next(item for item in rows if item.row == data["a_edge"])
    assert {c.other.pk for c in a_edge.causes} == {data["iA"].pk, data["iA2"].pk}
    text = failed.content.decode()
    assert text.count('<tr class="deploy inferred">') == 4
    assert "never stored as links" in text

    related = logged_in.get(month.links["deploy_related_incidents"].url)
    rows = related.context["rows"]
    assert len(rows) == month.figures.deploy_related_incidents == (6 if zone == "Europe/Berlin" else 7)
    linked = [item for item in rows if not item.inferred]
    assert [item.row.pk for item in linked] == [data["iF"].pk]
    assert related.content.decode().count('<span class="inferred-mark">inferred</span>') >= len(rows) - 1

    # Under the linked rule the links are the lists' as before.
    linked_month = logged_in.get("/?from=2024-03&to=2024-03&include_partial=1").context["months"][0]
    assert linked_month.links["failed_deploys"].url.startswith("/deploys/")


def test_the_drilldown_page_400s(logged_in):
    assert logged_in.get("/reports/attributed/?what=failed_deploys").status_code == 400
    bad = logged_in.get("/reports/attributed/?what=x&since=2024-03-01&until=2024-02-01&window=0")
    assert bad.status_code == 400
    assert set(bad.context["form"].errors) == {"what", "since", "window"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the rollups exist on PostgreSQL only")
def test_rollup_equals_scan_under_both_rules(data, request):
    from reports.selectors import rollup_zone
    from tests.reports.test_rollup import through_both

    if rollup_zone() is None:
        # The scan's pass: rollups built afterwards by the rebuild, rather than kept by the triggers.
        import io

        from django.core.management import call_command

        call_command("rebuild_report_rollup", stdout=io.StringIO())
    for filters in (LINKED, INFERRED, Filters(attribution="inferred", attribution_window=dt.timedelta(minutes=90))):
        for services in ((), ("api",)):
            chosen = Filters(
                services=services, attribution=filters.attribution, attribution_window=filters.attribution_window
            )
            through_both(first=dt.date(2024, 2, 1), last=dt.date(2024, 4, 1), filters=chosen, include_partial=True)
            through_both(
                report=yearly_report,
                first=dt.date(2024, 1, 1),
                last=dt.date(2024, 1, 1),
                filters=chosen,
                include_partial=True,
            )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the LATERAL form is PostgreSQL's")
def test_the_lateral_form_gives_the_same_pairs_as_the_queryset(data):
    from incidents.selectors import _inferred_pairs_lateral, inferred_causes

    since, until = at("2024-01-01T00:00:00Z"), at("2024-06-01T00:00:00Z")
    for window in (dt.timedelta(hours=4), dt.timedelta(hours=1), dt.timedelta(hours=4, seconds=1)):
        sql, params = _inferred_pairs_lateral(window=window, since=since, until=until)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            lateral = set(cursor.fetchall())
        orm = {
            (row["deploy_id"], row["incident_id"])
            for row in inferred_causes(window=window, since=since, until=until).values("deploy_id", "incident_id")
            if row["deploy_id"] is not None
        }
        assert lateral == orm and lateral, window


def test_the_drilldown_pages_its_rows_in_a_fixed_number_of_queries(logged_in):
    """60 deploys each 30 min before an unlinked incident: all failed under the inferred rule, 50 on
    the first page and 10 on the second, each marked inferred with its incident; the queries don't
    grow with the rows."""
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    start = dt.datetime(2024, 3, 2, 12, tzinfo=dt.UTC)

    def make(first, last):
        for k in range(first, last):
            at = start + dt.timedelta(hours=6 * k)
            DeployFactory(service=web, environment=production, deployed_at=at, status="succeeded")
            IncidentFactory(started_at=at + dt.timedelta(minutes=30), services=[web])

    url = "/reports/attributed/?what=failed_deploys&since=2024-03-01&until=2024-03-31&attribution=inferred"

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            response = logged_in.get(url)
        assert response.status_code == 200
        return response, len(ctx.captured_queries)

    make(0, 2)
    _, few = queries()
    make(2, 60)
    first, many = queries()
    assert many == few
    assert len(first.context["rows"]) == 50 and all(item.inferred for item in first.context["rows"])
    text = first.content.decode()
    assert re.search(r'class="muted count">(\d+) deploys', text)[1] == "60", re.findall(
        r'class="muted count">[^<]*', text
    )
    assert "Page 1 of 2" in text
    second = logged_in.get(url + "&page=2")
    assert len(second.context["rows"]) == 10
    assert {len(item.causes) for item in second.context["rows"]} == {1}
