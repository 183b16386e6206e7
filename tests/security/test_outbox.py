"""Issue #14, findings 8 and 12: chat text that pages nobody, and deploy notices that survive a
broker or receiver outage (the outbox: deploys.outbox)."""

import re
import time

import pytest
from django.core import mail
from django.db import transaction

from config.celery import app
from deploys.models import Deploy
from deploys.services import DeployInput, deploy_record
from tests.support.concurrency import at_once

pytestmark = pytest.mark.django_db

DOWN_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused
PUBLISH_TIMEOUT = 0.3


def production_input(**overrides):
    values = dict(service="web", environment="production", version="36790", deployer="ekastner")
    values.update(overrides)
    return DeployInput(**values)


def post_deploy(api, **body):
    return api.post(
        "/api/deploys/",
        {"service": "web", "environment": "production", "version": "1", "deployer": "sam", **body},
        format="json",
    )


def outbox_messages():
    from deploys.models import OutboxMessage

    return OutboxMessage.objects.order_by("pk")


@pytest.fixture
def broker_down(settings):
    """Tasks go to a broker that refuses connections (not in-process): a broker outage."""
    settings.OPSLOG_BROKER_PUBLISH_TIMEOUT = PUBLISH_TIMEOUT
    app.conf.update(task_always_eager=False, broker_url=DOWN_BROKER)
    try:
        yield
    finally:
        app.conf.update(task_always_eager=True)


# --- #14.12: side effects that survive an outage ----------------------------------------------------


def test_a_deploy_notice_queued_while_the_broker_is_down_is_sent_later_by_the_beat_task(
    api, chat_receiver, settings, broker_down, django_capture_on_commit_callbacks
):
    """#14.12: with the broker down, a deploy is stored (201) and its chat notice is not lost: it
    waits in the outbox and the beat task sends it once the broker is back; the request waits on
    the broker no longer than OPSLOG_BROKER_PUBLISH_TIMEOUT."""
    settings.OPSLOG_DEPLOY_EMAILS = ["deploys@example.com"]

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_deploy(api, deployer="ekastner")
    elapsed = time.monotonic() - started

    assert response.status_code == 201
    assert chat_receiver.attempts == [] and mail.outbox == []
    # A refused connection answers at once; the old code retried it for about two seconds.
    assert elapsed < PUBLISH_TIMEOUT + 1.0
    deploy_id = response.json()["id"]
    assert [(m.key, m.status, m.attempts) for m in outbox_messages()] == [
        (f"deploy:{deploy_id}:chat", "pending", 0),
        (f"deploy:{deploy_id}:email", "pending", 0),
    ]

    app.conf.update(task_always_eager=True)  # the broker is back (in-process, here)
    from deploys.tasks import send_due_outbox_messages

    send_due_outbox_messages.delay()
    send_due_outbox_messages.delay()  # a second run finds nothing left to send

    assert chat_receiver.received == [{"text": "[web] PRODUCTION deployed by ekastner build: 1"}]
    assert len(mail.outbox) == 1
    assert [m.status for m in outbox_messages()] == ["sent", "sent"]


def test_the_outbox_message_is_written_and_rolled_back_with_the_deploy(chat_receiver):
    """#14.12: the notice is recorded in the deploy's own transaction: there while it is open,
    gone with the deploy when it rolls back, and never sent."""
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            deploy, _ = deploy_record(data=production_input())
            assert [m.key for m in outbox_messages()] == [f"deploy:{deploy.pk}:chat"]
            raise RuntimeError("the request failed after the deploy was written")

    assert not Deploy.objects.exists()
    assert not outbox_messages().exists()
    assert chat_receiver.attempts == []


def test_a_receiver_outage_leaves_the_notice_pending_and_the_beat_task_sends_it_once(
    chat_receiver, settings, django_capture_on_commit_callbacks
):
    """#14.12: a chat webhook that fails leaves the notice pending with its attempt and error; the
    beat task sends it once the retry is due and the receiver is back, exactly once."""
    from deploys.tasks import send_due_outbox_messages

    settings.OPSLOG_NOTIFY_RETRY_DELAY = 0.5
    chat_receiver.fail_next = 1

    with django_capture_on_commit_callbacks(execute=True):
        deploy_record(data=production_input())

    [message] = outbox_messages()
    assert (message.status, message.attempts, message.last_error) == ("pending", 1, "HTTP 500 from the chat webhook")
    assert send_due_outbox_messages.delay().get() == 0  # not due yet: the backoff holds
    time.sleep(0.6)
    assert send_due_outbox_messages.delay().get() == 1
    assert send_due_outbox_messages.delay().get() == 0

    assert len(chat_receiver.attempts) == 2
    assert chat_receiver.received == [{"text": "[web] PRODUCTION deployed by ekastner build: 36790"}]
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == ("sent", 2, "")


