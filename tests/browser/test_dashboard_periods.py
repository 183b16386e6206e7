"""The dashboard's period switch, clicked in a browser at desktop and phone widths."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from tests.support.browser import assert_fits_width, log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_switch_to_week_quarter_year_and_back_keeps_the_filters(page, live_server, browser_user, width):
    web, production = ServiceFactory(slug="web", dev_team="Storefront"), EnvironmentFactory(slug="production")
    ServiceFactory(slug="api", dev_team="Platform")
    for day in (5, 12, 20):
        DeployFactory(service=web, environment=production, deployed_at=dt.datetime(2024, 3, day, 10, tzinfo=dt.UTC))
    page.set_viewport_size({"width": width, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_server, browser_user, next_path="/?from=2024-02&to=2024-04&service=web&severity=1")
    switch = page.get_by_role("navigation", name="Period")
    expect(switch.get_by_role("link", name="Month")).to_have_attribute("aria-current", "page")
    header = page.locator("table.report thead tr").first.locator("th").first

    def query():
        return parse_qs(urlsplit(page.url).query)

    def kept():
        assert query()["service"] == ["web"] and query()["severity"] == ["1"], page.url

    # Week: by keyboard, as a screen-reader user would.
    switch.get_by_role("link", name="Week").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="The weekly numbers")).to_be_visible()
    expect(header).to_have_text("Week")
    expect(switch.get_by_role("link", name="Week")).to_have_attribute("aria-current", "page")
    expect(page.locator("table.report tbody th").first).to_contain_text("2024-W05")
    expect(page.locator("table.report tbody tr")).to_have_count(14)  # 2024-W05 to 2024-W18
    kept()
    assert (query()["period"], query()["from"], query()["to"]) == (["week"], ["2024-W05"], ["2024-W18"])
    expect(page.get_by_label("From", exact=True)).to_have_value("2024-W05")

    switch.get_by_role("link", name="Quarter").click()
    expect(header).to_have_text("Quarter")
    expect(page.locator("table.report tbody th")).to_contain_text(["2024-Q1", "2024-Q2"])
    expect(page.locator("table.report tbody tr").first.locator("td.deploys")).to_have_text("3")
    kept()

    switch.get_by_role("link", name="Year").click()
    expect(header).to_have_text("Year")
    expect(page.locator("table.report tbody th")).to_contain_text(["2024"])
    kept()

    switch.get_by_role("link", name="Month").click()
    expect(header).to_have_text("Month")
    # Back from a year: the whole of 2024, in months.
    expect(page.locator("table.report tbody tr")).to_have_count(12)
    expect(page.locator("table.report tbody th").first).to_contain_text("Jan 2024")
    kept()
    # The switch fits the phone's width: no sideways scrolling of the page.
    assert_fits_width(page)
    box = switch.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    assert errors == []


def test_no_serious_accessibility_violations_per_period(browser, live_server, browser_user):
    from tests.support.axe import axe_script, axe_violations_at_widths

    axe_script()  # skips (or fails in CI) when axe-core isn't installed
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    DeployFactory(service=web, environment=production, deployed_at=dt.datetime(2024, 3, 5, 10, tzinfo=dt.UTC))
    # The app's CSP refuses axe's inline script; only this context ignores it.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    try:
        log_in(page, live_server, browser_user, next_path="/")
        found = []
        for query in ("period=week&from=2024-W09&to=2024-W11", "period=quarter", "period=year", "period=week&from=x"):
            page.goto(f"{live_server.url}/?{query}")
            found += axe_violations_at_widths(page, query, (390, 1280))
        assert found == []
    finally:
        context.close()


@pytest.mark.parametrize("width", [390, 1280, 1920])
def test_choose_an_environment_click_show_go_back_and_mend_a_wrong_one(page, live_server, browser_user, width):
    web = ServiceFactory(slug="web")
    production = EnvironmentFactory(slug="production")
    eu = EnvironmentFactory(slug="production-eu", is_production=True)
    for day, environment in ((5, production), (12, production), (20, eu)):
        DeployFactory(service=web, environment=environment, deployed_at=dt.datetime(2024, 3, day, 10, tzinfo=dt.UTC))
    page.set_viewport_size({"width": width, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, browser_user, next_path="/?from=2024-03&to=2024-03")
    deploys = page.locator("table.report tbody tr").first.locator("td.deploys")
    expect(deploys).to_have_text("3")

    page.get_by_label("Environment").select_option("production-eu")
    page.get_by_role("button", name="Show").click()  # fails if anything lies over the button

    expect(deploys).to_have_text("1")
    assert parse_qs(urlsplit(page.url).query)["environment"] == ["production-eu"]
    expect(page.locator("p.count")).to_contain_text("deploys to production-eu only")
    expect(page.get_by_label("Environment")).to_have_value("production-eu")
    assert_fits_width(page, f"environment filter at {width} px")
    # The week switch keeps it.
    page.get_by_role("navigation", name="Period").get_by_role("link", name="Week").click()
    expect(page.get_by_role("heading", name="The weekly numbers")).to_be_visible()
    expect(page.get_by_label("Environment")).to_have_value("production-eu")

    page.go_back()
    page.go_back()
    expect(deploys).to_have_text("3")
    # The form shows what the table counts, not what was chosen before leaving (autocomplete=off
    # stops the browser restoring it).
    expect(page.get_by_label("Environment")).to_have_value("")

    # A mistake typed into the address: said, and undone from the form.
    page.goto(f"{live_server.url}/?from=2024-03&to=2024-03&environment=prod")
    expect(page.get_by_role("alert")).to_contain_text("Unknown environment: “prod”")
    page.get_by_label("Environment").select_option("")
    page.get_by_role("button", name="Show").click()
    expect(deploys).to_have_text("3")
    assert errors == []
