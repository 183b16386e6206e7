"""Deploy notices through the Slack app: the chat webhook's line in each workspace's deploy channel,
posted once per deploy and workspace whatever is retried, and never at the deploy's expense."""

import datetime as dt
import logging

import pytest
from django.test import TestCase

from deploys import outbox
from deploys.models import Deploy, OutboxMessage
from deploys.services import DeployInput, deploy_record
from deploys.tasks import send_outbox_message
from integrations.factories import SlackWorkspaceFactory
from integrations.models import SlackDeployPost
from tests.support.fake_slack import TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def workspace(db):
    return SlackWorkspaceFactory(deploy_channel="C0DEPLOYS")


def production(**overrides) -> DeployInput:
    values = dict(
        service="web",
        environment="production",
        version="36790",
        previous_version="36789",
        deployer="ekastner",
        duration_seconds=34.9,
        deployed_at=dt.datetime(2010, 5, 18, 22, 20, 50, tzinfo=dt.UTC),
        diff_url="https://git.example.com/acme/web/compare/36789...36790",
    )
    values.update(overrides)
    return DeployInput(**values)


def record(**overrides) -> Deploy:
    with TestCase.captureOnCommitCallbacks(execute=True):
        deploy, _ = deploy_record(data=production(**overrides))
    return deploy


def notice(deploy: Deploy) -> OutboxMessage:
    return OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:slack")


def send_again(message: OutboxMessage) -> None:
    (message_id,) = outbox.send_again(message_ids=[message.pk])
    send_outbox_message(message_id)


def test_a_production_deploy_is_posted_with_the_bot_token_beside_the_webhook(workspace, fake_slack, chat_receiver):
    deploy = record()

    (posted,) = fake_slack.called("chat.postMessage")  # the fake checked the token: the workspace's
    assert posted["channel"] == "C0DEPLOYS"
    assert posted["text"] == (
        "[web] PRODUCTION deployed by ekastner build: 36790 (was 36789) took: 34.9 seconds "
        "diff: https://git.example.com/acme/web/compare/36789...36790"
    )
    assert chat_receiver.received == [{"text": posted["text"]}]  # the webhook's line, word for word
    post = SlackDeployPost.objects.get(deploy=deploy)
    assert (post.workspace, post.kind, post.channel, post.incident) == (workspace, "notice", "C0DEPLOYS", None)
    assert post.ts and notice(deploy).status == "sent"
    assert workspace.bot_token == TOKEN


def test_the_text_is_mention_safe(workspace, fake_slack):
    record(deployer="<!channel> @here", version="1&2", diff_url="https://git.example.com/d?a=1&who=@all")

    text = fake_slack.called("chat.postMessage")[0]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "@here" not in text and "@\u2060here" in text
    assert "build: 1&amp;2" in text
    assert "diff: https://git.example.com/d?a=1&amp;who=%40all" in text


@pytest.mark.parametrize(
    "change",
    [
        {"deploy_channel": ""},
        {"is_active": False},
    ],
    ids=["no deploy channel", "inactive workspace"],
)
def test_no_deploy_channel_no_notice(workspace, fake_slack, chat_receiver, change):
    for name, value in change.items():
        setattr(workspace, name, value)
    workspace.save()

    deploy = record()

    assert fake_slack.calls == []
    assert not OutboxMessage.objects.filter(key=f"deploy:{deploy.pk}:slack").exists()
    assert len(chat_receiver.received) == 1  # the webhook is unaffected


def test_a_deploy_elsewhere_than_production_is_not_posted(workspace, fake_slack):
    record(environment="staging")
    assert fake_slack.calls == []


