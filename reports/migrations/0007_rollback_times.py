"""The kept rollback times and their change log (reports_rollbacktime, reports_rollbackchange,
reports.rollup_sql), on PostgreSQL: tables, triggers, the refresh function and a first fill (#19).

This migration's import ties ROLLBACK_CREATE and ROLLBACK_DROP in reports.rollup_sql down, as 0001
ties CREATE down.
"""

from django.db import migrations

from reports import rollup_sql


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.ROLLBACK_CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.ROLLBACK_DROP)


class Migration(migrations.Migration):
    dependencies = [("reports", "0006_week_all_services")]

    operations = [migrations.RunPython(create, drop)]
