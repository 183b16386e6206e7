"""Monthly rollups over all services (reports_deploymonthallrollup, reports_leadtimemonthallrollup,
reports.rollup_sql), on PostgreSQL: tables, triggers and a first fill from the deploys and commits
already there (#19).

This migration's import ties MONTH_ALL_CREATE and MONTH_ALL_DROP in reports.rollup_sql down, as 0001
ties CREATE down.
"""

from django.db import migrations

from reports import rollup_sql


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.MONTH_ALL_CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.MONTH_ALL_DROP)


class Migration(migrations.Migration):
    dependencies = [("reports", "0008_incident_rollup")]

    operations = [migrations.RunPython(create, drop)]
