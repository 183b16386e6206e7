"""Post-mortems, their revisions and remediations, moved here from the incidents app by state only:
their tables (incidents_postmortem, …) and rows stay as they are."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("incidents", "0005_responders_group"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PostMortem",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[("draft", "Draft"), ("in_review", "In review"), ("published", "Published")],
                                default="draft",
                                max_length=20,
                            ),
                        ),
                        ("facilitator", models.CharField(blank=True, max_length=200)),
                        ("meeting_date", models.DateField(blank=True, null=True)),
                        ("summary", models.TextField(blank=True)),
                        ("impact", models.TextField(blank=True)),
                        ("timeline_narrative", models.TextField(blank=True)),
                        ("detection", models.TextField(blank=True)),
                        ("contributing_factors", models.TextField(blank=True)),
                        ("went_well", models.TextField(blank=True)),
                        ("went_poorly", models.TextField(blank=True)),
                        ("got_lucky", models.TextField(blank=True)),
                        ("surprised", models.TextField(blank=True)),
                        (
                            "no_action_needed",
                            models.BooleanField(
                                default=False, help_text="Publish without remediations; say why in the reason."
                            ),
                        ),
                        ("no_action_reason", models.TextField(blank=True)),
                        (
                            "version",
                            models.PositiveIntegerField(default=1, help_text="Goes up by one with every save."),
                        ),
                        ("published_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "incident",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="postmortem",
                                to="incidents.incident",
                            ),
                        ),
                        (
                            "updated_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "incidents_postmortem",
                        "ordering": ["-created_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="PostMortemRevision",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("version", models.PositiveIntegerField()),
                        ("content", models.JSONField()),
                        ("saved_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "postmortem",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="revisions",
                                to="postmortems.postmortem",
                            ),
                        ),
                        (
                            "saved_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "incidents_postmortemrevision",
                        "ordering": ["postmortem", "-version"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("postmortem", "version"), name="postmortemrevision_unique_version"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Remediation",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("description", models.TextField()),
                        ("kind", models.CharField(choices=[("dev", "Dev"), ("ops", "Ops")], max_length=10)),
                        ("owner_name", models.CharField(blank=True, help_text="…or just a name.", max_length=200)),
                        ("due_date", models.DateField(blank=True, null=True)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("open", "Open"),
                                    ("in_progress", "In progress"),
                                    ("done", "Done"),
                                    ("wont_do", "Won't do"),
                                ],
                                default="open",
                                max_length=20,
                            ),
                        ),
                        ("wont_do_reason", models.TextField(blank=True)),
                        ("tracker_ref", models.CharField(blank=True, help_text="e.g. OPS-123", max_length=100)),
                        (
                            "completed_at",
                            models.DateTimeField(blank=True, help_text="When it was marked done.", null=True),
                        ),
                        ("last_reminded_on", models.DateField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "owner",
                            models.ForeignKey(
                                blank=True,
                                help_text="A user (gets reminder emails)…",
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="remediations",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "postmortem",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="remediations",
                                to="postmortems.postmortem",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "incidents_remediation",
                        "ordering": ["due_date", "id"],
                        "indexes": [models.Index(fields=["status", "due_date"], name="remediation_status_due_idx")],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    models.Q(("status", "wont_do"), _negated=True),
                                    models.Q(("wont_do_reason", ""), _negated=True),
                                    _connector="OR",
                                ),
                                name="remediation_wont_do_has_reason",
                            )
                        ],
                    },
                ),
            ],
            # The tables stay where they are, with their rows.
            database_operations=[],
        ),
    ]
