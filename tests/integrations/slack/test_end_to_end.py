"""Filed from a slash command, acknowledged from a button, a note from a pin, resolved from the
channel: the incident page then shows all four, with the right people and times."""

import datetime as dt

import pytest
from django.utils import timezone

from incidents.models import Incident
from integrations.models import SlackIncident
from tests.integrations.slack.conftest import command, event, interact
from tests.support.payloads import slack as payloads

pytestmark = pytest.mark.django_db


def test_an_incident_worked_from_slack(client, people, fake_slack, workspace, django_user_model):
    workspace.channel_per_incident = True
    workspace.save()
    command(
        client, user_id=people["admin"], text="sev2 Checkout fails for EU cards", response_url=fake_slack.response_url()
    )
    incident = Incident.objects.get()
    channel = SlackIncident.objects.get(incident=incident).incident_channel
    assert channel and fake_slack.called("conversations.invite")[0]["users"] == people["admin"]

    interact(
        client,
        payloads.block_actions(
            user_id=people["responder"],
            action_id="opslog_ack",
            value=str(incident.pk),
            response_url=fake_slack.response_url(),
        ),
    )

    incident.refresh_from_db()
    # Said a second after the acknowledgement, resolved a second later (within the minute of clock skew allowed).
    said_at = (incident.acknowledged_at + dt.timedelta(seconds=1)).replace(microsecond=0)
    ts = f"{said_at.timestamp():.6f}"
    fake_slack.add_message(channel, ts, user=people["responder"], text="Visa's gateway returns 502s")
    event(
        client,
        payloads.reaction(
            "reaction_added", user=people["admin"], item_user=people["responder"], channel=channel, ts=ts
        ),
    )

    resolved_at = said_at + dt.timedelta(seconds=1)
    event(
        client,
        payloads.message(
            channel=channel,
            user=people["admin"],
            text=f"<@UOPSLOGBOT> resolved {resolved_at.isoformat()}",
            ts="1700000001.000100",
        ),
    )

    incident.refresh_from_db()
    assert incident.acknowledged_at is not None and incident.resolved_at == resolved_at
    client.force_login(django_user_model.objects.get(username="viewer-person"))
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    timeline = list(incident.timeline.select_related("author").order_by("at", "id"))
    shown = [(e.kind, e.author.username) for e in timeline]
    assert shown == [
        ("status", "admin-person"),
        ("status", "responder-person"),
        ("note", "responder-person"),
        ("status", "admin-person"),
    ]
    assert timeline[0].text.startswith("Incident filed (SEV2")
    assert timeline[1].text.startswith("Acknowledged")
    assert timeline[2].text == "Visa's gateway returns 502s"
    assert timeline[3].text.startswith("Resolved")
    note = timeline[2]
    assert note.at == said_at
    assert timeline[3].at == resolved_at
    for entry in timeline:
        assert entry.author.username in page
    assert "Visa&#x27;s gateway returns 502s" in page or "Visa's gateway returns 502s" in page
    assert timezone.localtime(resolved_at).strftime("%H:%M") in page
    # The announcement followed every step, in place.
    last = fake_slack.called("chat.update")[-1]
    assert "Resolved" in str(last["blocks"]) and last["ts"] == SlackIncident.objects.get(incident=incident).ts
