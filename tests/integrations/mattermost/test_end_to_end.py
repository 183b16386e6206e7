"""Filed from the dialog, acknowledged from a button, a channel linked, a note, a new lead and the
resolution from /incident: the incident page then shows them all, with the right people, and the
announcement followed every step in place."""

import pytest
from django.utils import timezone

from incidents.models import Incident, TimelineEntry
from integrations.models import MattermostIncident
from tests.integrations.mattermost.conftest import command, press, submit

pytestmark = pytest.mark.django_db

CHANNEL = "warroomchannel000000000000"


def test_an_incident_worked_from_mattermost(client, people, fake_mm, server, django_user_model):
    command(client, fake_mm, user_id=people["admin"])
    state = fake_mm.called("POST /actions/dialogs/open")[0]["dialog"]["state"]
    assert (
        submit(client, user_id=people["admin"], state=state, title="Checkout fails for EU cards", severity="2").json()
        == {}
    )
    incident = Incident.objects.get()
    link = MattermostIncident.objects.get(incident=incident)
    assert link.post_id and fake_mm.posts[link.post_id]["channel_id"] == server.announce_channel

    # The responder isn't mapped yet: found by e-mail when they press the button.
    press(client, user_id=people["responder"], action="ack", incident=incident, server=server, post_id=link.post_id)
    command(client, fake_mm, user_id=people["responder"], text=f"here #{incident.pk}", channel_id=CHANNEL)
    command(client, fake_mm, user_id=people["responder"], text="note Visa's gateway returns 502s", channel_id=CHANNEL)
    command(client, fake_mm, user_id=people["admin"], text="lead @responder-person", channel_id=CHANNEL)
    command(client, fake_mm, user_id=people["admin"], text="resolved", channel_id=CHANNEL)

    incident.refresh_from_db()
    assert incident.acknowledged_at and incident.resolved_at and incident.commander == "responder-person"
    timeline = list(incident.timeline.select_related("author").order_by("at", "id"))
    assert [(e.kind, e.author.username) for e in timeline] == [
        ("status", "admin-person"),
        ("status", "responder-person"),
        ("note", "responder-person"),
        ("handover", "admin-person"),
        ("status", "admin-person"),
    ]
    assert timeline[2].text == "Visa's gateway returns 502s"
    assert {e.source for e in timeline} == {TimelineEntry.Source.MATTERMOST}
    client.force_login(django_user_model.objects.get(username="viewer-person"))
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    for entry in timeline:
        assert entry.author.username in page
    assert "gateway returns 502s" in page
    assert page.count("via Mattermost") == len(timeline)
    assert timezone.localtime(incident.resolved_at).strftime("%H:%M") in page
    # One post, updated in place to the end: resolved, led by the responder, no buttons left.
    assert len(fake_mm.called("POST /posts")) == 1
    final = fake_mm.posts[link.post_id]
    assert "Resolved" in final["message"]
    (attachment,) = final["props"]["attachments"]
    assert "actions" not in attachment
    assert {"short": True, "title": "Lead", "value": "responder-person"} in attachment["fields"]
