"""The announcement: posted when an incident is filed, updated in place however it changes."""

import datetime as dt
import logging

import pytest
from django.test import TestCase
from django.utils import timezone

from deploys.factories import ServiceFactory
from incidents.models import Incident
from incidents.services import IncidentInput, incident_create, incident_stamp, incident_update
from integrations.models import SlackIncident, SlackUser
from integrations.slack.services import channel_name

pytestmark = pytest.mark.django_db


def file(title="Checkout down", by=None, **fields) -> Incident:
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident, _ = incident_create(
            data=IncidentInput(title=title, started_at=timezone.now() - dt.timedelta(minutes=10), **fields), by=by
        )
    return incident


def test_an_incident_filed_anywhere_is_announced_with_its_facts_and_buttons(workspace, fake_slack):
    service = ServiceFactory(slug="checkout")
    incident = file(severity=1, services=[service], commander="Erin")
    (posted,) = fake_slack.called("chat.postMessage")
    assert posted["channel"] == "C0ANNOUNCE"
    fields = " ".join(f["text"] for f in posted["blocks"][1]["fields"])
    assert "SEV1" in fields and "Open" in fields and "Erin" in fields and "checkout" in fields
    assert f"https://opslog.example.com/incidents/{incident.pk}/" in str(posted["blocks"])
    actions = next(b for b in posted["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        "opslog_ack",
        "opslog_mitigate",
        "opslog_resolve",
        "opslog_note",
    ]
    link = SlackIncident.objects.get(incident=incident)
    assert link.channel == "C0ANNOUNCE" and link.ts


def test_it_is_updated_in_place_whatever_changes_it_and_a_change_showing_nothing_new_is_not_sent(workspace, fake_slack):
    incident = file()
    ts = SlackIncident.objects.get(incident=incident).ts
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_stamp(incident=incident, stage="acknowledged")
    (update,) = fake_slack.called("chat.update")
    assert update["ts"] == ts and update["channel"] == "C0ANNOUNCE"
    assert "Acknowledged" in str(update["blocks"])
    assert "opslog_ack" not in str(update["blocks"])
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_update(incident=incident, changes={"detection_source": "a pager"})
    assert len(fake_slack.called("chat.update")) == 1
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_stamp(incident=incident, stage="resolved")
    last = fake_slack.called("chat.update")[-1]
    assert "Resolved" in str(last["blocks"]) and not any(b["type"] == "actions" for b in last["blocks"])
    assert len(fake_slack.called("chat.postMessage")) == 1


def test_the_web_page_moves_the_announcement_too(workspace, fake_slack, logged_in):
    incident = file()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = logged_in.post(f"/incidents/{incident.pk}/stamp/mitigated/")
    assert response.status_code in (200, 302), response.status_code
    incident.refresh_from_db()
    assert incident.mitigated_at is not None
    assert "Mitigated" in str(fake_slack.called("chat.update")[-1]["blocks"])


def test_a_huge_title_and_many_services_stay_within_block_kit_limits(workspace, fake_slack):
    services = [ServiceFactory(slug=f"service-{n:03d}-{'x' * 80}") for n in range(40)]
    file(title="Ü" * 200, services=services, commander="名" * 200)
    assert len(fake_slack.called("chat.postMessage")) == 1  # the fake checked the limits


def test_ratelimited_is_waited_out_and_nothing_is_lost(workspace, fake_slack):
    fake_slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=0, times=2)
    incident = file()
    assert len(fake_slack.called("chat.postMessage")) == 3
    assert SlackIncident.objects.get(incident=incident).ts


def test_an_api_error_is_logged_and_the_incident_stands(workspace, fake_slack, caplog):
    fake_slack.fail("chat.postMessage", "channel_not_found")
    with caplog.at_level(logging.ERROR):
        incident = file()
    assert Incident.objects.filter(pk=incident.pk).exists()
    assert incident.timeline.count() == 1
    assert "channel_not_found" in caplog.text
    # The next change tries again.
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_stamp(incident=incident, stage="acknowledged")
    assert SlackIncident.objects.get(incident=incident).ts


def test_no_workspace_no_calls(db, fake_slack):
    file()
    assert fake_slack.calls == []


def test_a_channel_per_incident_named_by_slack_rules_with_the_filer_invited(
    workspace, people, fake_slack, django_user_model
):
    workspace.channel_per_incident = True
    workspace.save()
    admin = SlackUser.objects.get(slack_user_id=people["admin"]).user
    incident = file(title="Checkout DOWN: EU cards (Visa/MC) — ünïcode!", by=admin)
    (created,) = fake_slack.called("conversations.create")
    assert created["name"] == f"inc-{incident.pk}-checkout-down-eu-cards-visa-mc-n-code"
    (invite,) = fake_slack.called("conversations.invite")
    assert invite["users"] == people["admin"]
    assert SlackIncident.objects.get(incident=incident).incident_channel == invite["channel"]


