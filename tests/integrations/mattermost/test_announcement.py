"""The announcement: posted when an incident is filed, updated in place (PUT posts/{id}) however
it changes; rate limits waited out, errors logged, nothing at all without a server."""

import datetime as dt
import logging

import pytest
from django.test import TestCase
from django.utils import timezone

from deploys.factories import ServiceFactory
from incidents.models import Incident
from incidents.services import IncidentInput, incident_assign_role, incident_create, incident_stamp, incident_update
from integrations.mattermost import message
from integrations.models import MattermostIncident
from tests.integrations.mattermost.conftest import ANNOUNCE

pytestmark = pytest.mark.django_db


def file(title="Checkout down", **fields) -> Incident:
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident, _ = incident_create(
            data=IncidentInput(title=title, started_at=timezone.now() - dt.timedelta(minutes=10), **fields)
        )
    return incident


def _attachment(call: dict) -> dict:
    (attachment,) = call["props"]["attachments"]
    return attachment


def test_an_incident_filed_anywhere_is_announced_with_its_facts_and_signed_buttons(server, fake_mm):
    service = ServiceFactory(slug="checkout")
    incident = file(severity=1, services=[service], commander="Erin")
    (posted,) = fake_mm.called("POST /posts")
    assert posted["channel_id"] == ANNOUNCE
    assert posted["message"] == f"Incident #{incident.pk} (SEV1 · critical, Open): Checkout down"
    attachment = _attachment(posted)
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields == {"Severity": "SEV1 · critical", "Status": "Open", "Lead": "Erin", "Services": "checkout"}
    assert attachment["title_link"] == f"https://opslog.example.com/incidents/{incident.pk}/"
    assert [a["name"] for a in attachment["actions"]] == ["Acknowledge", "Mitigate", "Resolve"]
    for action in attachment["actions"]:
        assert action["integration"]["url"] == "https://opslog.example.com/hooks/mattermost/actions"
        context = message.verified_context(action["integration"]["context"])
        assert context == {"action": action["id"], "incident": incident.pk, "server": server.pk}
    link = MattermostIncident.objects.get(incident=incident)
    assert link.channel_id == ANNOUNCE and link.post_id in fake_mm.posts


def test_it_is_updated_in_place_whatever_changes_it_and_a_change_showing_nothing_new_is_not_sent(server, fake_mm):
    incident = file()
    post_id = MattermostIncident.objects.get(incident=incident).post_id
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_stamp(incident=incident, stage="acknowledged")
    (update,) = fake_mm.called("PUT /posts/{id}")
    assert update["id"] == post_id
    assert "Acknowledged" in update["message"]
    assert [a["name"] for a in _attachment(update)["actions"]] == ["Mitigate", "Resolve"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_update(incident=incident, changes={"detection_source": "a pager"})
    assert len(fake_mm.called("PUT /posts/{id}")) == 1
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_assign_role(incident=incident, role="lead", name="Frank")
    fields = _attachment(fake_mm.called("PUT /posts/{id}")[-1])["fields"]
    assert {"short": True, "title": "Lead", "value": "Frank"} in fields
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_stamp(incident=incident, stage="resolved")
    last = fake_mm.called("PUT /posts/{id}")[-1]
    assert "Resolved" in last["message"] and "actions" not in _attachment(last)
    assert len(fake_mm.called("POST /posts")) == 1


def test_the_web_page_moves_the_announcement_too(server, fake_mm, logged_in):
    incident = file()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = logged_in.post(f"/incidents/{incident.pk}/stamp/mitigated/")
    assert response.status_code in (200, 302)
    assert "Mitigated" in fake_mm.called("PUT /posts/{id}")[-1]["message"]


def test_a_button_press_updates_the_announcement(client, people, server, fake_mm):
    from tests.integrations.mattermost.conftest import press

    incident = file()
    press(client, user_id=people["responder"], action="ack", incident=incident, server=server)
    assert "Acknowledged" in fake_mm.called("PUT /posts/{id}")[-1]["message"]


def test_markdown_in_a_title_is_shown_as_written(server, fake_mm):
    file(title="[click](https://evil.example) @channel **now**")
    posted = fake_mm.called("POST /posts")[0]["message"]
    assert "\\[click\\]" in posted and "\\@channel" in posted and "\\*\\*now\\*\\*" in posted


def test_a_huge_title_and_many_services_stay_within_mattermost_s_limits(server, fake_mm):
    services = [ServiceFactory(slug=f"service-{n:03d}-{'x' * 80}") for n in range(40)]
    file(title="Ü" * 200, services=services, commander="名" * 200)
    assert len(fake_mm.called("POST /posts")) == 1  # the fake checked the limits


def test_no_buttons_without_opslog_s_address(server, fake_mm, settings):
    settings.OPSLOG_BASE_URL = ""
    file()
    assert "actions" not in _attachment(fake_mm.called("POST /posts")[0])


@pytest.mark.parametrize("header", ["X-Ratelimit-Reset", "Retry-After"])
def test_rate_limits_are_waited_out_and_nothing_is_lost(server, fake_mm, header):
    fake_mm.fail("POST /posts", 429, headers={header: "0"}, times=2)
    incident = file()
    assert len(fake_mm.called("POST /posts")) == 3
    assert MattermostIncident.objects.get(incident=incident).post_id


def test_an_api_error_is_logged_the_incident_stands_and_the_next_change_tries_again(server, fake_mm, caplog):
    fake_mm.fail("POST /posts", 403, body={"id": "api.context.permissions.app_error", "message": "no permission"})
    with caplog.at_level(logging.ERROR):
        incident = file()
    assert Incident.objects.filter(pk=incident.pk).exists() and incident.timeline.count() == 1
    assert "no permission" in caplog.text
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_stamp(incident=incident, stage="acknowledged")
    assert MattermostIncident.objects.get(incident=incident).post_id


def test_an_incident_filed_resolved_is_not_announced(server, fake_mm):
    now = timezone.now()
    file(resolved_at=now - dt.timedelta(minutes=1), detected_at=now - dt.timedelta(minutes=5))
    assert fake_mm.calls == []


def test_no_server_no_calls_and_one_query(db, fake_mm, django_assert_max_num_queries):
    from integrations.mattermost.services import announce_queue

    incident = file()
    assert fake_mm.calls == []
    with django_assert_max_num_queries(1):
        announce_queue(incident.pk)


def test_an_inactive_server_is_left_alone(server, fake_mm):
    server.is_active = False
    server.save()
    file()
    assert fake_mm.calls == []
