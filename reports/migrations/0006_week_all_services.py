"""The weekly rollups over all services (reports_deployweekallrollup, reports_leadtimeweekallrollup,
reports.rollup_sql), on PostgreSQL: tables, triggers and a first fill (#19).

This migration's import ties WEEK_ALL_CREATE and WEEK_ALL_DROP in reports.rollup_sql down, as 0001
ties CREATE down.
"""

from django.db import migrations, models

from reports import rollup_sql


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.WEEK_ALL_CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.WEEK_ALL_DROP)


class Migration(migrations.Migration):
    dependencies = [("reports", "0005_env_lead_rollup")]

    operations = [
        migrations.CreateModel(
            name="DeployWeekAllRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("week", models.DateField()),
                ("environment_id", models.BigIntegerField()),
                ("deployer", models.CharField(max_length=200)),
                ("deploys", models.IntegerField()),
                ("rolled_back", models.IntegerField()),
            ],
            options={"db_table": "reports_deployweekallrollup", "managed": False},
        ),
        migrations.CreateModel(
            name="LeadTimeWeekAllRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("week", models.DateField()),
                ("bucket", models.IntegerField()),
                ("commits", models.IntegerField()),
            ],
            options={"db_table": "reports_leadtimeweekallrollup", "managed": False},
        ),
        migrations.RunPython(create, drop),
    ]
