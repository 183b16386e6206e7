"""/incident (the modal and the quick form) and the announcement's buttons, for every role."""

import datetime as dt

import pytest
from django.utils import timezone

from deploys.factories import DeployFactory, ServiceFactory
from incidents.models import Incident, IncidentDeploy
from integrations.models import SlackUser
from tests.integrations.slack.conftest import command, interact
from tests.support.payloads import slack as payloads

pytestmark = pytest.mark.django_db


def test_incident_without_text_opens_the_modal_with_severities_and_active_services(client, people, fake_slack):
    ServiceFactory(slug="checkout")
    gone = ServiceFactory(slug="old-thing")
    gone.archived_at = timezone.now()
    gone.save()
    response = command(client, user_id=people["admin"], response_url=fake_slack.response_url())
    assert response.status_code == 200
    (opened,) = fake_slack.called("views.open")
    view = opened["view"]
    assert view["callback_id"] == "opslog_file" and opened["trigger_id"]
    severity = next(b for b in view["blocks"] if b["block_id"] == "severity")["element"]
    assert [o["value"] for o in severity["options"]] == ["1", "2", "3", "4"]
    assert severity["options"][0]["description"]["text"] == Incident.SEVERITY_DESCRIPTIONS[1]
    services = next(b for b in view["blocks"] if b["block_id"] == "services")["element"]["options"]
    assert [o["value"] for o in services] == ["checkout"]


def test_an_unmapped_person_is_looked_up_by_email_then_the_modal_opens(client, people, fake_slack):
    command(client, user_id=people["responder"], response_url=fake_slack.response_url())
    assert fake_slack.called("users.info")[0]["user"] == people["responder"]
    assert len(fake_slack.called("views.open")) == 1
    mapping = SlackUser.objects.get(slack_user_id=people["responder"])
    assert mapping.user.username == "responder-person" and mapping.source == "email"
    command(client, user_id=people["responder"], response_url=fake_slack.response_url())
    assert len(fake_slack.called("users.info")) == 1  # cached


@pytest.mark.parametrize("role", ["viewer", "unmapped"])
def test_someone_who_may_not_file_gets_a_private_answer(client, people, fake_slack, role):
    response = command(client, user_id=people[role], text="sev1 everything", response_url=fake_slack.response_url())
    assert Incident.objects.count() == 0 and fake_slack.called("views.open") == []
    answer = response.json()["text"] if response.content else fake_slack.responses[-1]["text"]
    assert "nothing was changed" in answer
    if response.content:
        assert response.json()["response_type"] == "ephemeral"
    else:
        assert fake_slack.responses[-1]["response_type"] == "ephemeral"


def _submit(client, slack_id: str, **values):
    values = {"title": "Checkout fails for EU cards", "severity": ("option", "2"), **values}
    return interact(client, payloads.view_submission(user_id=slack_id, callback_id="opslog_file", values=values))


def test_the_modal_files_the_incident_by_the_mapped_user(client, people, fake_slack):
    ServiceFactory(slug="checkout")
    ServiceFactory(slug="payments")
    response = _submit(client, people["admin"], services=["checkout", "payments"], summary="EU cards **fail**")
    assert response.status_code == 200 and response.content == b""
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == ("Checkout fails for EU cards", 2)
    assert sorted(s.slug for s in incident.services.all()) == ["checkout", "payments"]
    assert incident.created_by.username == "admin-person"
    assert "<strong>fail</strong>" in incident.summary_html


def test_modal_errors_come_back_per_block_and_nothing_is_filed(client, people, fake_slack):
    response = _submit(client, people["admin"], title="   ", severity=("option", "7"), services=["nope"])
    assert response.json()["response_action"] == "errors"
    assert set(response.json()["errors"]) == {"title", "severity", "services"}
    assert Incident.objects.count() == 0
    # Corrected and submitted again: filed.
    assert _submit(client, people["admin"]).content == b""
    assert Incident.objects.count() == 1


