"""People's API tokens stored as SHA-256 digests (deploys.ApiToken) instead of DRF's plain-text
authtoken table. Each existing key is hashed in place, so a script still sending its old key keeps
working; then the plain-text table is dropped (rest_framework.authtoken is no longer installed)."""

import datetime as dt
import hashlib

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.utils.dateparse import parse_datetime

LEGACY_TABLE = "authtoken_token"


def hash_legacy_tokens(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if LEGACY_TABLE not in connection.introspection.table_names(cursor):
            return  # a database made after rest_framework.authtoken left, or that never had it
        # Raw SQL: the authtoken app is gone, so its model is in no migration state to ask.
        cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id, created FROM {LEGACY_TABLE}")
        rows = cursor.fetchall()
    ApiToken = apps.get_model("deploys", "ApiToken")
    tokens = []
    for key, user_id, created in rows:
        if isinstance(created, str):  # SQLite hands back the text it stored, in UTC
            created = parse_datetime(created)
        if created is not None and created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        tokens.append(
            ApiToken(
                user_id=user_id,
                key_digest=hashlib.sha256(key.encode()).hexdigest(),
                key_start=key[:6],
                created_at=created or django.utils.timezone.now(),
            )
        )
    ApiToken.objects.bulk_create(tokens)
    schema_editor.execute(f"DROP TABLE {LEGACY_TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0010_outbox_messages_replace_notifications"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key_digest", models.CharField(editable=False, max_length=64, unique=True)),
                ("key_start", models.CharField(editable=False, max_length=8)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_token",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "user API token",
                "ordering": ["user__username"],
            },
        ),
        # Not reversible: the keys are gone once hashed; going back leaves people to make new tokens.
        migrations.RunPython(hash_legacy_tokens, migrations.RunPython.noop),
    ]
