"""Alerts, moved here from the incidents app by state only: the table incidents_alert and its rows
stay as they are."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("deploys", "0007_ingest_token_services"),
        ("incidents", "0005_responders_group"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Alert",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "fingerprint",
                            models.CharField(help_text="Alertmanager's hash of the alert's labels.", max_length=100),
                        ),
                        ("name", models.CharField(blank=True, help_text="The `alertname` label.", max_length=200)),
                        ("labels", models.JSONField(blank=True, default=dict)),
                        ("annotations", models.JSONField(blank=True, default=dict)),
                        ("starts_at", models.DateTimeField(help_text="When it started firing.")),
                        (
                            "ends_at",
                            models.DateTimeField(
                                blank=True, help_text="When it resolved; empty while it fires.", null=True
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[("firing", "Firing"), ("resolved", "Resolved")],
                                default="firing",
                                max_length=20,
                            ),
                        ),
                        ("generator_url", models.TextField(blank=True, help_text="The rule's graph in Prometheus.")),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "incident",
                            models.ForeignKey(
                                blank=True,
                                help_text="The incident it was promoted to.",
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="alerts",
                                to="incidents.incident",
                            ),
                        ),
                        (
                            "integration",
                            models.ForeignKey(
                                blank=True,
                                help_text="The Alertmanager that first reported it.",
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="alerts",
                                to="deploys.integration",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "incidents_alert",
                        "ordering": ["-starts_at", "-id"],
                        "indexes": [
                            models.Index(fields=["-starts_at", "-id"], name="alert_starts_idx"),
                            models.Index(fields=["name", "-starts_at"], name="alert_name_starts_idx"),
                            models.Index(fields=["status", "-starts_at"], name="alert_status_starts_idx"),
                        ],
                        "constraints": [
                            models.UniqueConstraint(fields=("fingerprint", "starts_at"), name="alert_unique_firing")
                        ],
                    },
                ),
            ],
            # The tables stay where they are, with their rows.
            database_operations=[],
        ),
    ]
