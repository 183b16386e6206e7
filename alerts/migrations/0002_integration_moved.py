"""An alert's integration is now the integrations app's model: the same table, so the same column
and constraint."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("integrations", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="alert",
                    name="integration",
                    field=models.ForeignKey(
                        blank=True,
                        help_text="The Alertmanager that first reported it.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="alerts",
                        to="integrations.integration",
                    ),
                ),
            ],
            # The tables stay where they are, with their rows.
            database_operations=[],
        ),
    ]
