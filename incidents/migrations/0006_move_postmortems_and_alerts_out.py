"""Post-mortems and remediations now belong to the postmortems app, alerts to the alerts app: their
models leave this app's state only, and their content types follow them. No table or row changes."""

from django.db import migrations

from plumbing.model_moves import content_types_follow

FOLLOW = content_types_follow(
    old_app="incidents",
    moved={
        "postmortem": "postmortems",
        "postmortemrevision": "postmortems",
        "remediation": "postmortems",
        "alert": "alerts",
    },
)


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
        migrations.RunPython(*FOLLOW),
    ]
