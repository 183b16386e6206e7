"""Commit shas in one case (stripped, lowercase; deploys.contract.normalise_sha), for the rows stored
before every path normalised them.

Rows that differ only by case or spaces under the same deploy (or, for pushed commits, the same
service) are case twins of one commit: the earliest row survives and keeps the earliest authored time
of the twins (and a message where it had none), the others are deleted. Nothing links to a commit row,
so merging loses no link; each deploy keeps every commit it shipped, once. Then the first production
delivery and lead time of every sha touched are worked out again, as deploys.services.
commit_deliveries_refresh does, so a commit sent once in capitals and once in lowercase counts once.
"""

from collections import defaultdict

from django.db import migrations
from django.db.models import F
from django.db.models.functions import Lower, Trim

CHUNK = 200
COUNTED_STATUSES = ("succeeded", "rolled_back")


def _merge_twins(model, parent: str) -> set[str]:
    """Normalise `model`'s shas, merging case twins under the same `parent`; the shas touched."""
    parent_id = f"{parent}_id"

    def normalised():
        return model.objects.annotate(normal=Lower(Trim("sha")))

    keys = sorted(set(normalised().exclude(sha=F("normal")).values_list(parent_id, "normal")))
    for start in range(0, len(keys), CHUNK):
        chunk = set(keys[start : start + CHUNK])
        groups = defaultdict(list)
        rows = normalised().filter(
            **{f"{parent_id}__in": {key[0] for key in chunk}, "normal__in": {key[1] for key in chunk}}
        )
        for row in rows.order_by("id"):
            key = (getattr(row, parent_id), row.normal)
            if key in chunk:
                groups[key].append(row)
        for (_, normal), (survivor, *twins) in groups.items():
            times = [row.authored_at for row in (survivor, *twins) if row.authored_at is not None]
            survivor.authored_at = min(times) if times else None
            survivor.message = survivor.message or next((row.message for row in twins if row.message), "")
            # Deleted first: the survivor's new sha is one of theirs, and (parent, sha) is unique.
            model.objects.filter(pk__in=[row.pk for row in twins]).delete()
            survivor.sha = normal
            survivor.save(update_fields=["sha", "authored_at", "message"])
    return {normal for _, normal in keys}


def _refresh_first_deliveries(DeployCommit, shas: set[str]) -> None:
    # The rule of deploys.services.commit_deliveries_refresh, on this migration's models.
    ordered = sorted(shas)
    for start in range(0, len(ordered), CHUNK):
        rows = list(
            DeployCommit.objects.filter(sha__in=ordered[start : start + CHUNK]).values_list(
                "pk",
                "sha",
                "authored_at",
                "first_delivered_at",
                "lead_seconds",
                "deploy_id",
                "deploy__deployed_at",
                "deploy__status",
                "deploy__environment__is_production",
            )
        )
        first = {}
        for pk, sha, _, _, _, deploy_id, deployed_at, status, is_production in rows:
            if is_production and status in COUNTED_STATUSES:
                if sha not in first or (deployed_at, deploy_id) < first[sha][0]:
                    first[sha] = ((deployed_at, deploy_id), pk)
        stale = []
        for pk, sha, authored_at, delivered_before, lead_before, _, deployed_at, _, _ in rows:
            delivered_at = lead = None
            if sha in first and first[sha][1] == pk:
                delivered_at = deployed_at
                if authored_at is not None and authored_at < delivered_at:
                    lead = (delivered_at - authored_at).total_seconds()
            if (delivered_before, lead_before) != (delivered_at, lead):
                stale.append(DeployCommit(pk=pk, first_delivered_at=delivered_at, lead_seconds=lead))
        DeployCommit.objects.bulk_update(stale, ["first_delivered_at", "lead_seconds"], batch_size=500)


def lowercase_commit_shas(apps, schema_editor):
    DeployCommit = apps.get_model("deploys", "DeployCommit")
    PushedCommit = apps.get_model("deploys", "PushedCommit")
    touched = _merge_twins(DeployCommit, "deploy")
    _merge_twins(PushedCommit, "service")
    _refresh_first_deliveries(DeployCommit, touched)


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0013_leftovers_deploy_service_version_index"),
    ]

    operations = [
        migrations.RunPython(lowercase_commit_shas, migrations.RunPython.noop, elidable=False),
    ]
