"""The report rollups (see reports/models.py): tables, triggers and a first build, on PostgreSQL.

SQLite has no rollup (the report scans there; its data is small): the models are unmanaged and
nothing is created.
"""

from django.conf import settings
from django.db import migrations, models

# The SQL lives in reports.rollup_sql, shared with `manage.py rebuild_report_rollup`. This
# migration's import ties that module down: CREATE, DROP and REBUILD must keep their names, and a
# change to their SQL must ship in a new migration too (databases migrated already won't rerun this).
from reports import rollup_sql


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.CREATE)
        # A zone this server's time zone database lacks leaves the rollups unbuilt (the report
        # scans) rather than failing the migration.
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_timezone_names WHERE name = %s)", [settings.OPSLOG_REPORT_TIME_ZONE]
        )
        if cursor.fetchone()[0]:
            cursor.execute(rollup_sql.REBUILD, [settings.OPSLOG_REPORT_TIME_ZONE])


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0005_integrations_and_first_delivery"),
    ]

    operations = [
        migrations.CreateModel(
            name="RollupZone",
            fields=[
                ("id", models.SmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("zone", models.CharField(max_length=64)),
                ("built_at", models.DateTimeField()),
            ],
            options={"db_table": "reports_rollupzone", "managed": False},
        ),
        migrations.CreateModel(
            name="DeployRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField()),
                ("service_id", models.BigIntegerField()),
                ("environment_id", models.BigIntegerField()),
                ("deployer", models.CharField(max_length=200)),
                ("deploys", models.IntegerField()),
                ("rolled_back", models.IntegerField()),
            ],
            options={"db_table": "reports_deployrollup", "managed": False},
        ),
        migrations.CreateModel(
            name="LeadTimeRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField()),
                ("service_id", models.BigIntegerField()),
                ("bucket", models.IntegerField()),
                ("commits", models.IntegerField()),
            ],
            options={"db_table": "reports_leadtimerollup", "managed": False},
        ),
        migrations.RunPython(create, drop),
    ]
