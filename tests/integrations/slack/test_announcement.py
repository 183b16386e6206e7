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
