"""Deploy notifications become outbox messages (deploys.outbox), one per deploy and channel.

Each DeployNotification row is kept as the outbox message it would have been: sent ones as sent,
unsent ones (given up by the old retries, or caught mid-retry by the upgrade) as given up, with
their attempts and last error, so the admin still shows them and can send them again; none is
sent by the upgrade itself, however old."""

import django.utils.timezone
from django.db import migrations, models


def notifications_to_outbox(apps, schema_editor):
    DeployNotification = apps.get_model("deploys", "DeployNotification")
    OutboxMessage = apps.get_model("deploys", "OutboxMessage")
    rows = []
    for old in DeployNotification.objects.order_by("pk").iterator():
        rows.append(
            OutboxMessage(
                kind=f"deploy.{old.channel}",
                key=f"deploy:{old.deploy_id}:{old.channel}",
                payload={"deploy_id": old.deploy_id},
                status="sent" if old.sent_at else "gave_up",
                attempts=old.attempts,
                last_error=old.last_error,
                created_at=old.sent_at or old.updated_at,
                next_attempt_at=old.updated_at,
                sent_at=old.sent_at,
                updated_at=old.updated_at,
            )
        )
        if len(rows) >= 1000:
            OutboxMessage.objects.bulk_create(rows)
            rows = []
    OutboxMessage.objects.bulk_create(rows)


def outbox_to_notifications(apps, schema_editor):
    DeployNotification = apps.get_model("deploys", "DeployNotification")
    OutboxMessage = apps.get_model("deploys", "OutboxMessage")
    Deploy = apps.get_model("deploys", "Deploy")
    deploy_ids = set(Deploy.objects.values_list("pk", flat=True))
    rows = [
        DeployNotification(
            deploy_id=message.payload["deploy_id"],
            channel=message.kind.removeprefix("deploy."),
            sent_at=message.sent_at,
            attempts=message.attempts,
            last_error=message.last_error,
            updated_at=message.updated_at,
        )
        for message in OutboxMessage.objects.filter(kind__in=["deploy.chat", "deploy.email"])
        if message.payload.get("deploy_id") in deploy_ids
    ]
    DeployNotification.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0009_admin_service_archived_at"),
    ]

    operations = [
        migrations.CreateModel(
            name="OutboxMessage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=50)),
                ("key", models.CharField(max_length=200, unique=True)),
                ("payload", models.JSONField(blank=True, default=dict)),
                (
                    "status",
                    models.CharField(
                        choices=[("pending", "Pending"), ("sent", "Sent"), ("gave_up", "Gave up")],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("last_error", models.CharField(blank=True, max_length=500)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("next_attempt_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx")],
            },
        ),
        migrations.RunPython(notifications_to_outbox, outbox_to_notifications, elidable=True),
        migrations.DeleteModel(
            name="DeployNotification",
        ),
    ]
