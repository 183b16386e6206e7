"""Per-ISO-week rollups beside the monthly ones (reports/models.py), for the weekly report, on
PostgreSQL: tables, triggers and a first build in the zone the monthly rollups are in.

This migration's import ties WEEK_CREATE, WEEK_DROP and WEEK_REBUILD in reports.rollup_sql down, as
0001 ties CREATE down.
"""

from django.db import migrations, models

from reports import rollup_sql


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.WEEK_CREATE)
        cursor.execute(rollup_sql.WEEK_REBUILD)  # in the monthly rollups' zone; none: left empty


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.WEEK_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0002_summary_sent"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeployWeekRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("week", models.DateField()),
                ("service_id", models.BigIntegerField()),
                ("environment_id", models.BigIntegerField()),
                ("deployer", models.CharField(max_length=200)),
                ("deploys", models.IntegerField()),
                ("rolled_back", models.IntegerField()),
            ],
            options={"db_table": "reports_deployweekrollup", "managed": False},
        ),
        migrations.CreateModel(
            name="LeadTimeWeekRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("week", models.DateField()),
                ("service_id", models.BigIntegerField()),
                ("bucket", models.IntegerField()),
                ("commits", models.IntegerField()),
            ],
            options={"db_table": "reports_leadtimeweekrollup", "managed": False},
        ),
        migrations.RunPython(create, drop),
    ]
