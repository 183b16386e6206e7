"""Deploy notifications become outbox messages (deploys 0010): every row kept, none sent again."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("deploys", "0008_move_integrations_out")]
AFTER = [("deploys", "0010_outbox_messages_replace_notifications")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_each_notification_becomes_an_outbox_message_and_back():
    old = migrate(BEFORE)
    Service, Environment = old.get_model("deploys", "Service"), old.get_model("deploys", "Environment")
    Deploy, DeployNotification = old.get_model("deploys", "Deploy"), old.get_model("deploys", "DeployNotification")
    at = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    deploy = Deploy.objects.create(
        service=Service.objects.create(slug="web"),
        environment=Environment.objects.get_or_create(slug="production", defaults={"is_production": True})[0],
        version="1",
        deployer="sam",
        deployed_at=at,
    )
    DeployNotification.objects.create(deploy=deploy, channel="chat", sent_at=at, attempts=1, updated_at=at)
    DeployNotification.objects.create(
        deploy=deploy, channel="email", attempts=7, last_error="ConnectionRefusedError", updated_at=at
    )

    new = migrate(AFTER)

    OutboxMessage = new.get_model("deploys", "OutboxMessage")
    rows = list(
        OutboxMessage.objects.order_by("key").values_list("kind", "key", "payload", "status", "attempts", "last_error")
    )
    assert rows == [
        ("deploy.chat", f"deploy:{deploy.pk}:chat", {"deploy_id": deploy.pk}, "sent", 1, ""),
        # Given up by the old retries: not sent by the upgrade, but there to send again.
        ("deploy.email", f"deploy:{deploy.pk}:email", {"deploy_id": deploy.pk}, "gave_up", 7, "ConnectionRefusedError"),
    ]

    back = migrate(BEFORE)
    assert back.get_model("deploys", "DeployNotification").objects.count() == 2
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
