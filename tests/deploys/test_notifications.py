import datetime as dt
import logging

import pytest
from django.core import mail
from django.db import transaction

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import Deploy
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
        deployed_at=dt.datetime(2010, 5, 18, 22, 20, 50, tzinfo=dt.timezone.utc),
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


def test_production_deploy_posts_to_chat_and_emails_after_commit(
    chat_receiver, settings, django_capture_on_commit_callbacks
):
    settings.OPSLOG_DEPLOY_EMAILS = ["deploys@example.com", "ops@example.com"]

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        deploy, created = deploy_record(data=production_input())

    assert created and len(callbacks) == 1
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

    assert callbacks == []
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

    with caplog.at_level(logging.WARNING, logger="deploys.tasks"):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/deploys/",
                {"service": "web", "environment": "production", "version": "1", "deployer": "sam"},
                format="json",
            )

    assert response.status_code == 201
    assert Deploy.objects.filter(pk=response.json()["id"]).exists()
    assert len(chat_receiver.attempts) == 1
    assert f"chat notification for deploy {response.json()['id']} failed" in caplog.text


def test_no_chat_url_means_no_chat(settings, django_capture_on_commit_callbacks):
    settings.OPSLOG_CHAT_WEBHOOK_URL = ""
    settings.OPSLOG_DEPLOY_EMAILS = ["deploys@example.com"]

    with django_capture_on_commit_callbacks(execute=True):
        deploy_record(data=production_input())

    assert len(mail.outbox) == 1
