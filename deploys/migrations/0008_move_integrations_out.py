"""Integrations and deliveries now belong to the integrations app: their models leave this app's
state only, and their content types follow them. No table or row changes."""

from django.db import migrations

from plumbing.model_moves import content_types_follow

FOLLOW = content_types_follow(
    old_app="deploys",
    moved={"integration": "integrations", "delivery": "integrations"},
)


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0007_ingest_token_services"),
        ("integrations", "0001_initial"),
        ("alerts", "0002_integration_moved"),
        # The old incidents.Alert points at deploys.Integration until it leaves the incidents app.
        ("incidents", "0006_move_postmortems_and_alerts_out"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name="Delivery",
                ),
                migrations.DeleteModel(
                    name="Integration",
                ),
            ],
            # The tables stay where they are, with their rows.
            database_operations=[],
        ),
        # Permissions and admin history point at content types: keep them by renaming the types.
        migrations.RunPython(*FOLLOW),
    ]
