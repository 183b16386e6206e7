"""/insights/ in a browser: filter, charts drawn, a drill-down followed and the way back, at phone,
laptop and wide widths; axe where axe-core is installed."""

import pytest
from playwright.sync_api import expect

from incidents.models import Incident
from tests.browser.test_accessibility import WIDTHS
from tests.support.axe import AXE_SCRIPT, axe_violations_at_widths
from tests.support.browser import assert_fits_width, log_in
from tests.support.insights import generate

pytestmark = pytest.mark.django_db(transaction=True)

RANGE = "start=2025-01-15&end=2025-12-31"


@pytest.fixture
def berlin(settings):
    settings.OPSLOG_REPORT_TIME_ZONE = settings.TIME_ZONE = settings.OPSLOG_WORKING_HOURS_TIME_ZONE = "Europe/Berlin"


def test_filter_then_follow_a_drill_down_and_come_back(page, live_server, browser_user, berlin):
    generate(11, 40)
    errors, outside = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(live_server.url)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    log_in(page, live_server, browser_user, next_path=f"/insights/?{RANGE}")
    expect(page.get_by_role("heading", name="Insights across incidents")).to_be_visible()
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-factors') && Chart.getChart('chart-stages')")

    page.locator("form.report-filters").get_by_label("Service").select_option("web")
    page.get_by_role("button", name="Show").click()
    assert "service=web" in page.url and "start=2025-01-15" in page.url
    services = page.locator("#services-table tbody tr:not(.team-row) th")
    expect(services).to_have_text(["web"])
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-services')")
    assert page.evaluate("() => Chart.getChart('chart-services').data.labels") == ["web"]

    web_row = page.locator("#services-table tbody tr", has=page.locator("th", has_text="web"))
    count = int(web_row.locator("td").first.inner_text())
    assert count > 0
    web_row.locator("td a").first.click()
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    assert "/incidents/?" in page.url and "service=web" in page.url
    expected = Incident.objects.filter(archived_at__isnull=True, services__slug="web")
    assert count <= expected.count()

    page.go_back()
    expect(page.get_by_role("heading", name="Insights across incidents")).to_be_visible()
    assert "service=web" in page.url
    assert errors == [] and outside == []


def test_every_width_fits_and_the_empty_state_says_so(page, live_server, browser_user, berlin):
    log_in(page, live_server, browser_user, next_path=f"/insights/?{RANGE}")
    expect(page.locator(".empty-state")).to_contain_text("No incidents or remediations")
    generate(12, 30)
    page.goto(f"{live_server.url}/insights/?{RANGE}")
    for width in (390, 1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        # Wide tables scroll in their own box; the page itself never scrolls sideways.
        assert_fits_width(page, width)
        expect(page.locator("#chart-factors")).to_be_visible()
    csv = page.get_by_role("link", name="CSV")
    assert "format=csv" in csv.get_attribute("href")


@pytest.mark.skipif(not AXE_SCRIPT.exists(), reason="axe-core is missing: run `make axe-core` (needs npm)")
def test_no_serious_accessibility_violations(browser, live_server, browser_user, berlin):
    generate(13, 30)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    try:
        log_in(page, live_server, browser_user, next_path=f"/insights/?{RANGE}")
        expect(page.get_by_role("heading", name="Insights across incidents")).to_be_visible()
        assert axe_violations_at_widths(page, "/insights/", WIDTHS) == []
    finally:
        context.close()
