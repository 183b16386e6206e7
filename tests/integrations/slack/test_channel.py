"""The incident's channel: commands, pins, and who may use them."""

import datetime as dt

import pytest
from django.utils import timezone

from incidents.models import Incident, TimelineEntry
from integrations.models import SlackIncident, SlackPin, SlackWorkspace
from tests.integrations.slack.conftest import event
from tests.support.payloads import slack as payloads

pytestmark = pytest.mark.django_db

CHANNEL = "C0INCIDENT"


def incident_with_channel(people, **fields) -> tuple[Incident, str]:
    fields.setdefault("started_at", timezone.now() - dt.timedelta(minutes=30))
    fields.setdefault("detected_at", fields["started_at"])
    incident = Incident.objects.create(title="Checkout down", **fields)
    SlackIncident.objects.create(
        workspace=SlackWorkspace.objects.get(),
        incident=incident,
        channel="C0ANNOUNCE",
        ts="1.1",
        incident_channel=CHANNEL,
    )
    return incident, CHANNEL


def say(client, people, role: str, text: str, ts: str = "1700000000.000300"):
    return event(client, payloads.message(channel=CHANNEL, user=people[role], text=text, ts=ts))


@pytest.mark.parametrize(
    "text,check",
    [
        ("ack", lambda i: i.acknowledged_at is not None),
        ("mitigated", lambda i: i.mitigated_at is not None),
        ("resolved", lambda i: i.resolved_at is not None),
        ("severity 1", lambda i: i.severity == 1),
        (
            "note the cache is cold",
            lambda i: i.timeline.filter(kind="note", text="the cache is cold", source="slack").exists(),
        ),
    ],
)
@pytest.mark.parametrize("role,allowed", [("viewer", False), ("responder", True), ("admin", True), ("unmapped", False)])
def test_every_role_on_every_channel_command(client, people, fake_slack, text, check, role, allowed):
    incident, _ = incident_with_channel(people)
    say(client, people, role, text)
    incident.refresh_from_db()
    assert check(incident) is allowed
    if allowed:
        assert fake_slack.called("chat.postMessage")[-1]["thread_ts"] == "1700000000.000300"
        assert fake_slack.called("chat.postEphemeral") == []
    else:
        private = fake_slack.called("chat.postEphemeral")
        assert len(private) == 1 and private[0]["user"] == people[role]
        assert "nothing was changed" in private[0]["text"]
        assert ("Ask an Opslog admin" in private[0]["text"]) and incident.timeline.count() == 0


def test_a_stamp_with_a_time_in_the_reporting_zone_or_iso(client, people, fake_slack, settings):
    settings.TIME_ZONE = "America/New_York"
    now = timezone.now().replace(second=0, microsecond=0)
    incident, _ = incident_with_channel(people, started_at=now - dt.timedelta(hours=3))
    ack_at = now - dt.timedelta(minutes=20)
    if timezone.localtime(ack_at).date() != timezone.localtime(now).date():
        # "14:05" means today: just after midnight, take midnight.
        ack_at = timezone.localtime(now).replace(hour=0, minute=0)
    hhmm = timezone.localtime(ack_at).strftime("%H:%M")
    say(client, people, "responder", f"ack {hhmm}")
    mitigated_at = max(now - dt.timedelta(minutes=10), ack_at)
    say(client, people, "responder", f"mitigated {mitigated_at.isoformat()}", ts="1700000000.000400")
    incident.refresh_from_db()
    assert incident.acknowledged_at == ack_at
    assert incident.mitigated_at == mitigated_at
    assert set(incident.timeline.values_list("source", flat=True)) == {"slack"}
    assert incident.timeline.get(text__startswith="Acknowledged").author.username == "responder-person"


def test_order_rules_come_back_privately(client, people, fake_slack):
    now = timezone.now()
    incident, _ = incident_with_channel(people, started_at=now - dt.timedelta(hours=2))
    incident.resolved_at = now - dt.timedelta(minutes=1)
    incident.save()
    hhmm = timezone.localtime(now).strftime("%H:%M")
    say(client, people, "responder", f"ack {hhmm}")
    incident.refresh_from_db()
    assert incident.acknowledged_at is None
    assert "already resolved" in fake_slack.called("chat.postEphemeral")[-1]["text"]


