"""#19: each commit's first delivery within its deploy's environment (env_first_delivered_at,
env_lead_seconds, env_delivered_to), beside the first production delivery, filled for the commits already stored by
deploys.services.commit_deliveries_refresh's rule: the earliest counted deploy of the sha in that
environment, ties by lower deploy id; the lead time when positive."""

import django.db.models.deletion
from django.db import migrations, models

# One statement on PostgreSQL, whatever the number of commits. EXTRACT(EPOCH …) is exact (numeric)
# and rounds to the same double as Python's timedelta.total_seconds().
FILL_SQL = """
UPDATE deploys_deploycommit c
SET env_first_delivered_at = f.deployed_at, env_delivered_to_id = f.environment_id,
    env_lead_seconds = CASE WHEN c.authored_at < f.deployed_at
                            THEN EXTRACT(EPOCH FROM f.deployed_at - c.authored_at)::double precision END
FROM (SELECT DISTINCT ON (c.sha, d.environment_id) c.id, d.deployed_at, d.environment_id
      FROM deploys_deploycommit c JOIN deploys_deploy d ON d.id = c.deploy_id
      WHERE d.status IN ('succeeded', 'rolled_back')
      ORDER BY c.sha, d.environment_id, d.deployed_at, d.id) AS f
WHERE c.id = f.id
"""


def fill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FILL_SQL)
        return
    DeployCommit = apps.get_model("deploys", "DeployCommit")
    first = {}
    rows = (
        DeployCommit.objects.filter(deploy__status__in=["succeeded", "rolled_back"])
        .values_list("id", "sha", "authored_at", "deploy_id", "deploy__deployed_at", "deploy__environment_id")
        .iterator(chunk_size=5000)
    )
    for pk, sha, authored_at, deploy_id, deployed_at, environment_id in rows:
        best = first.get((sha, environment_id))
        if best is None or (deployed_at, deploy_id) < (best[3], best[2]):
            first[(sha, environment_id)] = (pk, authored_at, deploy_id, deployed_at)
    batch = []
    for (_, environment_id), (pk, authored_at, _, deployed_at) in first.items():
        lead = (deployed_at - authored_at).total_seconds() if authored_at and authored_at < deployed_at else None
        batch.append(
            DeployCommit(
                pk=pk, env_first_delivered_at=deployed_at, env_lead_seconds=lead, env_delivered_to_id=environment_id
            )
        )
    fields = ["env_first_delivered_at", "env_lead_seconds", "env_delivered_to"]
    DeployCommit.objects.bulk_update(batch, fields, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0019_deploy_recovery_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="deploycommit",
            name="env_first_delivered_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="deploycommit",
            name="env_lead_seconds",
            field=models.FloatField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="deploycommit",
            name="env_delivered_to",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="deploys.environment",
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
