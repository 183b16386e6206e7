"""Contributing factors in the post-mortem editor (issue 17), at a phone's width and a laptop's:
tick two factors with a note, save, see them on the page; a note too long is an error beside it."""

import pytest
from playwright.sync_api import expect

from incidents.factories import IncidentFactory
from postmortems import services
from postmortems.models import PostMortem
from tests.support.browser import log_in
from tests.support.factors import seed_default_factors

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [390, 1280])
def test_tick_two_factors_with_a_note_save_and_see_them(page, live_server, browser_user, width):
    seed_default_factors()
    postmortem = services.postmortem_start(incident=IncidentFactory(title="Search times out"))[0]
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, browser_user, next_path=f"/incidents/{postmortem.incident_id}/postmortem/edit/")

    expect(page.get_by_role("group", name="Contributing factors")).to_be_visible()
    page.get_by_role("checkbox", name="Change or deploy").check()
    note = page.get_by_label("How “Change or deploy” contributed")
    note.fill("The new query plan only showed under production load.")
    page.get_by_role("checkbox", name="Monitoring gap").check()
    page.get_by_label("How “Monitoring gap” contributed").fill("Customers told us first.")
    # The note box fits the screen beside (or under) its checkbox.
    box = note.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Saved as version 2.")).to_be_visible()
    factors = page.locator("#factors")
    expect(factors.locator("li")).to_have_count(2)
    expect(factors.locator("li").nth(0)).to_contain_text(
        "Change or deploy — The new query plan only showed under production load."
    )
    expect(factors.locator("li").nth(1)).to_contain_text("Monitoring gap — Customers told us first.")
    assert PostMortem.objects.get().factor_list() == [
        {"factor": "change", "note": "The new query plan only showed under production load."},
        {"factor": "monitoring-gap", "note": "Customers told us first."},
    ]


@pytest.mark.parametrize("width", [390, 1280])
def test_a_note_too_long_is_an_error_beside_it(page, live_server, browser_user, width):
    seed_default_factors()
    postmortem = services.postmortem_start(incident=IncidentFactory(title="Search times out"))[0]
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, browser_user, next_path=f"/incidents/{postmortem.incident_id}/postmortem/edit/")

    page.get_by_role("checkbox", name="Capacity").check()
    note = page.get_by_label("How “Capacity” contributed")
    # The box stops typing at 500 characters; a pasted or scripted value can still go over.
    expect(note).to_have_attribute("maxlength", "500")
    note.evaluate("element => element.removeAttribute('maxlength')")
    note.fill("x" * 501)
    page.get_by_role("button", name="Save", exact=True).click()

    choice = page.locator('[data-factor="capacity"]')
    expect(choice).to_contain_text("Ensure this value has at most 500 characters (it has 501).")
    expect(page.get_by_role("checkbox", name="Capacity")).to_be_checked()
    assert PostMortem.objects.get().version == 1
    assert PostMortem.objects.get().factor_list() == []
