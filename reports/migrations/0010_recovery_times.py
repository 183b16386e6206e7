"""Recovery times (reports_recoverytime, reports.rollup_sql), on PostgreSQL: each failed deploy's
recovery under the linked rule, refreshed from the change log with the rollback times, the triggers
that log what could change one, and a first fill from the data already there (#19).

This migration's import ties RECOVERY_CREATE and RECOVERY_DROP in reports.rollup_sql down, as 0001
ties CREATE down.
"""

from django.db import migrations

from reports import rollup_sql


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.RECOVERY_CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.RECOVERY_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0009_month_all_services"),
        ("incidents", "0013_timeline_source_tracker"),
        ("deploys", "0019_deploy_recovery_indexes"),
    ]

    operations = [migrations.RunPython(create, drop)]
