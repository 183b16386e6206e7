"""The deploy links by the linked deploy's time (reports_deploylink, reports.rollup_sql), on
PostgreSQL: table, triggers and a first fill from the links already there (#19).

This migration's import ties LINK_CREATE and LINK_DROP in reports.rollup_sql down, as 0001 ties
CREATE down.
"""

from django.db import migrations

from reports import rollup_sql


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.LINK_CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.LINK_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_week_rollup"),
        ("incidents", "0013_timeline_source_tracker"),
        ("deploys", "0019_deploy_recovery_indexes"),
    ]

    operations = [migrations.RunPython(create, drop)]
