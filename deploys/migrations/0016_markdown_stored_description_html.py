"""Markdown rendered once, when saved: the HTML columns, filled for the rows already there."""

import django.core.validators
from django.db import migrations, models

from plumbing.markdown import render_stored_markdown


def render_existing(apps, schema_editor):
    render_stored_markdown(apps.get_model("deploys", "ChangeRecord").objects.all(), {"description": "description_html"})


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0015_leftovers_deploy_delivery_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="changerecord",
            name="description_html",
            field=models.TextField(blank=True, editable=False, help_text="The description rendered and sanitized."),
        ),
        migrations.AlterField(
            model_name="changerecord",
            name="description",
            field=models.TextField(
                blank=True,
                help_text="What will change, in Markdown.",
                validators=[
                    django.core.validators.MaxLengthValidator(
                        20000, message="At most 20,000 characters (%(show_value)d now)."
                    )
                ],
            ),
        ),
        migrations.RunPython(render_existing, migrations.RunPython.noop),
    ]
