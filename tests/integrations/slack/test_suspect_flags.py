"""Suspect deploys flagged in Slack: a production deploy an open incident's page lists among its
suspects is posted, once, where the incident is worked (its channel, else its announcement's
thread), with a "Link as cause" button — whichever was recorded first, the deploy or the incident."""

import datetime as dt
import logging

import pytest
from django.test import TestCase
from django.utils import timezone

from deploys import outbox
from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import Deploy, OutboxMessage
from deploys.notifications import chat_text
from deploys.services import DeployInput, deploy_record
from deploys.tasks import send_outbox_message
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.models import Incident, IncidentDeploy
from incidents.selectors import incidents_suspecting, suspect_deploys
from incidents.services import IncidentInput, incident_create, incident_stamp, incident_update
from integrations.models import SlackDeployPost, SlackIncident
from integrations.slack.deploys import MAX_FLAGS_PER_INCIDENT
from tests.integrations.slack.conftest import interact
from tests.support.payloads import slack as payloads

pytestmark = pytest.mark.django_db


@pytest.fixture
def checkout(db):
    return ServiceFactory(slug="checkout")


def file(services, *, started_ago=dt.timedelta(minutes=30), **fields) -> Incident:
    """An incident filed live (so detected now), announced in the workspace's channel."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident, _ = incident_create(
            data=IncidentInput(
                title="Checkout down", started_at=timezone.now() - started_ago, services=services, **fields
            )
        )
    return incident


def record(*, deployed_at: dt.datetime, service="checkout", environment="production", **fields) -> Deploy:
    data = DeployInput(
        service=service,
        environment=environment,
        version=fields.pop("version", "36790"),
        deployer=fields.pop("deployer", "ekastner"),
        deployed_at=deployed_at,
        **fields,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        deploy, _ = deploy_record(data=data)
    return deploy


def flags(fake_slack) -> list[dict]:
    return [call for call in fake_slack.called("chat.postMessage") if "opslog_link_cause" in str(call.get("blocks"))]


def button(flag: dict) -> dict:
    actions = next(block for block in flag["blocks"] if block["type"] == "actions")
    return next(e for e in actions["elements"] if e["action_id"] == "opslog_link_cause")


def test_a_deploy_reported_into_an_open_incidents_window_is_flagged_in_the_announcements_thread(
    workspace, fake_slack, checkout
):
    incident = file([checkout])
    announcement = SlackIncident.objects.get(incident=incident)
    # CI reported it late: it went live 10 minutes before the impact began.
    deploy = record(deployed_at=incident.started_at - dt.timedelta(minutes=10), deployer="<!here>")

    (flag,) = flags(fake_slack)
    assert (flag["channel"], flag["thread_ts"]) == ("C0ANNOUNCE", announcement.ts)
    assert flag["text"] == f"Suspect deploy for incident #{incident.pk}: {chat_text(deploy)}"
    assert "&lt;!here&gt;" in flag["text"] and "<!here>" not in str(flag["blocks"])
    assert "10 minutes before the impact began" in flag["blocks"][0]["text"]["text"]
    assert button(flag)["value"] == f"{incident.pk}:{deploy.pk}"
    post = SlackDeployPost.objects.get(kind="suspect")
    assert (post.deploy, post.incident, post.workspace, post.channel) == (deploy, incident, workspace, "C0ANNOUNCE")
    assert OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:slack-suspect").status == "sent"


def test_it_goes_to_the_incidents_own_channel_when_it_has_one(workspace, fake_slack, checkout):
    workspace.channel_per_incident = True
    workspace.save()
    incident = file([checkout])
    own_channel = SlackIncident.objects.get(incident=incident).incident_channel

    record(deployed_at=incident.started_at - dt.timedelta(minutes=10))

    (flag,) = flags(fake_slack)
    assert flag["channel"] == own_channel and not flag.get("thread_ts")


def test_an_incident_filed_after_the_deploy_flags_it_after_its_announcement(workspace, fake_slack, checkout):
    deploy = record(deployed_at=timezone.now() - dt.timedelta(minutes=40))
    assert not OutboxMessage.objects.filter(key=f"deploy:{deploy.pk}:slack-suspect").exists()  # no incident yet

    incident = file([checkout])

    announcement, flag = fake_slack.called("chat.postMessage")
    assert "opslog_suspect" in str(announcement["blocks"])  # the select lists it too
    assert flag["thread_ts"] == SlackIncident.objects.get(incident=incident).ts
    assert button(flag)["value"] == f"{incident.pk}:{deploy.pk}"


def test_a_deploy_becoming_a_suspect_as_the_incident_changes_is_flagged_then(workspace, fake_slack, checkout):
    search = ServiceFactory(slug="search")
    deploy = record(service="search", deployed_at=timezone.now() - dt.timedelta(minutes=40))
    incident = file([checkout])
    assert flags(fake_slack) == []

    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_update(incident=incident, changes={"services": [checkout, search]})

    (flag,) = flags(fake_slack)
    assert button(flag)["value"] == f"{incident.pk}:{deploy.pk}"


def test_each_deploy_is_flagged_once_per_incident_whatever_runs_again(workspace, fake_slack, checkout):
    incident = file([checkout])
    deploy = record(deployed_at=incident.started_at - dt.timedelta(minutes=10))
    message = OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:slack-suspect")

    send_outbox_message(message.pk)  # a redelivered task
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident_stamp(incident=incident, stage="acknowledged")  # the announcement is updated
        incident_update(incident=incident, changes={"severity": 1})

    assert len(flags(fake_slack)) == 1
    assert len(fake_slack.called("chat.update")) >= 1
    assert SlackDeployPost.objects.filter(kind="suspect").count() == 1


def test_the_window_ends_at_detection_so_a_deploy_after_it_is_not_flagged(workspace, fake_slack, checkout):
    """The documented limitation: an incident filed live is detected when filed, and a deploy that
    goes live afterwards is not among its suspects (on the page either), so it isn't flagged."""
    incident = file([checkout])

    deploy = record(deployed_at=timezone.now())

    assert flags(fake_slack) == []
    assert not suspect_deploys(incident).filter(pk=deploy.pk).exists()
    assert OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:slack-suspect").status == "sent"  # nothing to do


