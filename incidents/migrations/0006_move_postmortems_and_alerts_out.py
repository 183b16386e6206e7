"""Post-mortems and remediations now belong to the postmortems app, alerts to the alerts app: their
models leave this app's state only, and their content types follow them. No table or row changes."""

from django.db import migrations

MOVED = {
    "postmortem": "postmortems",
    "postmortemrevision": "postmortems",
    "remediation": "postmortems",
    "alert": "alerts",
}


def _rename(apps, *, forward: bool) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, app in MOVED.items():
        old, new = ("incidents", app) if forward else (app, "incidents")
        # A type already made under the new label (by a post_migrate in between) is kept as it is.
        if ContentType.objects.filter(app_label=new, model=model).exists():
            continue
        ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def rename_content_types(apps, schema_editor):
    _rename(apps, forward=True)


def unrename_content_types(apps, schema_editor):
    _rename(apps, forward=False)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0005_responders_group"),
        ("postmortems", "0001_initial"),
        ("alerts", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="postmortem",
                    name="created_by",
                ),
                migrations.RemoveField(
                    model_name="postmortem",
                    name="incident",
                ),
                migrations.RemoveField(
                    model_name="postmortem",
                    name="updated_by",
                ),
                migrations.RemoveField(
                    model_name="postmortemrevision",
                    name="postmortem",
                ),
                migrations.RemoveField(
                    model_name="remediation",
                    name="postmortem",
                ),
                migrations.RemoveField(
                    model_name="postmortemrevision",
                    name="saved_by",
                ),
                migrations.RemoveField(
                    model_name="remediation",
                    name="owner",
                ),
                migrations.DeleteModel(
                    name="Alert",
                ),
                migrations.DeleteModel(
                    name="PostMortem",
                ),
                migrations.DeleteModel(
                    name="PostMortemRevision",
                ),
                migrations.DeleteModel(
                    name="Remediation",
                ),
            ],
            # The tables stay where they are, with their rows.
            database_operations=[],
        ),
        # Permissions and admin history point at content types: keep them by renaming the types.
        migrations.RunPython(rename_content_types, unrename_content_types),
    ]
