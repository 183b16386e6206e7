"""/incident: the filing dialog, quick filing, and the commands of a channel linked to an incident,
for every role."""

import datetime as dt

import pytest
from django.utils import timezone

from deploys.factories import ServiceFactory
from incidents.models import Incident
from integrations.mattermost import message
from integrations.models import MattermostIncident, MattermostUser
from tests.integrations.mattermost.conftest import command, submit

pytestmark = pytest.mark.django_db

ROLES = [("viewer", False), ("responder", True), ("admin", True), ("unmapped", False)]
LINKED = "incidentchannel00000000000"


def _answer(response, fake) -> str:
    """What the person read: the request's own answer, else the last one through response_url."""
    text = response.json().get("text", "")
    return text or fake.responses[-1]["text"]


def test_incident_without_text_opens_the_dialog_with_severities_and_active_services(client, people, fake_mm):
    ServiceFactory(slug="checkout")
    gone = ServiceFactory(slug="old-thing")
    gone.archived_at = timezone.now()
    gone.save()
    response = command(client, fake_mm, user_id=people["admin"])
    assert response.status_code == 200 and response.json()["response_type"] == "ephemeral"
    (opened,) = fake_mm.called("POST /actions/dialogs/open")
    assert opened["url"] == "https://opslog.example.com/hooks/mattermost/actions"
    dialog = opened["dialog"]
    assert dialog["callback_id"] == "opslog_file" and opened["trigger_id"]
    severity = next(e for e in dialog["elements"] if e["name"] == "severity")
    assert [o["value"] for o in severity["options"]] == ["1", "2", "3", "4"]
    assert Incident.SEVERITY_DESCRIPTIONS[1][:20] in severity["options"][0]["text"]
    services = next(e for e in dialog["elements"] if e["name"] == "services")
    assert [o["value"] for o in services["options"]] == ["checkout"]
    state = message.verified_state(dialog["state"])
    assert state["user"] == people["admin"]


def test_an_unmapped_person_is_looked_up_by_email_then_the_dialog_opens(client, people, fake_mm):
    command(client, fake_mm, user_id=people["responder"])
    assert len(fake_mm.called("GET /users/{id}")) == 1
    assert len(fake_mm.called("POST /actions/dialogs/open")) == 1
    mapping = MattermostUser.objects.get(mattermost_user_id=people["responder"])
    assert mapping.user.username == "responder-person" and mapping.source == "email"
    command(client, fake_mm, user_id=people["responder"])
    assert len(fake_mm.called("GET /users/{id}")) == 1  # mapped now: no second look-up
    assert len(fake_mm.called("POST /actions/dialogs/open")) == 2


@pytest.mark.parametrize("role", ["viewer", "unmapped"])
def test_someone_who_may_not_file_gets_a_private_answer_and_no_dialog(client, people, fake_mm, role):
    response = command(client, fake_mm, user_id=people[role])
    assert fake_mm.called("POST /actions/dialogs/open") == []
    assert "nothing was changed" in _answer(response, fake_mm)
    assert all(r["response_type"] == "ephemeral" for r in fake_mm.responses)


def _open_dialog(client, fake, people, role="admin") -> str:
    command(client, fake, user_id=people[role])
    return fake.called("POST /actions/dialogs/open")[-1]["dialog"]["state"]


def test_the_dialog_files_the_incident_by_the_mapped_user(client, people, fake_mm):
    ServiceFactory(slug="checkout")
    ServiceFactory(slug="payments")
    state = _open_dialog(client, fake_mm, people)
    response = submit(
        client,
        user_id=people["admin"],
        state=state,
        title="Checkout fails for EU cards",
        severity="2",
        services=["checkout", "payments"],
        summary="EU cards **fail**",
    )
    assert response.status_code == 200 and response.json() == {}
    incident = Incident.objects.get()
    assert (incident.title, incident.severity, incident.source) == ("Checkout fails for EU cards", 2, "mattermost")
    assert sorted(s.slug for s in incident.services.all()) == ["checkout", "payments"]
    assert incident.created_by.username == "admin-person"
    assert "<strong>fail</strong>" in incident.summary_html
    # Submitted again (a resend): filed once.
    submit(client, user_id=people["admin"], state=state, title="Checkout fails for EU cards", severity="2")
    assert Incident.objects.count() == 1


def test_dialog_errors_come_back_per_element_and_nothing_is_filed_until_corrected(client, people, fake_mm):
    state = _open_dialog(client, fake_mm, people)
    response = submit(client, user_id=people["admin"], state=state, title="  ", severity="7", services="nope")
    assert set(response.json()["errors"]) == {"title", "severity", "services"}
    assert Incident.objects.count() == 0
    assert submit(client, user_id=people["admin"], state=state, title="Checkout down", severity="1").json() == {}
    assert Incident.objects.get().severity == 1


@pytest.mark.parametrize("role,allowed", [("viewer", False), ("admin", True)])
def test_a_mapped_person_s_role_is_checked_again_on_submission(client, people, fake_mm, role, allowed, server):
    # A dialog state for this person (one could have been demoted since it opened).
    state = message.signed_state(user=people[role], channel="c", nonce=f"n-{role}", server=server.pk)
    response = submit(client, user_id=people[role], state=state, title="Checkout down", severity="2")
    assert Incident.objects.exists() is allowed
    if not allowed:
        assert "nothing was changed" in response.json()["error"]


@pytest.mark.parametrize("role,allowed", ROLES)
def test_every_role_filing_with_text(client, people, fake_mm, role, allowed):
    response = command(client, fake_mm, user_id=people[role], text="sev2 Checkout down for EU")
    assert Incident.objects.exists() is allowed
    answer = _answer(response, fake_mm)
    if allowed:
        incident = Incident.objects.get()
        assert (incident.title, incident.severity) == ("Checkout down for EU", 2)
        assert incident.created_by.username == f"{role}-person"
        assert f"Filed incident #{incident.pk}" in answer
    else:
        assert "nothing was changed" in answer and "Ask an Opslog admin" in answer