@pytest.mark.parametrize(
    "role,allowed", [("viewer", False), ("responder", False), ("admin", True), ("unmapped", False)]
)
def test_every_role_submitting_the_modal(client, people, fake_slack, role, allowed):
    # The responder hasn't been looked up yet (no users.info inside a submission): refused until mapped.
    response = _submit(client, people[role])
    assert Incident.objects.exists() is allowed
    if not allowed:
        assert "nothing was changed" in response.json()["errors"]["title"]


def _incident(**fields):
    now = timezone.now()
    return Incident.objects.create(
        title="Checkout down",
        started_at=now - dt.timedelta(hours=1),
        detected_at=now - dt.timedelta(minutes=50),
        **fields,
    )


def _press(client, fake, slack_id, action_id, incident, selected=""):
    return interact(
        client,
        payloads.block_actions(
            user_id=slack_id,
            action_id=action_id,
            value=str(incident.pk),
            response_url=fake.response_url(),
            selected=selected,
        ),
    )


BUTTONS = {
    "opslog_ack": lambda i: i.acknowledged_at is not None,
    "opslog_mitigate": lambda i: i.mitigated_at is not None,
    "opslog_resolve": lambda i: i.resolved_at is not None,
}


@pytest.mark.parametrize("action_id", BUTTONS)
@pytest.mark.parametrize("role,allowed", [("viewer", False), ("responder", True), ("admin", True), ("unmapped", False)])
def test_every_role_on_every_button(client, people, fake_slack, action_id, role, allowed):
    incident = _incident()
    _press(client, fake_slack, people[role], action_id, incident)
    incident.refresh_from_db()
    assert BUTTONS[action_id](incident) is allowed
    (answer,) = fake_slack.responses
    assert answer["response_type"] == "ephemeral"
    assert ("nothing was changed" in answer["text"]) is not allowed
    if allowed:
        assert incident.timeline.get(kind="status").author.username == f"{role}-person"


@pytest.mark.parametrize("role,allowed", [("viewer", False), ("responder", True), ("admin", True), ("unmapped", False)])
def test_every_role_linking_a_suspect_deploy(client, people, fake_slack, role, allowed):
    service = ServiceFactory(slug="checkout")
    incident = _incident()
    incident.services.add(service)
    deploy = DeployFactory(service=service, deployed_at=incident.started_at - dt.timedelta(minutes=5))
    _press(client, fake_slack, people[role], "opslog_suspect", incident, selected=str(deploy.pk))
    assert IncidentDeploy.objects.filter(incident=incident, deploy=deploy, relation="cause").exists() is allowed


@pytest.mark.parametrize("role,allowed", [("viewer", False), ("responder", True), ("admin", True), ("unmapped", False)])
def test_every_role_adding_a_note(client, people, fake_slack, role, allowed):
    incident = _incident()
    _press(client, fake_slack, people[role], "opslog_note", incident)
    assert len(fake_slack.called("views.open")) == (1 if allowed else 0)
    submitted = payloads.view_submission(
        user_id=people[role],
        callback_id="opslog_note",
        values={"text": "Cache warmed"},
        private_metadata=str(incident.pk),
    )
    response = interact(client, submitted)
    assert incident.timeline.filter(kind="note", text="Cache warmed", source="slack").exists() is allowed
    if not allowed:
        assert "nothing was changed" in response.json()["errors"]["text"]


def test_order_rules_are_a_private_answer_and_change_nothing(client, people, fake_slack):
    incident = _incident(resolved_at=timezone.now() - dt.timedelta(minutes=40))
    incident.acknowledged_at = None
    incident.save()
    entries = incident.timeline.count()
    # Acknowledging now, after the resolution, breaks the order.
    _press(client, fake_slack, people["admin"], "opslog_ack", incident)
    incident.refresh_from_db()
    assert incident.acknowledged_at is None and incident.timeline.count() == entries
    assert "already resolved" in fake_slack.responses[-1]["text"]


def test_an_empty_note_is_an_error_on_its_block(client, people, fake_slack):
    incident = _incident()
    submitted = payloads.view_submission(
        user_id=people["admin"], callback_id="opslog_note", values={"text": "   "}, private_metadata=str(incident.pk)
    )
    assert interact(client, submitted).json() == {
        "response_action": "errors",
        "errors": {"text": "A note needs some text."},
    }
