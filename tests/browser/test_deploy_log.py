import datetime as dt

import pytest
from playwright.sync_api import expect

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from tests.support.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.UTC


def test_log_in_filter_to_production_and_follow_a_deploy(page, live_server, browser_user):
    web, search = ServiceFactory(slug="web"), ServiceFactory(slug="search")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")
    start = dt.datetime(2024, 6, 3, 9, tzinfo=UTC)
    for n in range(6):
        DeployFactory(service=web, environment=staging, version=f"s{n}", deployed_at=start + dt.timedelta(hours=n))
    DeployFactory(
        service=web,
        environment=production,
        version="25145",
        previous_version="25134",
        deployer="sandrews",
        deployed_at=start + dt.timedelta(hours=7),
        diff_url="https://git.example.com/acme/web/compare/25134...25145",
    )
    DeployFactory(service=search, environment=production, version="900", deployed_at=start + dt.timedelta(hours=8))

    log_in(page, live_server, browser_user, next_path="/deploys/")

    expect(page.get_by_role("heading", name="Deploy log")).to_be_visible()
    expect(page.locator("tr.deploy")).to_have_count(8)
    current = page.locator(".current-versions li")
    expect(current).to_have_count(2)
    expect(current.filter(has_text="web")).to_contain_text("25145")

    page.get_by_label("Environment").select_option("production")
    page.get_by_role("button", name="Filter").click()

    rows = page.locator("tr.deploy")
    expect(rows).to_have_count(2)
    for row in rows.all():
        expect(row.locator(".env-badge")).to_have_text("PRODUCTION")
    assert "environment=production" in page.url

    web_row = rows.filter(has_text="sandrews")
    expect(web_row).to_contain_text("old 25134, new 25145")
    expect(web_row.get_by_role("link", name="diff")).to_have_attribute(
        "href", "https://git.example.com/acme/web/compare/25134...25145"
    )
    web_row.locator("td.time a").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("web 25145 to PRODUCTION")
    expect(page.locator(".facts")).to_contain_text("sandrews")

    # Back twice, to the unfiltered log: the form shows what the list shows, not the last choice.
    page.go_back()
    page.go_back()
    expect(page.locator("tr.deploy")).to_have_count(8)
    expect(page.get_by_label("Environment")).to_have_value("")


def test_api_docs_render_without_internet(page, live_server, browser_user):
    blocked = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(live_server.url)
            else (blocked.append(route.request.url), route.abort())
        ),
    )

    log_in(page, live_server, browser_user, next_path="/api/docs/")

    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    expect(page.locator(".swagger-ui")).to_contain_text("/api/deploys/bulk/")
    assert blocked == []
