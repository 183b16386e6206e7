"""Where each timeline entry was made: entries_from() marks every entry made inside it; requests
to the pages are "web", to the API "api", webhook deliveries "hook", Slack "slack"."""

import json

import pytest
from django.test import TestCase
from django.utils import timezone

from incidents.factories import IncidentFactory
from incidents.models import TimelineEntry, current_entry_source, entries_from
from incidents.services import incident_add_note, incident_assign_role, incident_stamp, incident_update

pytestmark = pytest.mark.django_db


def test_entries_made_inside_take_the_source_and_outside_none_is_recorded():
    incident = IncidentFactory()
    with entries_from("slack"):
        incident_stamp(incident=incident, stage="acknowledged")
        incident_assign_role(incident=incident, role="lead", name="ana")  # built, then saved
        incident_update(incident=incident, changes={"severity": 1})  # bulk_create
        note = incident_add_note(incident=incident, text="from chat")
    outside = incident_add_note(incident=incident, text="from a shell")
    assert set(incident.timeline.exclude(pk=outside.pk).values_list("source", flat=True)) == {"slack"}
    assert incident.timeline.exclude(pk=outside.pk).count() == 4
    note.refresh_from_db()
    assert note.source == "slack" and outside.source == ""


def test_nested_the_innermost_wins_and_each_is_undone_even_on_an_error():
    with entries_from("web"):
        with pytest.raises(RuntimeError), entries_from("slack"):
            assert current_entry_source() == "slack"
            raise RuntimeError
        assert current_entry_source() == "web"
    assert current_entry_source() == ""


def test_an_unknown_source_is_refused():
    with pytest.raises(ValueError, match="unknown timeline entry source"):
        with entries_from("carrier-pigeon"):
            pass


def test_a_note_from_the_page_is_web_and_from_the_api_is_api(logged_in, api):
    incident = IncidentFactory()
    assert logged_in.post(f"/incidents/{incident.pk}/notes/", {"text": "from the page"}).status_code == 302
    assert api.post(f"/api/incidents/{incident.pk}/timeline/", {"text": "from CI"}, format="json").status_code == 201
    assert dict(incident.timeline.values_list("text", "source")) == {"from the page": "web", "from CI": "api"}
    # No leak: the next entry made outside a request records nothing.
    assert incident_add_note(incident=incident, text="later").source == ""


def test_the_api_timeline_says_where_each_entry_came_from(api):
    incident = IncidentFactory()
    with entries_from("slack"):
        incident_add_note(incident=incident, text="pinned in Slack")
    incident_add_note(incident=incident, text="unrecorded")
    results = api.get(f"/api/incidents/{incident.pk}/timeline/").json()["results"]
    assert [(e["text"], e["source"]) for e in results] == [("pinned in Slack", "slack"), ("unrecorded", "")]


def test_the_page_marks_entries_made_in_slack(logged_in):
    incident = IncidentFactory()
    with entries_from("slack"):
        incident_add_note(incident=incident, text="Rolled back web", by=None)
    with entries_from("web"):
        incident_add_note(incident=incident, text="Typed on the page")
    with entries_from("api"):
        incident_add_note(incident=incident, text="Posted by CI")
    page = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    assert page.count('<span class="via">via Slack</span>') == 1
    assert page.count('<span class="via">via API</span>') == 1
    assert page.count('class="via"') == 2  # the web page's own entries need no marker


def test_a_webhook_delivery_marks_its_entries_hook(client):
    from integrations.factories import IntegrationFactory
    from tests.incidents.test_hooks_pagerduty import post
    from tests.support.payloads import pagerduty as pd

    IntegrationFactory(kind="pagerduty", name="PagerDuty acme")
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert post(client, pd.triggered()).status_code == 202
    entries = TimelineEntry.objects.all()
    assert entries.count() >= 1 and set(entries.values_list("source", flat=True)) == {"hook"}


def test_entries_of_before_keep_not_recorded(db):
    # What the migration gives existing rows, and what a management command or beat task makes.
    entry = TimelineEntry.objects.create(incident=IncidentFactory(), kind="note", text="old", at=timezone.now())
    assert entry.source == "" and entry.via == ""
    assert json.dumps(entry.get_source_display()) == '"Not recorded"'
