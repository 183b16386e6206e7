import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentFactory
from incidents.models import Incident, IncidentDeploy
from tests.support.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def _local(value: dt.datetime) -> str:
    """`value` as a datetime-local input takes it: a wall-clock time in the reporting time zone."""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def test_file_find_acknowledge_resolve_and_link_the_causing_deploy(page, live_server, browser_user):
    now = timezone.now()
    checkout = ServiceFactory(slug="checkout")
    ServiceFactory(slug="search")
    production = EnvironmentFactory(slug="production")
    suspect = DeployFactory(
        service=checkout,
        environment=production,
        version="v42",
        previous_version="v41",
        deployed_at=now - dt.timedelta(minutes=30),
        diff_url="https://git.example.com/acme/checkout/compare/v41...v42",
    )
    IncidentFactory(title="An older, unrelated incident", started_at=now - dt.timedelta(days=3))

    # Filing: the urgent fields, then the incident's page.
    log_in(page, live_server, browser_user, next_path="/incidents/new/")
    expect(page.get_by_role("heading", name="File an incident")).to_be_visible()
    page.get_by_label("Title").fill("Checkout returns 502 for card payments")
    page.get_by_label("SEV2 · major").check()
    page.get_by_label("checkout", exact=True).check()
    page.get_by_label("What is happening").fill("About **a third** of card payments fail with a 502.")
    page.get_by_label("When it started").fill(_local(now - dt.timedelta(minutes=10)))
    page.get_by_label("How it was detected").select_option("Monitoring alert")
    page.get_by_label("Detected through").fill("CheckoutErrorRate")
    page.get_by_role("button", name="File incident").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Checkout returns 502 for card payments")
    incident = Incident.objects.get(title="Checkout returns 502 for card payments")
    assert page.url == f"{live_server.url}/incidents/{incident.pk}/"
    expect(page.locator(".incident-status")).to_have_text("Open")
    expect(page.locator(".markdown strong")).to_have_text("a third")

    # Finding it in the list.
    page.get_by_role("navigation").get_by_role("link", name="Incidents").click()
    expect(page.locator("tr.incident")).to_have_count(2)
    page.get_by_role("searchbox", name="Search").fill("card payments")
    page.get_by_label("Status").select_option("open")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tr.incident")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("SEV2 · major")
    expect(rows).to_contain_text("checkout")
    expect(rows).to_contain_text("ongoing")
    rows.get_by_role("link", name=re.compile("Checkout returns 502")).click()

    # Acknowledge, then Resolved: each button goes once its stage is stamped.
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".incident-status")).to_have_text("Acknowledged")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    page.get_by_role("button", name="Resolved").click()
    expect(page.locator(".incident-status")).to_have_text("Resolved")
    expect(page.get_by_role("button", name="Resolved")).to_have_count(0)

    # The deploy 30 minutes before the start is a suspect: link it as the cause.
    suspects = page.locator("#suspects tr.deploy-candidate")
    expect(suspects).to_have_count(1)
    expect(suspects).to_contain_text("v41 → v42")
    expect(suspects.get_by_role("link", name="diff")).to_have_attribute(
        "href", "https://git.example.com/acme/checkout/compare/v41...v42"
    )
    suspects.get_by_role("button", name="Link as cause").click()
    causes = page.locator(".deploy-links .deploy-link")
    expect(causes).to_have_count(1)
    expect(causes).to_contain_text("v41 → v42")
    expect(page.locator("#suspects")).to_contain_text("Linked as cause")

    # Every step is in the timeline, in order, by this user.
    entries = page.locator("#timeline li.entry")
    expect(entries).to_have_count(4)
    expect(entries.nth(0)).to_contain_text("Incident filed")
    expect(entries.nth(1)).to_contain_text("Acknowledged")
    expect(entries.nth(2)).to_contain_text("Resolved")
    expect(entries.nth(3)).to_contain_text("Linked checkout v42 to production")
    for entry in entries.all():
        expect(entry.locator(".author")).to_have_text("oncall")

    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    link = incident.deploy_links.get()
    assert (link.deploy, link.relation, link.created_by) == (suspect, IncidentDeploy.Relation.CAUSE, browser_user)

    # The deploy's page shows the incident it caused.
    causes.get_by_role("link").first.click()
    expect(page.locator(".deploy-incidents")).to_contain_text("Checkout returns 502 for card payments")


def test_out_of_order_times_are_shown_next_to_their_fields_and_nothing_is_saved(page, live_server, browser_user):
    now = timezone.now().replace(second=0, microsecond=0)
    incident = IncidentFactory(
        title="Queue backlog", started_at=now - dt.timedelta(hours=2), detected_at=now - dt.timedelta(hours=1)
    )

    log_in(page, live_server, browser_user, next_path=f"/incidents/{incident.pk}/")
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Edit incident #{incident.pk}")
    page.get_by_label("Title").fill("Queue backlog, renamed")
    page.get_by_label("Detected at").fill(_local(now - dt.timedelta(hours=3)))  # before it started
    page.get_by_label("Resolved at").fill(_local(now - dt.timedelta(hours=4)))  # before it started
    page.get_by_role("button", name="Save changes").click()

    expect(page.locator("#id_detected_at_error")).to_contain_text("Detected time can't be before the started time")
    expect(page.locator("#id_resolved_at_error")).to_contain_text("Resolved time can't be before the started time")
    expect(page.get_by_label("Resolved at")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_started_at_error")).to_have_count(0)
    # What was typed stays in the form to be corrected.
    expect(page.get_by_label("Title")).to_have_value("Queue backlog, renamed")

    incident.refresh_from_db()
    assert incident.title == "Queue backlog"
    assert incident.detected_at == now - dt.timedelta(hours=1)
    assert incident.resolved_at is None
    assert not incident.timeline.exists()
