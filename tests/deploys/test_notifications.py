import datetime as dt
import logging

import pytest
from django.core import mail
from django.db import transaction

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import Deploy, OutboxMessage
from deploys.notifications import chat_line
from deploys.services import DeployInput, deploy_record

pytestmark = pytest.mark.django_db


def production_input(**overrides):
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


def test_chat_line_reads_like_deployinator():
    deploy = DeployFactory.build(
        service=ServiceFactory.build(slug="web"),
        environment=EnvironmentFactory.build(slug="production"),
        version="36790",
        previous_version="",
        deployer="ekastner",
        duration_seconds=34.9,
        diff_url="https://git.example.com/d",
    )

    assert chat_line(deploy) == (
        "[web] PRODUCTION deployed by ekastner build: 36790 took: 34.9 seconds diff: https://git.example.com/d"
    )


def test_chat_line_mentions_a_rollback_and_leaves_out_what_is_unknown():
    deploy = DeployFactory.build(
        service=ServiceFactory.build(slug="api"),
        environment=EnvironmentFactory.build(slug="production"),
        version="7",
        previous_version="6",
        deployer="sam",
        duration_seconds=None,
        status=Deploy.Status.ROLLED_BACK,
        diff_url="",
    )

    assert chat_line(deploy) == "[api] PRODUCTION deployed by sam build: 7 (was 6) status: rolled back"


def outbox_callbacks(callbacks) -> list:
    """The outbox messages' callbacks among those run after commit (a deploy also tells other apps,
    such as CDEvents sinks, that it was recorded: deploys.signals)."""
    return [c for c in callbacks if c.__qualname__.startswith("outbox_record.")]


def test_production_deploy_posts_to_chat_and_emails_after_commit(
    chat_receiver, settings, django_capture_on_commit_callbacks
):
    settings.OPSLOG_DEPLOY_EMAILS = ["deploys@example.com", "ops@example.com"]

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        deploy, created = deploy_record(data=production_input())

    assert created and len(outbox_callbacks(callbacks)) == 2  # one outbox message per channel
    assert chat_receiver.received == [
        {
            "text": "[web] PRODUCTION deployed by ekastner build: 36790 (was 36789) took: 34.9 seconds "
            "diff: https://git.example.com/acme/web/compare/36789...36790"
        }
    ]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["deploys@example.com", "ops@example.com"]
    assert mail.outbox[0].subject == "[Opslog] web 36790 deployed to production by ekastner"
    assert "took: 34.9 seconds" in mail.outbox[0].body


def test_non_production_deploys_are_not_announced(chat_receiver, settings, django_capture_on_commit_callbacks):
    settings.OPSLOG_DEPLOY_EMAILS = ["deploys@example.com"]

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        deploy_record(data=production_input(environment="staging"))

    assert outbox_callbacks(callbacks) == []
    assert chat_receiver.attempts == []
    assert mail.outbox == []


