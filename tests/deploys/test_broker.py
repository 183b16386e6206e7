"""Notifications through the real broker (Redis in CI) and a real Celery worker."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core import mail

from config.celery import app
from deploys.models import OutboxMessage
from deploys.services import DeployInput, deploy_record

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def worker():
    # One worker for the module: Celery's embedded test worker doesn't start cleanly twice in a process.
    broker_url = settings.OPSLOG_TEST_BROKER_URL
    if not broker_url:
        pytest.skip("set CELERY_BROKER_URL to run tests against a real broker (CI does)")
    app.conf.update(task_always_eager=False, broker_url=broker_url)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    try:
        with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        app.conf.update(task_always_eager=True)


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def production_deploy():
    return deploy_record(
        data=DeployInput(
            service="web", environment="production", version="36790", deployer="ekastner", duration_seconds=34.9
        )
    )[0]


def test_worker_posts_the_chat_line_and_email(worker, chat_receiver, settings):
    settings.OPSLOG_DEPLOY_EMAILS = ["deploys@example.com"]

    production_deploy()

    assert wait_for(lambda: chat_receiver.received and mail.outbox)
    assert chat_receiver.received == [{"text": "[web] PRODUCTION deployed by ekastner build: 36790 took: 34.9 seconds"}]
    assert mail.outbox[0].subject == "[Opslog] web 36790 deployed to production by ekastner"


def test_a_failing_chat_is_retried_with_backoff_until_it_gets_through(worker, chat_receiver, settings, caplog):
    settings.OPSLOG_NOTIFY_RETRY_DELAY = 0.2
    chat_receiver.fail_next = 2

    started = time.monotonic()
    deploy = production_deploy()

    assert wait_for(lambda: chat_receiver.received)
    elapsed = time.monotonic() - started
    assert len(chat_receiver.attempts) == 3
    assert len(chat_receiver.received) == 1
    # Two retries, 0.2 s then 0.4 s apart.
    assert elapsed >= 0.6
    assert f"deploy.chat deploy:{deploy.pk}:chat failed (attempt 1)" in caplog.text
    assert f"deploy.chat deploy:{deploy.pk}:chat failed (attempt 2)" in caplog.text


def test_gives_up_after_the_configured_retries(worker, chat_receiver, settings, caplog):
    settings.OPSLOG_NOTIFY_RETRY_DELAY = 0.05
    settings.OPSLOG_NOTIFY_MAX_RETRIES = 2
    chat_receiver.fail_next = 100

    deploy = production_deploy()

    assert wait_for(lambda: f"giving up on deploy.chat deploy:{deploy.pk}:chat" in caplog.text)
    time.sleep(0.5)  # a fourth attempt, if one were wrongly scheduled, would have arrived by now
    assert len(chat_receiver.attempts) == 3  # the first try and two retries
    record = OutboxMessage.objects.get(key=f"deploy:{deploy.pk}:chat")
    assert (record.status, record.sent_at, record.attempts, record.last_error) == (
        "gave_up",
        None,
        3,
        "HTTP 500 from the chat webhook",
    )
