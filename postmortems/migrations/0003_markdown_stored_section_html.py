"""Markdown rendered once, when saved: the HTML columns, filled for the rows already there."""

from django.db import migrations, models

from plumbing.markdown import render_stored_markdown


SECTIONS = [
    "summary",
    "impact",
    "timeline_narrative",
    "detection",
    "contributing_factors",
    "went_well",
    "went_poorly",
    "got_lucky",
    "surprised",
]


def render_existing(apps, schema_editor):
    render_stored_markdown(
        apps.get_model("postmortems", "PostMortem").objects.all(), {name: f"{name}_html" for name in SECTIONS}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("postmortems", "0002_leftovers_remediation_changes"),
    ]

    operations = [
        migrations.AddField(
            model_name="postmortem",
            name="contributing_factors_html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="postmortem",
            name="detection_html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="postmortem",
            name="got_lucky_html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="postmortem",
            name="impact_html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="postmortem",
            name="summary_html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="postmortem",
            name="surprised_html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="postmortem",
            name="timeline_narrative_html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="postmortem",
            name="went_poorly_html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="postmortem",
            name="went_well_html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(render_existing, migrations.RunPython.noop),
    ]