def _linked_incident(server, **fields) -> Incident:
    now = timezone.now()
    fields.setdefault("started_at", now - dt.timedelta(minutes=30))
    fields.setdefault("detected_at", fields["started_at"])
    incident = Incident.objects.create(title="Checkout down", **fields)
    MattermostIncident.objects.create(server=server, incident=incident, linked_channel_id=LINKED)
    return incident


COMMANDS = [
    ("ack", lambda i: i.acknowledged_at is not None),
    ("mitigated", lambda i: i.mitigated_at is not None),
    ("resolved", lambda i: i.resolved_at is not None),
    ("severity 1", lambda i: i.severity == 1),
    ("note the cache is cold", lambda i: i.timeline.filter(kind="note", text="the cache is cold").exists()),
    ("lead @erin", lambda i: i.commander == "erin"),
    ("comms @frank", lambda i: i.comms_lead == "frank"),
    ("scribe @grace", lambda i: i.scribe == "grace"),
]


@pytest.mark.parametrize("text,check", COMMANDS)
@pytest.mark.parametrize("role,allowed", ROLES)
def test_every_role_on_every_channel_command(client, people, fake_mm, server, text, check, role, allowed):
    incident = _linked_incident(server)
    response = command(client, fake_mm, user_id=people[role], text=text, channel_id=LINKED)
    incident.refresh_from_db()
    assert check(incident) is allowed
    answer = _answer(response, fake_mm)
    assert fake_mm.responses[-1]["response_type"] == "ephemeral"
    if allowed:
        assert f"#{incident.pk}" in answer
        assert incident.timeline.order_by("-pk").first().author.username == f"{role}-person"
    else:
        assert "nothing was changed" in answer and incident.timeline.count() == 0


@pytest.mark.parametrize("role,allowed", ROLES)
def test_every_role_linking_a_channel(client, people, fake_mm, server, role, allowed):
    incident = Incident.objects.create(title="Checkout down", started_at=timezone.now())
    response = command(client, fake_mm, user_id=people[role], text=f"here #{incident.pk}", channel_id=LINKED)
    linked = MattermostIncident.objects.filter(server=server, incident=incident, linked_channel_id=LINKED).exists()
    assert linked is allowed
    assert ("now linked to incident" in _answer(response, fake_mm)) is allowed


def test_a_channel_is_linked_to_one_incident_at_a_time(client, people, fake_mm, server):
    first = _linked_incident(server)
    second = Incident.objects.create(title="Search slow", started_at=timezone.now())
    command(client, fake_mm, user_id=people["admin"], text=f"here {second.pk}", channel_id=LINKED)
    command(client, fake_mm, user_id=people["admin"], text="ack", channel_id=LINKED)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.acknowledged_at is None and second.acknowledged_at is not None


@pytest.mark.parametrize("role", ["viewer", "responder", "admin"])
def test_status_answers_any_known_person(client, people, fake_mm, server, role):
    incident = _linked_incident(server, commander="Erin")
    command(client, fake_mm, user_id=people[role], text="status", channel_id=LINKED)
    answer = fake_mm.responses[-1]["text"]
    assert f"Incident #{incident.pk}" in answer and "Open" in answer and "Lead: Erin" in answer


def test_a_command_outside_a_linked_channel_says_how_to_link_it(client, people, fake_mm, server):
    _linked_incident(server)
    command(client, fake_mm, user_id=people["admin"], text="ack", channel_id="elsewhere00000000000000000")
    assert "here #42" in fake_mm.responses[-1]["text"]
    assert not Incident.objects.filter(acknowledged_at__isnull=False).exists()


def test_bad_times_severities_names_and_order_are_private_answers(client, people, fake_mm, server):
    now = timezone.now()
    incident = _linked_incident(server, started_at=now - dt.timedelta(hours=2))
    for text, expected in [
        ("ack yesterday-ish", "isn't a time"),
        ("severity 9", "1 to 4"),
        ("lead", "Name the new incident lead"),
        ("here #999999", "Name an existing incident"),
        ("sev2", "Give a title"),
    ]:
        command(client, fake_mm, user_id=people["responder"], text=text, channel_id=LINKED)
        assert expected in fake_mm.responses[-1]["text"], text
    incident.resolved_at = now - dt.timedelta(minutes=1)
    incident.save()
    command(
        client, fake_mm, user_id=people["responder"], text=f"ack {timezone.localtime(now):%H:%M}", channel_id=LINKED
    )
    assert "already resolved" in fake_mm.responses[-1]["text"]
    incident.refresh_from_db()
    assert incident.acknowledged_at is None and incident.severity == 3 and incident.commander == ""


def test_a_stamp_with_a_time(client, people, fake_mm, server):
    now = timezone.now().replace(second=0, microsecond=0)
    incident = _linked_incident(server, started_at=now - dt.timedelta(hours=3))
    at = now - dt.timedelta(minutes=20)
    command(client, fake_mm, user_id=people["responder"], text=f"mitigated {at.isoformat()}", channel_id=LINKED)
    incident.refresh_from_db()
    assert incident.mitigated_at == at
    assert incident.timeline.get(text__startswith="Mitigated").author.username == "responder-person"


def test_an_answer_goes_only_to_the_server_s_own_response_url(client, people, fake_mm):
    command(client, fake_mm, user_id=people["admin"], text="sev2 db down", response_url="http://evil.example/x")
    assert Incident.objects.count() == 1 and fake_mm.responses == []
