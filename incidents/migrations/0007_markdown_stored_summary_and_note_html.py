"""Markdown rendered once, when saved: the HTML columns, filled for the rows already there."""

import django.core.validators
from django.db import migrations, models

from plumbing.markdown import render_stored_markdown


def render_existing(apps, schema_editor):
    render_stored_markdown(apps.get_model("incidents", "Incident").objects.all(), {"summary": "summary_html"})
    render_stored_markdown(
        apps.get_model("incidents", "TimelineEntry").objects.filter(kind="note"), {"text": "text_html"}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0006_move_postmortems_and_alerts_out"),
    ]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="summary_html",
            field=models.TextField(blank=True, editable=False, help_text="The summary rendered and sanitized."),
        ),
        migrations.AddField(
            model_name="timelineentry",
            name="text_html",
            field=models.TextField(blank=True, editable=False, help_text="A note's text rendered and sanitized."),
        ),
        migrations.AlterField(
            model_name="incident",
            name="summary",
            field=models.TextField(
                blank=True,
                help_text="What is happening, in Markdown.",
                validators=[
                    django.core.validators.MaxLengthValidator(
                        20000, message="At most 20,000 characters (%(show_value)d now)."
                    )
                ],
            ),
        ),
        migrations.RunPython(render_existing, migrations.RunPython.noop),
    ]
