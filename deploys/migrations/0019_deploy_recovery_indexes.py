"""#19: two partial indexes on deploys, on PostgreSQL, for failed deployment recovery time and the
inferred attribution rule.

- deploy_rolled_back_idx: the range's rolled-back deploys (2 % of deploys) read off their own index,
  every column the report needs included, instead of scanning the range's every deploy.
- deploy_live_svc_env_time_idx: the counted (succeeded or rolled-back) deploys of one service and
  environment in time order: a rolled-back deploy's rollback (the next one after it) and an
  incident's inferred cause (the latest one before it) are each one index-only probe, where
  deploy_svc_env_time_idx fetched every candidate's row to read its status.

Built CONCURRENTLY (outside a transaction) so ingest doesn't wait on a large table. SQLite scans;
nothing is created there.
"""

from django.db import migrations

INDEXES = {
    "deploy_rolled_back_idx": (
        "ON deploys_deploy (deployed_at) INCLUDE (service_id, environment_id, status, id) WHERE status = 'rolled_back'"
    ),
    "deploy_live_svc_env_time_idx": (
        "ON deploys_deploy (service_id, environment_id, deployed_at, id) WHERE status IN ('succeeded', 'rolled_back')"
    ),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, definition in INDEXES.items():
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("deploys", "0018_deploy_service_lookup_index")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
