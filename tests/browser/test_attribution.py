"""The dashboard's attribution switch, clicked in a browser at desktop and phone widths."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentFactory
from incidents.models import IncidentDeploy
from tests.support.browser import assert_fits_width, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("width", [1280, 390])
def test_switching_attribution_keeps_the_filters_and_shows_both_rates(page, live_server, browser_user, width):
    page.set_viewport_size({"width": width, "height": 900})
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    production = EnvironmentFactory(slug="production")
    for day in range(1, 5):
        DeployFactory(service=web, environment=production, deployed_at=at(f"2024-03-0{day}T10:00:00Z"))
    DeployFactory(service=api, environment=production, deployed_at=at("2024-03-05T10:00:00Z"))
    # No linked cause: the inferred rule attributes it to web's deploy an hour before.
    IncidentFactory(started_at=at("2024-03-02T11:00:00Z"), services=[web])
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_server, browser_user, next_path="/?from=2024-03&to=2024-03&service=web")

    expect(page.get_by_text("Attribution: linked causes only.")).to_be_visible()
    switch = page.get_by_role("navigation", name="Attribution rule")
    expect(switch.get_by_role("link", name="Linked")).to_have_attribute("aria-current", "page")
    # A segmented control like the period switch: every choice a 44 px target inside the width.
    for link in switch.get_by_role("link").all():
        box = link.bounding_box()
        assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= width

    switch.get_by_role("link", name="Inferred").click()
    expect(page.get_by_text("Attribution: linked causes, else inferred")).to_be_visible()
    assert "service=web" in page.url and "from=2024-03" in page.url and "attribution=inferred" in page.url
    march = page.locator("table.report tbody tr").first
    expect(march.locator("td.deploys")).to_have_text("4")
    expect(march.locator("td.deploy-related")).to_have_text("1")

    # The filter form keeps the rule.
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("Attribution: linked causes, else inferred")).to_be_visible()
    assert "attribution=inferred" in page.url

    page.get_by_role("navigation", name="Attribution rule").get_by_role("link", name="Both").click()
    both = page.locator("table.attribution-both")
    expect(both.locator("tr.rule-linked td.cfr")).to_have_text("0.0 %")
    expect(both.locator("tr.rule-inferred td.cfr")).to_have_text("25.0 %")
    assert "service=web" in page.url
    # The switch and the side-by-side table fit the width (no sideways scrolling of the page).
    expect(both).to_be_visible()
    assert_fits_width(page)
    # Follow the inferred failed deploys from the inferred view: the list marks the inferred one.
    page.get_by_role("navigation", name="Attribution rule").get_by_role("link", name="Inferred").click()
    page.locator("table.report tbody tr").first.locator("td.rate").nth(1).locator("a").click()
    expect(page.get_by_role("heading", name="Failed deploys", exact=False)).to_be_visible()
    expect(page.locator("tr.deploy.inferred")).to_have_count(1)
    # Nothing written: the attribution stayed a computation.
    assert IncidentDeploy.objects.count() == 0
    assert errors == []