def test_an_incident_not_detected_yet_takes_deploys_up_to_now(workspace, fake_slack, checkout):
    incident = IncidentFactory(started_at=timezone.now() - dt.timedelta(minutes=30), detected_at=None)
    incident.services.add(checkout)
    SlackIncident.objects.create(workspace=workspace, incident=incident, channel="C0ANNOUNCE", ts="1700000000.000100")

    deploy = record(deployed_at=timezone.now())

    (flag,) = flags(fake_slack)
    assert button(flag)["value"] == f"{incident.pk}:{deploy.pk}"


@pytest.mark.parametrize("case", ["resolved", "archived", "other service", "staging", "linked already", "too early"])
def test_what_is_not_a_suspect_of_an_open_incident_is_not_flagged(workspace, fake_slack, checkout, case):
    incident = file([checkout])
    before = incident.started_at - dt.timedelta(minutes=10)
    if case == "resolved":
        with TestCase.captureOnCommitCallbacks(execute=True):
            incident_stamp(incident=incident, stage="resolved")
    if case == "archived":
        Incident.objects.filter(pk=incident.pk).update(archived_at=timezone.now())
    if case == "linked already":
        # Linked between its recording and its outbox message's sending.
        deploy, _ = deploy_record(
            data=DeployInput(
                service="checkout", environment="production", version="7", deployer="sam", deployed_at=before
            )
        )
        IncidentDeployFactory(incident=incident, deploy=deploy)
        send_outbox_message(OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:slack-suspect").pk)
    else:
        fields = {
            "other service": {"service": "search"},
            "staging": {"environment": "staging"},
            "too early": {"deployed_at": incident.started_at - dt.timedelta(hours=5)},
        }.get(case, {})
        record(**{"deployed_at": before, **fields})

    assert flags(fake_slack) == []
    assert not SlackDeployPost.objects.filter(kind="suspect").exists()


def test_an_incident_without_announcement_or_channel_gets_no_flag(workspace, fake_slack, checkout):
    workspace.announce_channel = ""
    workspace.save()
    incident = file([checkout])

    record(deployed_at=incident.started_at - dt.timedelta(minutes=10))

    assert fake_slack.calls == []


def test_a_failed_flag_is_logged_and_retried_once_the_deploy_standing(workspace, fake_slack, checkout, caplog):
    incident = file([checkout])
    fake_slack.fail("chat.postMessage", "channel_not_found")

    with caplog.at_level(logging.ERROR):
        deploy = record(deployed_at=incident.started_at - dt.timedelta(minutes=10))

    assert Deploy.objects.filter(pk=deploy.pk).exists()
    assert f"incident {incident.pk} in T0001 failed: channel_not_found" in caplog.text
    message = OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:slack-suspect")
    assert message.status == "pending" and "channel_not_found" in message.last_error
    assert not SlackDeployPost.objects.exists()

    (message_id,) = outbox.send_again(message_ids=[message.pk])
    send_outbox_message(message_id)
    send_outbox_message(message_id)  # redelivered once sent: nothing more

    assert len(flags(fake_slack)) == 2  # the failed try, then the one that posted
    assert SlackDeployPost.objects.filter(kind="suspect", deploy=deploy, incident=incident).count() == 1


def test_a_retry_flags_only_the_incidents_that_failed(workspace, fake_slack, checkout):
    first = file([checkout], started_ago=dt.timedelta(minutes=30))
    second = file([checkout], started_ago=dt.timedelta(minutes=20))
    fake_slack.fail("chat.postMessage", "message_limit_exceeded")  # the first incident's flag

    deploy = record(deployed_at=first.started_at - dt.timedelta(minutes=10))
    (message_id,) = outbox.send_again(
        message_ids=[OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:slack-suspect").pk]
    )
    send_outbox_message(message_id)

    thread = {incident.pk: SlackIncident.objects.get(incident=incident).ts for incident in (first, second)}
    assert [flag["thread_ts"] for flag in flags(fake_slack)] == [thread[first.pk], thread[second.pk], thread[first.pk]]
    assert sorted(SlackDeployPost.objects.values_list("incident", flat=True)) == [first.pk, second.pk]


def test_ratelimited_flags_are_waited_out(workspace, fake_slack, checkout):
    incident = file([checkout])
    fake_slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=0)

    record(deployed_at=incident.started_at - dt.timedelta(minutes=10))

    assert SlackDeployPost.objects.filter(kind="suspect").count() == 1


def test_a_busy_service_gets_at_most_ten_flags_per_incident(workspace, fake_slack, checkout):
    production = EnvironmentFactory(slug="production")
    start = timezone.now() - dt.timedelta(minutes=30)
    for minutes in range(MAX_FLAGS_PER_INCIDENT + 3):
        DeployFactory(service=checkout, environment=production, deployed_at=start - dt.timedelta(minutes=minutes))

    file([checkout])

    posted = flags(fake_slack)
    assert len(posted) == MAX_FLAGS_PER_INCIDENT
    # The page's order: newest first, the closest to the impact kept.
    newest = list(Deploy.objects.order_by("-deployed_at").values_list("pk", flat=True)[:MAX_FLAGS_PER_INCIDENT])
    assert [int(button(flag)["value"].split(":")[1]) for flag in posted] == newest


def test_incidents_suspecting_agrees_with_the_page(db, checkout):
    now = timezone.now()
    open_one = IncidentFactory(started_at=now - dt.timedelta(hours=1), detected_at=now - dt.timedelta(minutes=30))
    open_one.services.add(checkout)
    resolved = IncidentFactory(
        started_at=now - dt.timedelta(hours=1),
        detected_at=now - dt.timedelta(minutes=30),
        acknowledged_at=now - dt.timedelta(minutes=20),
        resolved_at=now - dt.timedelta(minutes=10),
    )
    resolved.services.add(checkout)
    inside = DeployFactory(service=checkout, deployed_at=now - dt.timedelta(minutes=70))
    after_detection = DeployFactory(service=checkout, deployed_at=now - dt.timedelta(minutes=20))

    assert incidents_suspecting(inside) == [open_one]
    assert incidents_suspecting(after_detection) == []
    assert list(suspect_deploys(open_one)) == [inside]


# --- The "Link as cause" button ------------------------------------------------------------------


def press(client, fake_slack, slack_id: str, value: str, incident_id: int):
    return interact(
        client,
        payloads.block_actions(
            user_id=slack_id,
            action_id="opslog_link_cause",
            value=value,
            block_id=f"incident-{incident_id}",
            response_url=fake_slack.response_url(),
        ),
    )


@pytest.mark.parametrize("role,allowed", [("viewer", False), ("responder", True), ("admin", True), ("unmapped", False)])
def test_every_role_pressing_link_as_cause(client, people, fake_slack, checkout, role, allowed):
    incident = file([checkout])
    deploy = record(deployed_at=incident.started_at - dt.timedelta(minutes=10))
    value = button(flags(fake_slack)[0])["value"]

    press(client, fake_slack, people[role], value, incident.pk)

    linked = IncidentDeploy.objects.filter(incident=incident, deploy=deploy, relation="cause")
    assert linked.exists() is allowed
    (answer,) = fake_slack.responses
    assert answer["response_type"] == "ephemeral"
    assert ("nothing was changed" in answer["text"]) is not allowed
    if allowed:
        assert f"Linked deploy #{deploy.pk} (checkout 36790) to incident #{incident.pk} as a cause." == answer["text"]
        entry = incident.timeline.get(kind="deploy_linked")
        assert entry.author.username == f"{role}-person"
        # The flag shows who linked it instead of the button.
        post = SlackDeployPost.objects.get(kind="suspect")
        (update,) = [call for call in fake_slack.called("chat.update") if call["ts"] == post.ts]
        assert update["channel"] == post.channel
        assert "opslog_link_cause" not in str(update["blocks"])
        assert f"Linked as a cause by {role}-person." in str(update["blocks"])
    else:
        assert not [call for call in fake_slack.called("chat.update") if "Linked as a cause" in str(call)]


def test_pressed_twice_links_once(client, people, fake_slack, checkout):
    incident = file([checkout])
    deploy = record(deployed_at=incident.started_at - dt.timedelta(minutes=10))
    value = button(flags(fake_slack)[0])["value"]

    press(client, fake_slack, people["admin"], value, incident.pk)
    press(client, fake_slack, people["admin"], value, incident.pk)

    assert IncidentDeploy.objects.filter(incident=incident, deploy=deploy).count() == 1
    assert incident.timeline.filter(kind="deploy_linked").count() == 1
    assert fake_slack.responses[-1]["text"].endswith("as a cause (it was already).")


def test_a_deploy_deleted_since_is_a_private_answer(client, people, fake_slack, checkout):
    incident = file([checkout])
    deploy = record(deployed_at=incident.started_at - dt.timedelta(minutes=10))
    value = button(flags(fake_slack)[0])["value"]
    Deploy.objects.filter(pk=deploy.pk).delete()

    press(client, fake_slack, people["admin"], value, incident.pk)

    assert fake_slack.responses[-1]["text"] == "Nothing changed: That deploy no longer exists."
    assert not IncidentDeploy.objects.exists()


def test_a_failed_update_of_the_flag_is_logged_and_the_link_stands(client, people, fake_slack, checkout, caplog):
    incident = file([checkout])
    deploy = record(deployed_at=incident.started_at - dt.timedelta(minutes=10))
    value = button(flags(fake_slack)[0])["value"]
    fake_slack.fail("chat.update", "message_not_found")

    with caplog.at_level(logging.ERROR):
        press(client, fake_slack, people["admin"], value, incident.pk)

    assert IncidentDeploy.objects.filter(incident=incident, deploy=deploy, relation="cause").exists()
    assert "message_not_found" in caplog.text
    assert fake_slack.responses[-1]["text"].startswith(f"Linked deploy #{deploy.pk}")
