"""Markdown rendered once, when saved: the HTML columns, filled for the rows already there."""

from django.db import migrations, models

from plumbing.markdown import render_stored_markdown


def render_existing(apps, schema_editor):
    render_stored_markdown(apps.get_model("deploys", "ChangeRecord").objects.all(), {"description": "description_html"})


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0008_move_integrations_out"),
    ]

    operations = [
        migrations.AddField(
            model_name="changerecord",
            name="description_html",
            field=models.TextField(blank=True, editable=False, help_text="The description rendered and sanitized."),
        ),
        migrations.RunPython(render_existing, migrations.RunPython.noop),
    ]
