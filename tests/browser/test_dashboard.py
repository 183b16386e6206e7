import datetime as dt

import pytest
from playwright.sync_api import expect

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from tests.support.browser import assert_fits_width, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_choose_months_and_a_service_then_follow_a_months_deploy_count(page, live_server, browser_user, settings):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = "Europe/Berlin"
    web, api = ServiceFactory(slug="web", dev_team="Storefront"), ServiceFactory(slug="api", dev_team="Platform")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")

    def deploy(when, version, service=web, environment=production, status="succeeded"):
        DeployFactory(service=service, environment=environment, deployed_at=at(when), version=version, status=status)

    deploy("2024-02-29T22:59:00Z", "w-feb")  # 23:59 on 29 February in Berlin
    deploy("2024-02-29T23:30:00Z", "w-1")  # 00:30 on 1 March in Berlin
    deploy("2024-03-12T10:00:00Z", "w-2", status="rolled_back")  # counts
    deploy("2024-03-31T21:59:00Z", "w-3")  # 23:59 on 31 March (summer time)
    deploy("2024-03-31T22:30:00Z", "w-apr")  # 00:30 on 1 April in Berlin
    deploy("2024-03-13T10:00:00Z", "w-staging", environment=staging)
    deploy("2024-03-14T10:00:00Z", "a-1", service=api)
    outside = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(live_server.url)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_server, browser_user, next_path="/")

    expect(page.get_by_role("heading", name="The monthly numbers")).to_be_visible()
    expect(page.locator("table.report tbody tr")).to_have_count(12)  # the last 12 months by default

    page.get_by_label("From", exact=True).fill("2024-01")
    page.get_by_label("To", exact=True).fill("2024-06")
    page.get_by_label("Service").select_option("web")
    page.get_by_role("button", name="Show").click()

    expect(page.locator("table.report tbody tr")).to_have_count(6)
    assert "from=2024-01" in page.url and "to=2024-06" in page.url and "service=web" in page.url

    def month(label):
        return page.locator("table.report tbody tr", has=page.locator("th", has_text=label))

    march = month("Mar 2024")
    expect(march.locator("td.deploys")).to_have_text("3")
    expect(month("Feb 2024").locator("td.deploys")).to_have_text("1")
    expect(month("Apr 2024").locator("td.deploys")).to_have_text("1")
    # The charts are drawn by the vendored Chart.js, from the page's own server (a deferred script:
    # the table can be there before it has run, on a busy machine).
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-deploys') && Chart.getChart('chart-failures')")
    assert page.evaluate("() => Chart.getChart('chart-deploys').data.datasets[0].data") == [0, 1, 3, 1, 0, 0]
    assert page.evaluate("() => Chart.getChart('chart-failures') !== undefined")

    march.locator("td.deploys a").click()

    expect(page.get_by_role("heading", name="Deploy log")).to_be_visible()
    rows = page.locator("tr.deploy")
    expect(rows).to_have_count(3)
    versions = {text.split("new ")[1].split()[0] for text in rows.locator("td.versions").all_inner_texts()}
    assert versions == {"w-1", "w-2", "w-3"}
    assert outside == [] and errors == []


def test_clicking_a_months_bar_opens_the_list_behind_it(page, live_server, browser_user):
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    for day in (4, 5, 6):
        DeployFactory(service=web, environment=production, deployed_at=at(f"2024-03-0{day}T10:00:00Z"))

    log_in(page, live_server, browser_user, next_path="/?from=2024-01&to=2024-04")
    expect(page.get_by_role("heading", name="The monthly numbers")).to_be_visible()
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-deploys')")
    x, y = page.evaluate(
        "() => { const bar = Chart.getChart('chart-deploys').getDatasetMeta(0).data[2];"
        " return [bar.x, (bar.y + bar.base) / 2]; }"
    )
    box = page.locator("#chart-deploys").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)

    expect(page.get_by_role("heading", name="Deploy log")).to_be_visible()
    assert "since=2024-03-01&until=2024-03-31" in page.url
    expect(page.locator("tr.deploy")).to_have_count(3)


@pytest.mark.parametrize("width", [390, 1280, 1920])
def test_the_recovery_time_line_shows_its_median_and_opens_the_failed_deploys(page, live_server, browser_user, width):
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    DeployFactory(service=web, environment=production, deployed_at=at("2024-03-04T10:00:00Z"), version="ok")
    DeployFactory(
        service=web, environment=production, deployed_at=at("2024-03-05T10:00:00Z"), version="bad", status="rolled_back"
    )
    # The rollback, 3 hours later: March's failed deployment recovery time.
    DeployFactory(service=web, environment=production, deployed_at=at("2024-03-05T13:00:00Z"), version="ok2")
    page.set_viewport_size({"width": width, "height": 900})

    log_in(page, live_server, browser_user, next_path="/?from=2024-01&to=2024-04")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-durations')")
    recovery = "Chart.getChart('chart-durations').data.datasets[4]"
    assert page.evaluate(f"() => {recovery}.label") == "Failed deployment recovery (median)"
    assert page.evaluate(f"() => {recovery}.data") == [None, None, 3 * 3600, None]
    canvas = page.locator("#chart-durations")
    canvas.scroll_into_view_if_needed()
    x, y = page.evaluate(
        "() => { const p = Chart.getChart('chart-durations').getDatasetMeta(4).data[2]; return [p.x, p.y]; }"
    )
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)

    expect(page.get_by_role("heading", name="Deploy log")).to_be_visible()
    assert "failed_change=true" in page.url and "since=2024-03-01&until=2024-03-31" in page.url
    expect(page.locator("tr.deploy")).to_have_count(1)
    expect(page.locator("tr.deploy")).to_contain_text("bad")


