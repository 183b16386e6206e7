"""Incident counts and durations per month and per ISO week (reports_incidentrollup,
reports_incidentweekrollup, reports.rollup_sql), on PostgreSQL: the durations' bucket indexes on
incidents, the tables, triggers and a first fill from the incidents already there (#19).

This migration's import ties INCIDENT_CREATE and INCIDENT_DROP in reports.rollup_sql down, as 0001
ties CREATE down.
"""

from django.db import migrations

from reports import rollup_sql


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.INCIDENT_CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(rollup_sql.INCIDENT_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0007_rollback_times"),
        ("incidents", "0013_timeline_source_tracker"),
    ]

    operations = [migrations.RunPython(create, drop)]
