"""#15.3: a note with a blank line stays inside its list item in the post-mortem's timeline."""

import datetime as dt
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.factories import IncidentFactory, TimelineEntryFactory
from plumbing.markdown import render_markdown
from postmortems.selectors import postmortem_markdown
from postmortems.services import postmortem_start, timeline_narrative

pytestmark = pytest.mark.django_db

NOTE = "Rolled back web.\n\nStill seeing errors from the cache:\n\n    GET /cart 502\n- customers report timeouts"
# A fence never closed: without indentation it would swallow every entry after it.
FENCED = "Log:\n```\nERROR upstream timed out"


def _incident():
    # Mid-morning two days ago: every entry on one day, whatever the time the suite runs at.
    start = (timezone.localtime() - dt.timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    incident = IncidentFactory(started_at=start, detected_at=start)
    TimelineEntryFactory(incident=incident, at=start + dt.timedelta(minutes=10), text="Paged the on-call.")
    TimelineEntryFactory(incident=incident, at=start + dt.timedelta(minutes=20), text=NOTE)
    TimelineEntryFactory(incident=incident, at=start + dt.timedelta(minutes=25), text=FENCED)
    TimelineEntryFactory(incident=incident, at=start + dt.timedelta(minutes=30), text="Mitigated: cache flushed.")
    TimelineEntryFactory(incident=incident, at=start + dt.timedelta(minutes=40), text="Resolved.")
    return incident


class _Outline(HTMLParser):
    """The top-level elements of an HTML fragment, and the text of each top-level list's items."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.top: list[str] = []
        self.items: list[str] = []
        self.list_depth = None

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "hr"):
            return
        if self.depth == 0:
            self.top.append(tag)
        if tag == "li" and self.depth == 1 and self.top[-1] == "ul":
            self.items.append("")
        self.depth += 1

    def handle_endtag(self, tag):
        if tag not in ("br", "hr"):
            self.depth -= 1

    def handle_data(self, data):
        if self.items and self.depth >= 2:
            self.items[-1] += data


def _outline(html: str) -> _Outline:
    outline = _Outline()
    outline.feed(html)
    return outline


def _assert_one_list_of_entries(html: str) -> None:
    outline = _outline(html)
    # The day's heading, then one list: nothing of a note falls out of it.
    assert outline.top == ["p", "ul"], html
    items = [item.strip() for item in outline.items]
    assert len(items) == 5, items
    assert "Still seeing errors from the cache:" in items[1] and "customers report timeouts" in items[1]
    assert "ERROR upstream timed out" in items[2]
    assert items[3].endswith("— Mitigated: cache flushed."), items
    assert items[4].endswith("— Resolved."), items


def test_a_multi_paragraph_note_stays_inside_its_list_item():
    html = render_markdown(timeline_narrative(_incident()))

    _assert_one_list_of_entries(html)
    # The note's indented code stays code, inside its item.
    assert "<pre><code>GET /cart 502" in html


def test_the_published_page_print_view_preview_and_export_keep_every_entry_an_item(logged_in):
    incident = _incident()
    postmortem, _ = postmortem_start(incident=incident)
    narrative = postmortem.timeline_narrative

    for url in (reverse("postmortems:detail", args=[incident.pk]), reverse("postmortems:print", args=[incident.pk])):
        page = logged_in.get(url).content.decode()
        assert postmortem.timeline_narrative_html in page, url
    _assert_one_list_of_entries(postmortem.timeline_narrative_html)
    preview = logged_in.post(reverse("postmortems:preview"), {"text": narrative}).content.decode()
    _assert_one_list_of_entries(preview)
    exported = postmortem_markdown(postmortem)
    section = exported.split("## Timeline\n\n", 1)[1].split("\n## ", 1)[0]
    _assert_one_list_of_entries(render_markdown(section))
    # Each continuation line is indented under its "- " (a blank line stays blank).
    assert "\n  Still seeing errors from the cache:\n" in exported
    assert "\n      GET /cart 502\n" in exported