def test_channel_names_are_at_most_80_characters(db):
    incident = Incident(pk=123456, title="a very long title " * 20)
    name = channel_name("inc", incident)
    assert len(name) <= 80 and name.startswith("inc-123456-a-very-long-title")
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def _lead_in(message: dict) -> str:
    fields = next(b for b in message["blocks"] if b["type"] == "section" and "fields" in b)["fields"]
    return next(f["text"] for f in fields if f["text"].startswith("*Lead*"))


def test_a_handover_on_the_web_page_updates_the_announcement(workspace, fake_slack, logged_in):
    incident = file(commander="Erin")
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = logged_in.post(f"/incidents/{incident.pk}/roles/", {"role": "lead", "name": "Farid"})
    assert response.status_code == 302
    (update,) = fake_slack.called("chat.update")
    assert update["ts"] == SlackIncident.objects.get(incident=incident).ts
    assert _lead_in(update) == "*Lead*\nFarid"


def test_a_handover_through_the_api_updates_the_announcement(workspace, fake_slack, api):
    incident = file()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api.post(f"/api/incidents/{incident.pk}/roles/", {"role": "scribe", "name": "Gita"}, format="json")
    assert response.status_code == 200, response.content
    (update,) = fake_slack.called("chat.update")
    assert "Gita" in str(update["blocks"])


def test_a_handover_rolled_back_sends_nothing(workspace, fake_slack):
    from django.db import transaction

    from incidents.services import incident_assign_role

    incident = file()
    with TestCase.captureOnCommitCallbacks(execute=True):
        try:
            with transaction.atomic():
                incident_assign_role(incident=incident, role="lead", name="Farid")
                raise RuntimeError("the request failed after the handover")
        except RuntimeError:
            pass
    assert fake_slack.called("chat.update") == []


def test_the_announcement_shows_all_three_role_holders(workspace, fake_slack):
    file(commander="Erin", comms_lead="Farid", scribe="")
    (posted,) = fake_slack.called("chat.postMessage")
    fields = [f["text"] for f in posted["blocks"][1]["fields"]]
    assert "*Lead*\nErin" in fields and "*Comms*\nFarid" in fields and "*Scribe*\n—" in fields


def test_long_role_holders_stay_within_block_kit_limits(workspace, fake_slack):
    file(commander="<@U1> " + "名" * 190, comms_lead="&" * 200, scribe="*" * 200)
    (posted,) = fake_slack.called("chat.postMessage")
    assert "&lt;@U1&gt;" in str(posted["blocks"])  # escaped: not a mention
    assert len(posted["blocks"][1]["fields"]) <= 10


def test_the_incident_channel_invites_the_filer_and_the_mapped_role_holders_each_once(
    workspace, people, fake_slack, django_user_model, caplog
):
    workspace.channel_per_incident = True
    workspace.save()
    admin = SlackUser.objects.get(slack_user_id=people["admin"]).user
    responder = django_user_model.objects.get(username="responder-person")
    SlackUser.objects.create(workspace=workspace, slack_user_id=people["responder"], user=responder)
    viewer = django_user_model.objects.get(username="viewer-person")
    # The filer is already in (they made it); the responder can't be invited; the viewer still is.
    fake_slack.fail("conversations.invite", "already_in_channel")
    fake_slack.fail("conversations.invite", "user_is_restricted")
    with caplog.at_level(logging.ERROR):
        incident = file(
            by=admin, commander="responder-person", comms_lead="admin-person", scribe=viewer.username, summary=""
        )
    invited = [c["users"] for c in fake_slack.called("conversations.invite")]
    assert invited == [people["admin"], people["responder"], people["viewer"]]
    channel = SlackIncident.objects.get(incident=incident).incident_channel
    assert {c["channel"] for c in fake_slack.called("conversations.invite")} == {channel}
    assert "user_is_restricted" in caplog.text and "already_in_channel" not in caplog.text
    # The welcome message still went out after the failed invite.
    assert any(c["channel"] == channel for c in fake_slack.called("chat.postMessage"))


def test_a_holder_known_only_by_name_is_not_invited(workspace, people, fake_slack):
    workspace.channel_per_incident = True
    workspace.save()
    file(commander="Stranger", scribe="nobody-with-that-name")
    assert fake_slack.called("conversations.invite") == []