def test_a_repeat_is_not_announced_twice(chat_receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deploy_record(data=production_input(external_id="ci-1"))
        deploy_record(data=production_input(external_id="ci-1"))

    assert len(chat_receiver.received) == 1


def test_nothing_is_announced_when_the_write_rolls_back(chat_receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                deploy_record(data=production_input())
                raise RuntimeError("the request failed after the deploy was written")

    assert callbacks == []
    assert chat_receiver.attempts == []
    assert Deploy.objects.count() == 0


def test_failing_chat_never_fails_the_deploy_and_is_logged(
    api, chat_receiver, caplog, django_capture_on_commit_callbacks
):
    chat_receiver.fail_next = 100

    with caplog.at_level(logging.WARNING, logger="deploys.outbox"):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/deploys/",
                {"service": "web", "environment": "production", "version": "1", "deployer": "sam"},
                format="json",
            )

    assert response.status_code == 201
    assert Deploy.objects.filter(pk=response.json()["id"]).exists()
    assert len(chat_receiver.attempts) == 1
    assert f"deploy.chat deploy:{response.json()['id']}:chat failed (attempt 1)" in caplog.text


def test_no_chat_url_means_no_chat(settings, django_capture_on_commit_callbacks):
    settings.OPSLOG_CHAT_WEBHOOK_URL = ""
    settings.OPSLOG_DEPLOY_EMAILS = ["deploys@example.com"]

    with django_capture_on_commit_callbacks(execute=True):
        deploy_record(data=production_input())

    assert len(mail.outbox) == 1


def test_chat_text_is_escaped_so_nobody_pages_the_channel(chat_receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deploy_record(data=production_input(deployer="<!channel>", diff_url=""))

    assert chat_receiver.received[0]["text"].startswith("[web] PRODUCTION deployed by &lt;!channel&gt; build:")


def test_a_redelivered_task_does_not_post_twice(chat_receiver):
    from deploys.tasks import send_outbox_message

    deploy, _ = deploy_record(data=production_input())  # its on-commit queueing is not run here
    record = OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:chat")

    send_outbox_message.delay(record.pk)
    send_outbox_message.delay(record.pk)

    assert len(chat_receiver.received) == 1
    record.refresh_from_db()
    assert record.status == "sent" and record.sent_at is not None and record.attempts == 1


def test_the_webhook_url_never_reaches_the_logs(chat_receiver, caplog, django_capture_on_commit_callbacks):
    chat_receiver.fail_next = 1

    with caplog.at_level(logging.WARNING):
        with django_capture_on_commit_callbacks(execute=True):
            deploy, _ = deploy_record(data=production_input())

    assert "HTTP 500 from the chat webhook" in caplog.text
    assert chat_receiver.url not in caplog.text
    assert "/hooks/chat" not in caplog.text
    record = OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:chat")
    assert (record.sent_at, record.attempts, record.last_error) == (None, 1, "HTTP 500 from the chat webhook")


def test_unreachable_chat_is_logged_and_the_deploy_kept(settings, caplog, django_capture_on_commit_callbacks):
    settings.OPSLOG_CHAT_WEBHOOK_URL = "http://127.0.0.1:1/hooks/secret-token"

    with caplog.at_level(logging.WARNING):
        with django_capture_on_commit_callbacks(execute=True):
            deploy, _ = deploy_record(data=production_input())

    assert "ConnectionError reaching the chat webhook" in caplog.text
    assert "secret-token" not in caplog.text
    assert Deploy.objects.filter(pk=deploy.pk).exists()


def test_failing_email_is_logged_and_the_deploy_kept(settings, caplog, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    settings.OPSLOG_DEPLOY_EMAILS = ["deploys@example.com"]

    with caplog.at_level(logging.WARNING, logger="deploys.outbox"):
        with django_capture_on_commit_callbacks(execute=True):
            deploy, _ = deploy_record(data=production_input())

    assert f"deploy.email deploy:{deploy.pk}:email failed (attempt 1)" in caplog.text
    assert "ConnectionRefusedError" in OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:email").last_error


def test_a_broker_that_is_down_costs_the_announcement_not_the_deploy(tmp_path):
    """A real process with a real (unreachable) broker: the POST still answers 201 and keeps the deploy,
    and its notice waits in the outbox for the beat task."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = """
import django, json, logging
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from rest_framework.test import APIClient
from deploys.services import ingest_token_create
client = APIClient()
client.credentials(HTTP_AUTHORIZATION="Token " + ingest_token_create(name="ci", may_create_services=True)[1])
response = client.post("/api/deploys/", {"service": "web", "environment": "production", "version": "1",
                                         "deployer": "ci"}, format="json")
from deploys.models import Deploy, OutboxMessage
print("RESULT", response.status_code, Deploy.objects.count(), list(OutboxMessage.objects.values_list("key", "status")))
"""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'broker-down.sqlite3'}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "OPSLOG_CHAT_WEBHOOK_URL": "http://127.0.0.1:1/chat",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )

    assert "RESULT 201 1 [('deploy:1:chat', 'pending')]" in result.stdout, result.stderr[-3000:]
    assert "could not queue deploys.tasks.send_outbox_message(1,)" in result.stderr
    assert "it is stored, and beat queues it later" in result.stderr


def test_email_notices_keep_the_text_as_written(api, settings, django_capture_on_commit_callbacks):
    """Only chat text is neutralised (issue #14.8): the email says what was sent."""
    settings.OPSLOG_DEPLOY_EMAILS = ["deploys@example.com"]

    body = {"service": "web", "environment": "production", "version": "1", "deployer": "@channel <!here>"}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/deploys/", body, format="json")

    assert response.status_code == 201

    assert mail.outbox[0].subject == "[Opslog] web 1 deployed to production by @channel <!here>"


def test_a_message_of_a_kind_this_worker_cannot_send_is_retried_not_lost(settings):
    from deploys import outbox
    from deploys.services import outbox_record

    settings.OPSLOG_NOTIFY_MAX_RETRIES = 1
    settings.OPSLOG_NOTIFY_RETRY_DELAY = 0
    message = outbox_record(kind="tracker.sync", key="remediation:1:sync", payload={"remediation_id": 1})

    first = outbox.send(message_id=message.pk)
    second = outbox.send(message_id=message.pk)

    assert (first.status, first.error) == ("pending", "this worker has no sender for 'tracker.sync' messages")
    assert (second.status, second.attempts) == ("gave_up", 2)


def test_a_message_whose_deploy_is_gone_is_given_up_at_once(chat_receiver):
    from deploys import outbox

    deploy, _ = deploy_record(data=production_input())  # on-commit queueing not run here
    message = OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:chat")
    Deploy.objects.filter(pk=deploy.pk).delete()

    attempt = outbox.send(message_id=message.pk)

    assert (attempt.status, attempt.attempts, attempt.error) == ("gave_up", 1, f"deploy {deploy.pk} is gone")
    assert chat_receiver.attempts == []


def test_a_registered_channel_gets_each_deploy_it_is_configured_for(monkeypatch, django_capture_on_commit_callbacks):
    from deploys import notifications, outbox

    sent = []
    monkeypatch.setitem(outbox.SENDERS, "deploy.test", sent.append)
    channel = notifications.Channel(
        name="test", kind="deploy.test", configured=lambda deploy: deploy.service.slug == "web"
    )
    monkeypatch.setitem(notifications.CHANNELS, "test", channel)

    with django_capture_on_commit_callbacks(execute=True):
        web, _ = deploy_record(data=production_input())
        api, _ = deploy_record(data=production_input(service="api"))
        deploy_record(data=production_input(environment="staging", version="36791"))

    assert sent == [{"deploy_id": web.pk}]
    assert OutboxMessage.objects.get(key=f"deploy:{web.pk}:test").status == "sent"
    assert not OutboxMessage.objects.filter(key=f"deploy:{api.pk}:test").exists()


def test_the_chat_webhook_and_email_are_registered_channels():
    from deploys.notifications import CHANNELS

    assert [(c.name, c.kind) for c in CHANNELS.values()][:2] == [("chat", "deploy.chat"), ("email", "deploy.email")]
