"""Incident tags in a real browser: type a tag, pick a suggestion from the tags in use, save, and
follow a chip to the list filtered by it; on a phone (390 px) and a laptop (1280 px)."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents import services
from incidents.factories import IncidentFactory
from incidents.models import Incident
from tests.support.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [390, 1280])
def test_type_a_tag_pick_a_suggestion_save_and_follow_a_chip(page, live_server, browser_user, width):
    page.set_viewport_size({"width": width, "height": 900})
    older = IncidentFactory(title="Resolver timeouts last week", started_at=timezone.now() - dt.timedelta(days=7))
    services.incident_update(incident=older, changes={"tags": ["database", "dns"]})
    IncidentFactory(title="Untagged incident")

    log_in(page, live_server, browser_user, next_path="/incidents/new/")
    page.get_by_label("Title").fill("Primary database failover")
    tags = page.get_by_role("combobox", name="Tags")
    tags.press_sequentially("kafka, DAT", delay=30)

    # The suggestion comes from /api/tags/?q=DAT: the tag in use, in its stored spelling.
    suggestions = page.get_by_role("listbox", name="Tags in use")
    expect(suggestions).to_be_visible()
    option = suggestions.get_by_role("option", name="database")
    expect(option).to_contain_text("1")
    box = option.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1
    option.click()
    expect(tags).to_have_value("kafka, database, ")
    expect(suggestions).to_be_hidden()

    # Arrow keys and Enter pick too; a tag already typed isn't offered again.
    tags.press_sequentially("d", delay=30)
    expect(suggestions.get_by_role("option")).to_have_text(["dns · 1"])
    tags.press("ArrowDown")
    tags.press("Enter")
    expect(tags).to_have_value("kafka, database, dns, ")
    page.get_by_role("button", name="File incident").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Primary database failover")
    incident = Incident.objects.get(title="Primary database failover")
    assert incident.tag_names == ["database", "dns", "kafka"]
    chips = page.locator(".incident-head .tags").get_by_role("link")
    expect(chips).to_have_text(["database", "dns", "kafka"])

    # A chip opens the list filtered by its tag: this incident and the older one, not the untagged.
    chips.filter(has_text="database").click()
    assert page.url.endswith("/incidents/?tag=database")
    rows = page.locator("tr.incident")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Primary database failover")
    expect(page.locator("input[name=tag]")).to_have_value("database")
    # The row's chips link on: kafka shows only the new incident.
    rows.first.get_by_role("link", name="kafka").click()
    expect(page.locator("tr.incident")).to_have_count(1)

    # The list's Tags filter suggests too; two tags find the incidents with either.
    filter_box = page.locator("input[name=tag]")
    filter_box.fill("kafka, dn")
    page.get_by_role("listbox", name="Tags in use").get_by_role("option", name="dns").click()
    expect(filter_box).to_have_value("kafka, dns, ")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr.incident")).to_have_count(2)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1


def test_tags_field_works_as_plain_text_without_javascript(browser, live_server, browser_user):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_server, browser_user, next_path="/incidents/new/")
        page.get_by_label("Title").fill("Certificate expired on the CDN")
        page.get_by_label("Tags").fill("certificate, CDN ,  third-party")
        page.get_by_role("button", name="File incident").click()

        incident = Incident.objects.get(title="Certificate expired on the CDN")
        assert incident.tag_names == ["CDN", "certificate", "third-party"]
        expect(page.locator(".tags .tag-chip").first).to_be_visible()
    finally:
        context.close()