def test_each_workspace_with_a_deploy_channel_gets_it(workspace, fake_slack):
    other = SlackWorkspaceFactory(team_id="T0002", name="Acme EU", deploy_channel="C0EUDEPLOYS")
    SlackWorkspaceFactory(team_id="T0003", name="No deploys", deploy_channel="")

    deploy = record()

    assert sorted(call["channel"] for call in fake_slack.called("chat.postMessage")) == ["C0DEPLOYS", "C0EUDEPLOYS"]
    assert set(SlackDeployPost.objects.filter(deploy=deploy).values_list("workspace", flat=True)) == {
        workspace.pk,
        other.pk,
    }


def test_ratelimited_is_waited_out_and_posted_once(workspace, fake_slack):
    fake_slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=0, times=2)

    deploy = record()

    assert len(fake_slack.called("chat.postMessage")) == 3
    assert SlackDeployPost.objects.filter(deploy=deploy).count() == 1
    assert notice(deploy).status == "sent"


def test_still_ratelimited_after_the_retries_is_sent_later_and_only_once(workspace, fake_slack, settings):
    settings.OPSLOG_SLACK_RATE_LIMIT_RETRIES = 1
    fake_slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=0, times=2)

    deploy = record()

    message = notice(deploy)
    assert (message.status, message.attempts) == ("pending", 1)
    assert "ratelimited" in message.last_error
    assert not SlackDeployPost.objects.exists()

    send_again(message)
    send_outbox_message(message.pk)  # a redelivered task, once it is sent: nothing more

    assert len(fake_slack.called("chat.postMessage")) == 3
    assert SlackDeployPost.objects.filter(deploy=deploy).count() == 1
    assert notice(deploy).status == "sent"


def test_a_failing_workspace_is_retried_alone_and_the_others_get_it_once(workspace, fake_slack, caplog):
    SlackWorkspaceFactory(team_id="T0002", name="Acme EU", deploy_channel="C0EUDEPLOYS")
    fake_slack.fail("chat.postMessage", "channel_not_found")  # the first workspace's call

    with caplog.at_level(logging.ERROR):
        deploy = record()

    assert f"Slack deploy notice of deploy {deploy.pk} in T0001 failed: channel_not_found" in caplog.text
    assert TOKEN not in caplog.text
    message = notice(deploy)
    assert message.status == "pending" and message.last_error == (
        "Slack chat.postMessage failed in T0001: channel_not_found"
    )
    assert list(SlackDeployPost.objects.values_list("channel", flat=True)) == ["C0EUDEPLOYS"]

    send_again(message)

    assert [call["channel"] for call in fake_slack.called("chat.postMessage")] == [
        "C0DEPLOYS",
        "C0EUDEPLOYS",
        "C0DEPLOYS",
    ]
    assert SlackDeployPost.objects.filter(deploy=deploy).count() == 2
    assert notice(deploy).status == "sent"


def test_an_error_never_fails_the_deploy_nor_the_webhook(api, workspace, fake_slack, chat_receiver):
    fake_slack.fail("chat.postMessage", "not_in_channel", times=10)

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api.post(
            "/api/deploys/",
            {"service": "web", "environment": "production", "version": "1", "deployer": "sam"},
            format="json",
        )

    assert response.status_code == 201, response.content
    assert Deploy.objects.filter(pk=response.json()["id"]).exists()
    assert len(chat_receiver.received) == 1
    assert "not_in_channel" in OutboxMessage.objects.get(key=f"deploy:{response.json()['id']}:slack").last_error


def test_a_redelivered_task_posts_once(workspace, fake_slack):
    deploy, _ = deploy_record(data=production())  # its on-commit queueing is not run here
    message = notice(deploy)

    send_outbox_message.delay(message.pk)
    send_outbox_message.delay(message.pk)

    assert len(fake_slack.called("chat.postMessage")) == 1


def test_a_deploy_gone_before_it_is_sent_is_given_up(workspace, fake_slack):
    deploy, _ = deploy_record(data=production())
    message = notice(deploy)
    deploy.delete()

    send_outbox_message(message.pk)

    message.refresh_from_db()
    assert message.status == "gave_up" and "is gone" in message.last_error
    assert fake_slack.calls == []