def test_a_notice_that_keeps_failing_is_given_up_and_can_be_sent_again(
    chat_receiver, settings, admin_client, django_capture_on_commit_callbacks
):
    """#14.12: after the configured attempts the notice is given up, visible in the admin, and the
    admin's "send again" sends it once the receiver is back."""
    settings.OPSLOG_NOTIFY_MAX_RETRIES = 1
    settings.OPSLOG_NOTIFY_RETRY_DELAY = 0
    chat_receiver.fail_next = 2
    from deploys.tasks import send_due_outbox_messages

    with django_capture_on_commit_callbacks(execute=True):
        deploy_record(data=production_input())
    send_due_outbox_messages.delay()
    send_due_outbox_messages.delay()

    [message] = outbox_messages()
    assert (message.status, message.attempts) == ("gave_up", 2)
    page = admin_client.get("/admin/deploys/outboxmessage/?status=gave_up")
    assert page.status_code == 200
    assert f"deploy:{message.payload['deploy_id']}:chat" in page.content.decode()
    assert "HTTP 500 from the chat webhook" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/deploys/outboxmessage/", {"action": "send_again", "_selected_action": [message.pk]}, follow=True
        )

    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)
    assert len(chat_receiver.received) == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_notice_is_sent_once_when_two_workers_send_it_at_the_same_time(chat_receiver, settings):
    """#14.12: two sends of one message at once (a redelivered task and the beat task's): the row
    is claimed by one, the other skips it, the chat webhook gets it once."""
    from deploys import outbox

    app.conf.update(task_always_eager=False, broker_url=DOWN_BROKER)  # nothing sends it on commit
    try:
        deploy_record(data=production_input())
    finally:
        app.conf.update(task_always_eager=True)
    [message] = outbox_messages()
    chat_receiver.delay = 0.5  # the first send is still waiting for its answer when the second comes

    results = at_once(2, lambda index: outbox.send(message_id=message.pk))

    assert sorted(result is None for result in results) == [False, True]
    assert len(chat_receiver.attempts) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)


@pytest.mark.broker
@pytest.mark.postgres_only(reason="a real worker process can't see the SQLite test database")
@pytest.mark.django_db(transaction=True)
def test_with_the_broker_stopped_a_deploy_answers_at_once_and_its_notice_is_sent_once_after_restart(
    api, chat_receiver, settings, tmp_path, monkeypatch
):
    """#14.12, end to end on PostgreSQL with Redis: the broker (a redis-server of this test's own)
    is stopped, a deploy is posted (201 within the publish timeout), the broker is started again,
    a real worker and the beat task run, and the chat webhook gets the notice exactly once."""
    from deploys.tasks import send_due_outbox_messages
    from tests.support.redis_server import RedisServer
    from tests.support.workers import Workers, wait_for

    redis = RedisServer()
    redis.start()
    redis.stop()
    settings.OPSLOG_BROKER_PUBLISH_TIMEOUT = PUBLISH_TIMEOUT
    # Celery reads CELERY_BROKER_URL from the environment before its configuration: CI's shared broker.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    app.conf.update(task_always_eager=False, broker_url=redis.url)
    pool = Workers(redis.url, tmp_path)
    try:
        started = time.monotonic()
        response = post_deploy(api, deployer="ekastner")
        elapsed = time.monotonic() - started

        assert response.status_code == 201
        assert elapsed < PUBLISH_TIMEOUT + 1.0
        [message] = outbox_messages()
        assert (message.status, message.attempts) == ("pending", 0)

        redis.start()
        pool.start(OPSLOG_CHAT_WEBHOOK_URL=chat_receiver.url)
        assert send_due_outbox_messages() == 1  # the beat task: queues it on the broker for the worker
        wait_for(lambda: chat_receiver.received, "the worker to post the chat line")
        send_due_outbox_messages()  # nothing is due any more: queues nothing
        time.sleep(1.0)  # a second post, if one were wrongly made, would have arrived by now
        pool.stop_all()

        assert chat_receiver.received == [{"text": "[web] PRODUCTION deployed by ekastner build: 1"}]
        assert len(chat_receiver.attempts) == 1
        message.refresh_from_db()
        assert (message.status, message.attempts) == ("sent", 1)
    finally:
        pool.stop_all()
        app.conf.update(task_always_eager=True)
        redis.stop()
        for process in pool.started:  # shown when the test fails
            print(f"--- worker {process.number} ---\n{pool.log(process)}")


# --- #14.8: chat text neutralised ------------------------------------------------------------------

# What starts a mention, as each chat documents it: Slack's `<!channel>`, `<!here>`, `<!everyone>`,
# `<!subteam^ID>` and `<@U123>` control sequences (Mattermost accepts them too, and `<userid>`);
# Mattermost's and Rocket.Chat's plain `@channel`, `@here`, `@all` (Rocket.Chat: any `@name`).
MENTIONS = {
    "slack": re.compile(r"<[!@#][^>]*>"),
    "mattermost": re.compile(r"(?<![\w])@(channel|here|all)\b|<[!@]?\w[^>]*>"),
    "rocket.chat": re.compile(r"(?<![\w])@[0-9a-zA-Z._-]+"),
}
SHOUTS = (
    "@channel @here @all @everyone <!channel> <!here> <!everyone> <!subteam^S0123|ops> <@U0123> "
    "<5fb5f7iw8tfrfcwssd1xmx3j7y>"
)


def test_chat_mentions_in_a_deploy_page_nobody_in_slack_mattermost_or_rocket_chat(
    api, chat_receiver, django_capture_on_commit_callbacks
):
    """#14.8: a deploy whose deployer, versions and link hold `@channel`, `@here`, `@all`,
    `@everyone` and Slack's `<!…>` forms reaches the chat webhook with none of them live."""
    with django_capture_on_commit_callbacks(execute=True):
        with_mentions = post_deploy(
            api,
            deployer=SHOUTS,
            version="@here",
            previous_version="<!channel>",
            diff_url="https://git.example.com/acme/web/compare/@channel...@here",
        )
    assert with_mentions.status_code == 201, with_mentions.json()

    [payload] = chat_receiver.received
    text = payload["text"]
    for chat, mention in MENTIONS.items():
        assert mention.findall(text) == [], chat
    # Still readable: each word is there, an invisible word joiner after its `@`.
    assert "@\u2060channel @\u2060here @\u2060all @\u2060everyone &lt;!channel&gt;" in text
    assert "diff: https://git.example.com/acme/web/compare/%40channel...%40here" in text
