"""Lead times by environment, per month and per ISO week (reports_envleadtimerollup,
reports_envleadtimeweekrollup, reports.rollup_sql), on PostgreSQL: tables, bucket index, triggers
and a first fill from the commits already there (#19).

This migration's import ties ENV_CREATE and ENV_DROP in reports.rollup_sql down, as 0001 ties
CREATE down.
"""

from django.db import migrations, models

from reports import rollup_sql


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.ENV_CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.ENV_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0004_deploy_link"),
        ("deploys", "0020_commit_first_delivery_per_environment"),
    ]

    operations = [
        migrations.CreateModel(
            name="EnvLeadTimeRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField()),
                ("service_id", models.BigIntegerField()),
                ("environment_id", models.BigIntegerField()),
                ("bucket", models.IntegerField()),
                ("commits", models.IntegerField()),
            ],
            options={"db_table": "reports_envleadtimerollup", "managed": False},
        ),
        migrations.CreateModel(
            name="EnvLeadTimeWeekRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("week", models.DateField()),
                ("service_id", models.BigIntegerField()),
                ("environment_id", models.BigIntegerField()),
                ("bucket", models.IntegerField()),
                ("commits", models.IntegerField()),
            ],
            options={"db_table": "reports_envleadtimeweekrollup", "managed": False},
        ),
        migrations.RunPython(create, drop),
    ]
