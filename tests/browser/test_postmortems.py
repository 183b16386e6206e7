import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deploys.factories import ServiceFactory
from incidents import services
from postmortems import blame
from postmortems import services as postmortem_services
from postmortems.models import PostMortem, Remediation
from tests.support.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def _incident():
    now = timezone.now()
    incident, _ = services.incident_create(
        data=services.IncidentInput(
            title="Checkout returns 502 for card payments",
            started_at=now - dt.timedelta(hours=3),
            detected_at=now - dt.timedelta(hours=2, minutes=50),
            resolved_at=now - dt.timedelta(hours=2),
            services=[ServiceFactory(slug="checkout")],
            summary="About a third of card payments failed.",
            commander="dana",
        )
    )
    services.incident_add_note(
        incident=incident, text="Rolled back checkout to v41.", at=now - dt.timedelta(hours=2, minutes=10)
    )
    return incident


def test_write_a_postmortem_see_the_blame_hint_add_remediations_publish_and_export(page, live_server, browser_user):
    incident = _incident()

    # From the incident's page to a new post-mortem.
    log_in(page, live_server, browser_user, next_path=f"/incidents/{incident.pk}/")
    page.get_by_role("link", name="Post-mortem", exact=True).click()
    page.get_by_role("button", name="Start the post-mortem").click()

    # The editor, with the incident's timeline already in it.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Edit the post-mortem")
    expect(page.get_by_label("Timeline", exact=True)).to_contain_text("Rolled back checkout to v41.")
    poorly = page.get_by_label("What went poorly")
    hint = page.locator('[data-blame-for="id_went_poorly"]')
    preview = page.locator('[data-preview-for="id_went_poorly"]')
    expect(hint).to_be_hidden()

    poorly.press_sequentially("Bob should have checked the config")

    # A gentle hint under the section, with the suggestion; the preview beside it follows the text.
    expect(hint).to_be_visible()
    expect(hint.locator("mark").first).to_have_text("Bob should have")
    expect(hint).to_contain_text("judges with hindsight")
    expect(hint).to_contain_text(blame.SUGGESTION)
    expect(preview).to_have_text("Bob should have checked the config")
    page.get_by_label("Impact").fill("About **1,200** customers could not pay for 40 minutes.")
    expect(page.locator('[data-preview-for="id_impact"] strong')).to_have_text("1,200")
    # Rewording it the blameless way makes the note go.
    poorly.fill("Nothing checked the config before it shipped.")
    expect(hint).to_be_hidden()
    poorly.fill("Bob should have checked the config")
    expect(hint).to_be_visible()

    # The hint never blocks saving.
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Saved as version 2.")
    expect(page.locator("#section-went_poorly")).to_contain_text("Bob should have checked the config")
    expect(page.locator("#section-impact strong")).to_have_text("1,200")

    # One remediation for dev, one for ops.
    dev = page.locator("section.remediation-column.dev")
    dev.get_by_text("Add a remediation for dev").click()
    dev.get_by_label("What is to be done").fill("Validate the config in CI before deploys")
    dev.get_by_label("Owner").select_option(label=browser_user.username)
    dev.get_by_label("Due").fill((timezone.localdate() + dt.timedelta(days=14)).isoformat())
    dev.get_by_role("button", name="Add the dev remediation").click()
    expect(page.locator("section.remediation-column.dev .remediation")).to_contain_text(
        "Validate the config in CI before deploys"
    )

    ops = page.locator("section.remediation-column.ops")
    ops.get_by_text("Add a remediation for ops").click()
    ops.get_by_label("What is to be done").fill("Alert on the checkout error rate")
    ops.get_by_label("…or a name").fill("ops rota")
    ops.get_by_label("Tracker").fill("OPS-42")
    ops.get_by_role("button", name="Add the ops remediation").click()
    ops_items = page.locator("section.remediation-column.ops .remediation")
    expect(ops_items).to_contain_text("Alert on the checkout error rate")
    expect(ops_items).to_contain_text("ops rota")
    expect(page.locator("section.remediation-column.dev .remediation")).to_have_count(1)

    # Publish: the checklist comes first (#15.8) — the blame in the saved text, the sections not
    # written, the ops remediation without a due date, no causing deploy — each linking to its fix.
    page.get_by_role("link", name="Publish…").click()
    checklist = page.locator("#publish-checklist")
    expect(checklist).to_be_in_viewport()
    expect(checklist).to_contain_text("“Bob should have”")
    expect(checklist).to_contain_text("“Detection” is not written yet.")
    expect(checklist).to_contain_text("“Alert on the checkout error rate” has no due date.")
    expect(checklist).to_contain_text("No deploy is linked as the cause")
    # Not without ticking "Publish anyway" (the browser asks for it; the server would refuse too).
    checklist.get_by_role("button", name="Publish").click()
    expect(page.locator(".pm-status")).to_have_text("Draft")
    checklist.get_by_label("Publish anyway, with these points open").click()
    checklist.get_by_role("button", name="Publish").click()
    expect(page.locator(".pm-status")).to_have_text("Published")
    expect(page.locator("#publish-checklist")).to_have_count(0)
    postmortem = PostMortem.objects.get(incident=incident)
    assert postmortem.status == PostMortem.Status.PUBLISHED
    assert sorted(Remediation.objects.values_list("kind", flat=True)) == ["dev", "ops"]

    # Export as Markdown.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export Markdown").click()
    download = download_info.value
    assert download.suggested_filename == f"postmortem-{incident.pk}-checkout-returns-502-for-card-payments.md"
    with open(download.path(), encoding="utf-8") as exported:
        markdown = exported.read()
    assert markdown.startswith("# Post-mortem: Checkout returns 502 for card payments\n")
    assert "- **Status:** Published" in markdown
    assert "## What went poorly\n\nBob should have checked the config\n" in markdown
    assert "## Impact\n\nAbout **1,200** customers could not pay for 40 minutes.\n" in markdown
    assert "Rolled back checkout to v41." in markdown
    assert re.search(
        r"\| Dev \| Validate the config in CI before deploys \| oncall \| \d{4}-\d\d-\d\d \| Open \| — \|", markdown
    )
    assert "| Ops | Alert on the checkout error rate | ops rota | — | Open | OPS-42 |" in markdown


SAMPLES = [
    "Bob should have checked the config",
    "It was human error, and a careless one.",
    "The deploy failed to roll back; Alice forgot to page anyone.",
    "Nothing broke. We didn't see it. The cache missed.",
    "Obviously the FAULT was in the cache. Sloppy, and we just had to wait.",
    "Dana broke the build and Sam didn't notice; nobody was to blame.",
]


def test_the_editor_marks_the_same_phrases_as_incidents_blame(page, live_server, browser_user):
    postmortem, _ = postmortem_services.postmortem_start(incident=_incident())
    log_in(page, live_server, browser_user, next_path=f"/incidents/{postmortem.incident_id}/postmortem/edit/")
    section = page.get_by_label("Contributing factors")
    hint = page.locator('[data-blame-for="id_contributing_factors"]')

    for sample in SAMPLES:
        section.fill(sample)
        expected = list(dict.fromkeys((h.text.lower(), h.message) for h in blame.find_blame(sample)))
        if not expected:
            expect(hint).to_be_hidden()
            continue
        expect(hint.locator("li")).to_have_count(len(expected))
        marks = [text.lower() for text in hint.locator("mark").all_inner_texts()]
        assert marks == [text for text, _ in expected], sample
