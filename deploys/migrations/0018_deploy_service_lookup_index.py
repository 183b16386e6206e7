"""#19: an index on deploys (id) carrying service_id, on PostgreSQL, for the report's lead-time
medians filtered by service or team.

reports.engines.postgres_rollup.lead_medians reads one lead-time bucket's values off
reports_commit_lead_bucket_idx and, under a service or team filter, checks each value's deploy's
service: with this index that check is an index-only probe instead of a heap fetch, about half the
time (bench/README.md, #19). Built CONCURRENTLY (outside a transaction) so ingest doesn't wait on
a large table. SQLite has no rollups and scans; nothing is created there.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS deploys_deploy_id_service_idx ON deploys_deploy (id) INCLUDE (service_id)"
)
DROP = "DROP INDEX CONCURRENTLY IF EXISTS deploys_deploy_id_service_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        # Numbered 0020 for #19's bench; 0018 and 0019 belong to other #19 branches (the merge puts
        # this after them).
        ("deploys", "0017_review_rerender_hard_breaks_autolinks"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
