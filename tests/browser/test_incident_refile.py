"""#15.16 in the browser: filing, going Back and submitting the same form again doesn't file a twin."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deploys.factories import ServiceFactory
from incidents.models import Incident
from tests.support.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_back_and_submit_again_shows_the_incident_already_filed(page, live_server, browser_user):
    """#15.16: real clicks: file, Back, click "File incident" again → one incident, its page shown."""
    ServiceFactory(slug="checkout")
    log_in(page, live_server, browser_user, next_path="/incidents/new/")
    page.get_by_label("Title").fill("Checkout returns 502")
    page.get_by_label("SEV2 · major").click()
    page.get_by_label("checkout", exact=True).click()
    started = timezone.localtime(timezone.now() - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("When it started").fill(started)
    page.get_by_role("button", name="File incident").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Checkout returns 502")
    incident = Incident.objects.get()

    page.go_back()
    expect(page.get_by_role("heading", name="File an incident")).to_be_visible()
    if not page.get_by_label("Title").input_value():
        # The browser reloaded the form empty: fill it in as a person would.
        page.get_by_label("Title").fill("Checkout returns 502")
        page.get_by_label("checkout", exact=True).click()
        page.get_by_label("When it started").fill(started)
    page.get_by_role("button", name="File incident").click()
    page.wait_for_load_state()

    assert Incident.objects.count() == 1
    if page.url == f"{live_server.url}/incidents/{incident.pk}/":
        expect(page.get_by_text("already filed")).to_be_visible()
    else:
        # Chromium reloads the form on Back (typed fields restored, a fresh key): the duplicate
        # warning names the open incident instead of filing a twin.
        expect(page.get_by_role("alert")).to_contain_text(f"#{incident.pk} Checkout returns 502")
        page.get_by_role("link", name=f"#{incident.pk} Checkout returns 502").click()
        expect(page).to_have_url(f"{live_server.url}/incidents/{incident.pk}/")
