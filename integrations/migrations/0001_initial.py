"""Integrations and their webhook deliveries, moved here from the deploys app by state only: their
tables (deploys_integration, deploys_delivery) and rows stay as they are."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("deploys", "0007_ingest_token_services"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Integration",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("github", "GitHub"),
                                    ("gitlab", "GitLab"),
                                    ("pagerduty", "PagerDuty"),
                                    ("alertmanager", "Prometheus Alertmanager"),
                                ],
                                max_length=20,
                            ),
                        ),
                        (
                            "name",
                            models.CharField(
                                help_text="A name for people, e.g. 'GitHub acme org'.", max_length=100, unique=True
                            ),
                        ),
                        ("secret_encrypted", models.TextField(editable=False)),
                        (
                            "service_mapping",
                            models.JSONField(
                                blank=True,
                                default=dict,
                                help_text='The sender\'s name for a service → an Opslog service slug, e.g. {"acme/web-app": "web"}. Unmapped names fall back to the sender\'s own (for GitHub, the repository name).',
                            ),
                        ),
                        (
                            "options",
                            models.JSONField(
                                blank=True,
                                default=dict,
                                help_text='Kind-specific settings, e.g. for Alertmanager {"promote_labels": {"severity": "critical"}}.',
                            ),
                        ),
                        ("is_active", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                    ],
                    options={
                        "db_table": "deploys_integration",
                        "ordering": ["kind", "name"],
                    },
                ),
                migrations.CreateModel(
                    name="Delivery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("github", "GitHub"),
                                    ("gitlab", "GitLab"),
                                    ("pagerduty", "PagerDuty"),
                                    ("alertmanager", "Prometheus Alertmanager"),
                                ],
                                max_length=20,
                            ),
                        ),
                        ("delivery_id", models.CharField(max_length=200)),
                        ("event", models.CharField(blank=True, max_length=100)),
                        ("headers", models.JSONField(default=dict)),
                        ("body", models.TextField()),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("received", "Received"),
                                    ("processed", "Processed"),
                                    ("ignored", "Ignored"),
                                    ("failed", "Failed"),
                                ],
                                default="received",
                                max_length=20,
                            ),
                        ),
                        ("outcome", models.TextField(blank=True, help_text="What processing did, or why it failed.")),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("received_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ("processed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "integration",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="deliveries",
                                to="integrations.integration",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "deliveries",
                        "db_table": "deploys_delivery",
                        "ordering": ["-received_at", "-id"],
                        "indexes": [
                            models.Index(fields=["kind", "status", "-received_at"], name="delivery_kind_status_idx")
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("integration", "delivery_id"), name="delivery_unique_per_integration"
                            )
                        ],
                    },
                ),
            ],
            # The tables stay where they are, with their rows.
            database_operations=[],
        ),
    ]