def test_a_bad_time_or_severity_is_a_private_answer(client, people, fake_slack):
    incident, _ = incident_with_channel(people)
    say(client, people, "responder", "ack yesterday-ish")
    say(client, people, "responder", "severity 9", ts="1700000000.000500")
    texts = [c["text"] for c in fake_slack.called("chat.postEphemeral")]
    assert "isn't a time" in texts[0] and "1 to 4" in texts[1]
    incident.refresh_from_db()
    assert incident.acknowledged_at is None and incident.severity == 3


@pytest.mark.parametrize("role", ["viewer", "responder", "admin"])
def test_status_answers_any_mapped_person(client, people, fake_slack, role):
    incident, _ = incident_with_channel(people)
    say(client, people, role, "status")
    answer = fake_slack.called("chat.postMessage")[-1]["text"]
    assert f"Incident #{incident.pk}" in answer and "Open" in answer


def test_chatter_and_bots_are_not_commands(client, people, fake_slack):
    incident, _ = incident_with_channel(people)
    say(client, people, "responder", "anyone seeing 500s?")
    event(client, {**payloads.message(channel=CHANNEL, user="UBOT", text="ack", ts="2.2"), "bot_id": "B1"})
    event(client, payloads.message(channel="C0ELSEWHERE", user=people["responder"], text="ack", ts="3.3"))
    incident.refresh_from_db()
    assert incident.acknowledged_at is None and fake_slack.calls == []


def _pin(client, people, role: str, kind: str, ts: str, author: str):
    return event(client, payloads.reaction(kind, user=people[role], item_user=author, channel=CHANNEL, ts=ts))


def test_a_pinned_message_becomes_a_note_with_its_author_and_time_and_unpinning_removes_it(client, people, fake_slack):
    incident, _ = incident_with_channel(people)
    ts = f"{(timezone.now() - dt.timedelta(minutes=5)).timestamp():.6f}"
    fake_slack.add_message(CHANNEL, ts, user=people["responder"], text="Rolled back *web* to v41")
    _pin(client, people, "admin", "reaction_added", ts, people["responder"])
    entry = incident.timeline.get(kind="note")
    assert entry.text == "Rolled back *web* to v41"
    assert entry.author.username == "responder-person"
    assert abs((entry.at - dt.datetime.fromtimestamp(float(ts), tz=dt.UTC)).total_seconds()) < 0.001
    _pin(client, people, "admin", "reaction_removed", ts, people["responder"])
    assert not TimelineEntry.objects.filter(pk=entry.pk).exists()
    assert SlackPin.objects.count() == 0


def test_a_message_by_someone_unknown_is_pinned_under_their_slack_name(client, people, fake_slack):
    incident, _ = incident_with_channel(people)
    fake_slack.add_message(CHANNEL, "1700000000.000100", user="UNOBODY", text="EU cards failing again")
    _pin(client, people, "responder", "reaction_added", "1700000000.000100", "UNOBODY")
    entry = incident.timeline.get(kind="note")
    assert entry.author is None and entry.text == "Stranger (in Slack): EU cards failing again"


@pytest.mark.parametrize("role", ["viewer", "unmapped"])
def test_only_responders_pin(client, people, fake_slack, role):
    incident, _ = incident_with_channel(people)
    fake_slack.add_message(CHANNEL, "1700000000.000100", user=people["admin"], text="hello")
    _pin(client, people, role, "reaction_added", "1700000000.000100", people["admin"])
    assert incident.timeline.count() == 0
    assert fake_slack.called("chat.postEphemeral")[0]["user"] == people[role]


def test_another_reaction_is_ignored(client, people, fake_slack):
    incident, _ = incident_with_channel(people)
    event(
        client,
        payloads.reaction(
            "reaction_added",
            user=people["admin"],
            item_user=people["admin"],
            channel=CHANNEL,
            ts="1.1",
            reaction="eyes",
        ),
    )
    assert incident.timeline.count() == 0 and fake_slack.calls == []
