"""The announcement's buttons, for every role: the change and the private answer."""

import datetime as dt

import pytest
from django.utils import timezone

from incidents.models import Incident
from integrations.models import MattermostRequest
from tests.integrations.mattermost.conftest import press

pytestmark = pytest.mark.django_db

BUTTONS = {
    "ack": lambda i: i.acknowledged_at is not None,
    "mitigate": lambda i: i.mitigated_at is not None,
    "resolve": lambda i: i.resolved_at is not None,
}


def _incident(**fields) -> Incident:
    now = timezone.now()
    return Incident.objects.create(
        title="Checkout down",
        started_at=now - dt.timedelta(hours=1),
        detected_at=now - dt.timedelta(minutes=50),
        **fields,
    )


@pytest.mark.parametrize("action", BUTTONS)
@pytest.mark.parametrize("role,allowed", [("viewer", False), ("responder", True), ("admin", True), ("unmapped", False)])
def test_every_role_on_every_button(client, people, fake_mm, server, action, role, allowed):
    incident = _incident()
    response = press(client, user_id=people[role], action=action, incident=incident, server=server)
    assert response.status_code == 200
    incident.refresh_from_db()
    assert BUTTONS[action](incident) is allowed
    # A mapped viewer is answered in the request; the others by a private post from the task.
    answers = [response.json().get("ephemeral_text", "")] + [
        c["post"]["message"] for c in fake_mm.called("POST /posts/ephemeral")
    ]
    answers = [a for a in answers if a]
    assert len(answers) == 1
    assert ("nothing was changed" in answers[0]) is not allowed
    if allowed:
        assert incident.timeline.get(kind="status").author.username == f"{role}-person"
        (private,) = fake_mm.called("POST /posts/ephemeral")
        assert private["user_id"] == people[role]
    else:
        assert incident.timeline.count() == 0


def test_order_rules_are_a_private_answer_and_change_nothing(client, people, fake_mm, server):
    incident = _incident(resolved_at=timezone.now() - dt.timedelta(minutes=40))
    entries = incident.timeline.count()
    press(client, user_id=people["admin"], action="ack", incident=incident, server=server)
    incident.refresh_from_db()
    assert incident.acknowledged_at is None and incident.timeline.count() == entries
    assert "already resolved" in fake_mm.called("POST /posts/ephemeral")[-1]["post"]["message"]
    assert MattermostRequest.objects.get().outcome == "refused by the rules"


def test_a_deleted_incident_is_said_so(client, people, fake_mm, server):
    incident = _incident()
    pk = incident.pk
    incident.delete()
    incident.pk = pk
    press(client, user_id=people["admin"], action="resolve", incident=incident, server=server)
    assert "no longer exists" in fake_mm.called("POST /posts/ephemeral")[-1]["post"]["message"]


def test_a_failing_private_answer_is_logged_and_the_change_stands(client, people, fake_mm, server, caplog):
    fake_mm.fail("POST /posts/ephemeral", 403)
    incident = _incident()
    press(client, user_id=people["admin"], action="mitigate", incident=incident, server=server)
    incident.refresh_from_db()
    assert incident.mitigated_at is not None
    assert "ephemeral post failed" in caplog.text
