"""#15.15: text as people type it — single line breaks kept, bare URLs linked, sanitising unchanged."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from incidents.factories import IncidentFactory, TimelineEntryFactory
from incidents.models import Incident, TimelineEntry
from plumbing.markdown import render_markdown
from postmortems.factories import PostMortemFactory
from tests.support.xss import DANGEROUS

TYPED = "Checkout is down.\nCustomers report 502s\nSupport has 40 tickets\nSee https://status.example.com/x?a=1"


def test_single_line_breaks_are_kept_and_bare_urls_are_links():
    html = render_markdown(TYPED)

    assert "<p>Checkout is down.<br>\nCustomers report 502s<br>\nSupport has 40 tickets<br>\nSee <a" in html, html
    assert '<a href="https://status.example.com/x?a=1" rel="noopener noreferrer nofollow">' in html, html
    assert render_markdown("ops at www.example.com today").count("<a href=") == 1


def test_autolinks_are_sanitised_like_any_link():
    for text in ("javascript:alert(1)", "www.example.com/<script>alert(1)</script>", "data:text/html,x"):
        html = render_markdown(text)
        # Text saying "javascript:" is harmless; a link or live markup is not.
        assert "<a " not in html or 'href="http://www.example.com/' in html, html
        assert not DANGEROUS.search(html.replace(text.split("<")[0], "")), html


@pytest.mark.django_db
def test_an_incident_summary_and_a_note_show_the_lines_as_typed(logged_in):
    incident = IncidentFactory(summary=TYPED)
    TimelineEntryFactory(incident=incident, text="Rolled back.\nErrors falling\nhttps://grafana.example.com/d/1")

    page = logged_in.get(reverse("incidents:detail", args=[incident.pk])).content.decode()

    assert "Checkout is down.<br>" in page
    assert "Rolled back.<br>" in page and "Errors falling<br>" in page
    assert '<a href="https://grafana.example.com/d/1"' in page


@pytest.mark.django_db
def test_stored_html_from_before_is_rendered_again_by_the_migration():
    incident = IncidentFactory(summary=TYPED)
    note = TimelineEntryFactory(incident=incident, text="one\ntwo")
    postmortem = PostMortemFactory(impact="line one\nline two")
    # As an earlier renderer stored them.
    Incident.objects.filter(pk=incident.pk).update(summary_html="<p>old</p>")
    TimelineEntry.objects.filter(pk=note.pk).update(text_html="<p>old</p>")
    type(postmortem).objects.filter(pk=postmortem.pk).update(impact_html="<p>old</p>")

    from importlib import import_module

    from django.apps import apps

    for module in (
        "incidents.migrations.0009_review_rerender_hard_breaks_autolinks",
        "postmortems.migrations.0004_review_rerender_hard_breaks_autolinks",
        "deploys.migrations.0017_review_rerender_hard_breaks_autolinks",
    ):
        import_module(module).render_again(apps, None)

    assert Incident.objects.get(pk=incident.pk).summary_html.startswith("<p>Checkout is down.<br>")
    assert TimelineEntry.objects.get(pk=note.pk).text_html == "<p>one<br>\ntwo</p>"
    assert type(postmortem).objects.get(pk=postmortem.pk).impact_html == "<p>line one<br>\nline two</p>"
    call_command("rerender_markdown")
