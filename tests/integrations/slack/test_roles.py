"""`lead`, `comms` and `scribe` in the incident's channel: who may, whom a mention names, clearing
and taking a role, the announcement and `status` showing the three holders."""

import pytest
from django.contrib.auth import get_user_model

from incidents.models import Incident
from integrations.factories import SlackUserFactory
from integrations.models import SlackUser, SlackWorkspace
from tests.integrations.slack.test_channel import CHANNEL, incident_with_channel, say

pytestmark = pytest.mark.django_db

FIELDS = {"lead": "commander", "comms": "comms_lead", "scribe": "scribe"}
LABELS = {"lead": "Incident lead", "comms": "Communications lead", "scribe": "Scribe"}


@pytest.mark.parametrize("command", ["lead", "comms", "scribe"])
@pytest.mark.parametrize("role,allowed", [("viewer", False), ("responder", True), ("admin", True), ("unmapped", False)])
def test_every_person_on_every_role_command(client, people, fake_slack, command, role, allowed):
    incident, _ = incident_with_channel(people)
    say(client, people, role, f"{command} <@{people['admin']}>")
    incident.refresh_from_db()
    assert getattr(incident, FIELDS[command]) == ("admin-person" if allowed else "")
    if allowed:
        entry = incident.timeline.get(kind="handover")
        assert entry.text == f"{LABELS[command]} taken by admin-person."
        assert entry.author.username == f"{role}-person" and entry.source == "slack"
        assert entry.changes == {FIELDS[command]: {"old": "", "new": "admin-person"}}
        answer = fake_slack.called("chat.postMessage")[-1]
        assert answer["channel"] == CHANNEL and answer["thread_ts"] == "1700000000.000300"
        assert answer["text"] == f"Incident #{incident.pk}: {LABELS[command]} taken by admin-person."
        assert fake_slack.called("chat.postEphemeral") == []
    else:
        (private,) = fake_slack.called("chat.postEphemeral")
        assert private["user"] == people[role] and "nothing was changed" in private["text"]
        assert incident.timeline.count() == 0


def test_a_mention_maps_by_e_mail_and_is_remembered(client, people, fake_slack):
    incident, _ = incident_with_channel(people, commander="ana")
    say(client, people, "admin", f"lead <@{people['responder']}>")
    incident.refresh_from_db()
    assert incident.commander == "responder-person"
    assert incident.timeline.get(kind="handover").text == "Incident lead handed over from ana to responder-person."
    mapping = SlackUser.objects.get(slack_user_id=people["responder"])
    assert mapping.user.username == "responder-person" and mapping.source == SlackUser.Source.EMAIL


def test_the_admins_mapping_comes_before_the_e_mail(client, people, fake_slack, django_user_model):
    # Slack says this person's e-mail is the responder's; the admin mapped them to "dana" instead.
    dana = django_user_model.objects.create_user(username="dana", email="dana@example.com")
    fake_slack.add_user("UDANA", email="responder@example.com", name="Dana")
    SlackUserFactory(workspace=SlackWorkspace.objects.get(), slack_user_id="UDANA", user=dana)
    incident, _ = incident_with_channel(people)
    say(client, people, "admin", "comms <@UDANA>")
    incident.refresh_from_db()
    assert incident.comms_lead == "dana"
    assert [c["user"] for c in fake_slack.called("users.info")] == []


def test_someone_without_an_opslog_account_holds_it_under_their_slack_name(client, people, fake_slack):
    incident, _ = incident_with_channel(people)
    say(client, people, "responder", f"scribe <@{people['unmapped']}|stranger>")
    incident.refresh_from_db()
    assert incident.scribe == "Stranger"  # users.info's display name, not the mention's old name
    assert not SlackUser.objects.filter(slack_user_id=people["unmapped"]).exists()


def test_a_mapping_to_a_deactivated_account_holds_it_under_the_slack_name(client, people, fake_slack):
    admin = get_user_model().objects.get(username="admin-person")
    admin.is_active = False
    admin.save()
    incident, _ = incident_with_channel(people)
    say(client, people, "responder", f"lead <@{people['admin']}>")
    incident.refresh_from_db()
    assert incident.commander == "admin person"


def test_when_slack_cant_say_who_it_is_the_mentions_name_is_used_or_nothing_changes(client, people, fake_slack):
    incident, _ = incident_with_channel(people)
    say(client, people, "responder", "lead <@UGONE123>")
    incident.refresh_from_db()
    assert incident.commander == "" and incident.timeline.count() == 0
    (private,) = fake_slack.called("chat.postEphemeral")
    assert "Slack couldn't say who <@UGONE123> is" in private["text"] and private["user"] == people["responder"]
    say(client, people, "responder", "lead <@UGONE123|Old &amp; Gone>", ts="1700000000.000400")
    incident.refresh_from_db()
    assert incident.commander == "Old & Gone"


def test_alone_the_sender_takes_it_and_a_dash_or_none_leaves_it_to_nobody(client, people, fake_slack):
    incident, _ = incident_with_channel(people, comms_lead="ana")
    say(client, people, "responder", "lead")
    say(client, people, "admin", "comms -", ts="1700000000.000400")
    say(client, people, "admin", "lead NONE", ts="1700000000.000500")
    incident.refresh_from_db()
    assert (incident.commander, incident.comms_lead) == ("", "")
    assert list(incident.timeline.order_by("id").values_list("text", "author__username")) == [
        ("Incident lead taken by responder-person.", "responder-person"),
        ("Communications lead left (was ana).", "admin-person"),
        ("Incident lead left (was responder-person).", "admin-person"),
    ]


def test_the_same_holder_again_changes_nothing(client, people, fake_slack):
    incident, _ = incident_with_channel(people, scribe="admin-person")
    say(client, people, "admin", "scribe")
    assert incident.timeline.count() == 0
    assert "already admin-person; nothing changed" in fake_slack.called("chat.postMessage")[-1]["text"]


@pytest.mark.parametrize(
    "text",
    [
        "lead ana",
        "lead <@U1> <@U2>",
        "lead <!subteam^S123|@payments>",
        "lead <#C123|general>",
        "scribe <@admin>",
    ],
)
def test_anything_but_a_mention_a_dash_or_nothing_is_a_private_usage_answer(client, people, fake_slack, text):
    incident, _ = incident_with_channel(people)
    say(client, people, "admin", text)
    incident.refresh_from_db()
    assert incident.roles == {"lead": "", "comms": "", "scribe": ""} and incident.timeline.count() == 0
    (private,) = fake_slack.called("chat.postEphemeral")
    assert "Nothing changed" in private["text"] and "@-mention" in private["text"]
    assert fake_slack.called("users.info") == []


def test_a_role_change_updates_the_announcement(client, people, fake_slack):
    incident, _ = incident_with_channel(people)
    say(client, people, "admin", f"comms <@{people['admin']}>")
    (update,) = fake_slack.called("chat.update")
    fields = [f["text"] for f in update["blocks"][1]["fields"]]
    assert "*Comms*\nadmin-person" in fields and "*Lead*\n—" in fields


def test_status_names_all_three_holders(client, people, fake_slack):
    incident, _ = incident_with_channel(people, commander="ana", scribe="Sam Ortiz")
    say(client, people, "viewer", "status")
    answer = fake_slack.called("chat.postMessage")[-1]["text"]
    assert "Lead: ana · Comms: nobody yet · Scribe: Sam Ortiz" in answer
    assert Incident.objects.get(pk=incident.pk).timeline.count() == 0