WIDTHS = (390, 1280, 1366, 1920)


def test_the_table_fits_or_says_it_scrolls_and_a_bar_click_drills_down(page, live_server, browser_user):
    """#15.12, at 390, 1280, 1366 and 1920 px: the month-by-month table fits its box or a hint says
    it scrolls; months are named alike in the chart and the table; a real mouse click on a month's
    bar opens the deploy log of that month; "Deployers" opens the people, not the deploys again."""
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    for day, who in ((4, "alice"), (5, "alice"), (6, "bob")):
        DeployFactory(service=web, environment=production, deployer=who, deployed_at=at(f"2024-03-0{day}T10:00:00Z"))

    log_in(page, live_server, browser_user, next_path="/?from=2024-01&to=2024-04")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/?from=2024-01&to=2024-04")
        page.wait_for_function("() => window.Chart && Chart.getChart('chart-deploys')")
        assert page.evaluate("() => Chart.getChart('chart-deploys').data.labels") == [
            "Jan 2024",
            "Feb 2024",
            "Mar 2024",
            "Apr 2024",
        ]
        box = page.locator("#months-table")
        scrolls = box.evaluate("(el) => el.scrollWidth > el.clientWidth + 1")
        hint = page.locator("#months-scroll-hint")
        if scrolls:
            expect(hint).to_be_visible()
        else:
            expect(hint).to_be_hidden()
        assert_fits_width(page, width)

        chart = page.locator("#chart-deploys")
        chart.scroll_into_view_if_needed()
        x, y = page.evaluate(
            "() => { const bar = Chart.getChart('chart-deploys').getDatasetMeta(0).data[2];"
            " return [bar.x, (bar.y + bar.base) / 2]; }"
        )
        frame = chart.bounding_box()
        page.mouse.click(frame["x"] + x, frame["y"] + y)  # a real click on March's bar
        expect(page.get_by_role("heading", name="Deploy log")).to_be_visible()
        assert "since=2024-03-01&until=2024-03-31" in page.url, width
        expect(page.locator("tr.deploy")).to_have_count(3)

        page.go_back()
        march = page.locator("table.report tbody tr", has=page.locator("th", has_text="Mar 2024"))
        march.locator("td.deployers a").click()
        expect(page.get_by_role("heading", name="Deployers", exact=True)).to_be_visible()
        people = page.locator("table.deployers tbody tr")
        expect(people).to_have_count(2)
        expect(people.nth(0)).to_contain_text("alice")
        expect(people.nth(0).locator("td")).to_have_text("2")


def test_the_mtta_column_at_1280_px_is_in_view_when_scrolled_to_and_drills_down(page, live_server, browser_user):
    """MTTA sits beside MTTD in the month table: at 1280 px its cells are reachable (the table
    scrolls in its box, the hint says so, nothing covers them), show the duration in the table's
    words, and lead to the month's acknowledged incidents; the durations chart has its line."""
    from incidents.factories import IncidentFactory

    web = ServiceFactory(slug="web")
    started = at("2024-03-10T10:00:00Z")
    detected = started + dt.timedelta(minutes=2)

    def incident(title, acknowledge_minutes):
        acknowledged = detected + dt.timedelta(minutes=acknowledge_minutes) if acknowledge_minutes is not None else None
        return IncidentFactory(
            title=title, started_at=started, detected_at=detected, acknowledged_at=acknowledged, services=[web]
        )

    incident("Slow checkout", 4)
    incident("Search down", 10)
    incident("Nobody came", None)  # never acknowledged: not in MTTA, not in its list

    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, browser_user, next_path="/?from=2024-02&to=2024-04")
    expect(page.get_by_role("heading", name="The monthly numbers")).to_be_visible()
    expect(page.locator("table.report thead th", has_text="MTTA")).to_have_count(1)

    box = page.locator("#months-table")
    if box.evaluate("(el) => el.scrollWidth > el.clientWidth + 1"):
        expect(page.locator("#months-scroll-hint")).to_be_visible()
    assert_fits_width(page)

    march = page.locator("table.report tbody tr", has=page.locator("th", has_text="Mar 2024"))
    # Columns: month, 5 counts, 3 rates, MTTD mean and median, then MTTA mean and median.
    mtta_mean, mtta_median = march.locator("td").nth(10), march.locator("td").nth(11)
    expect(mtta_mean).to_have_text("7 min")  # (4 + 10) / 2 minutes
    expect(mtta_median).to_have_text("7 min")
    for cell in (page.locator("table.report thead th", has_text="MTTA"), mtta_mean, mtta_median):
        cell.scroll_into_view_if_needed()
        # What is drawn at the cell's centre is the cell (or its link), not another element over it.
        assert cell.evaluate(
            "(el) => { const r = el.getBoundingClientRect();"
            " const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);"
            " return el === hit || el.contains(hit); }"
        )

    page.wait_for_function("() => window.Chart && Chart.getChart('chart-durations')")
    labels = page.evaluate("() => Chart.getChart('chart-durations').data.datasets.map((d) => d.label)")
    assert labels == [
        "MTTD (median)",
        "MTTA (median)",
        "MTTR (median)",
        "Time to restore (median)",
        "Failed deployment recovery (median)",
    ]
    assert page.evaluate("() => Chart.getChart('chart-durations').data.datasets[1].data") == [None, 420, None]

    mtta_mean.locator("a").click()
    expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
    assert "acknowledged=true" in page.url
    expect(page.locator("p.active-filters")).to_contain_text("acknowledged incidents")
    titles = page.locator("table tbody tr").all_inner_texts()
    assert sorted(t for t in ("Slow checkout", "Search down", "Nobody came") if any(t in row for row in titles)) == [
        "Search down",
        "Slow checkout",
    ]
