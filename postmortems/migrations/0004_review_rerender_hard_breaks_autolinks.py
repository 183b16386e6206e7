"""Line breaks kept and bare URLs linked (#15.15): the stored HTML of post-mortem sections rendered again."""

from django.db import migrations

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


def render_again(apps, schema_editor):
    render_stored_markdown(
        apps.get_model("postmortems", "PostMortem").objects.all(), {name: f"{name}_html" for name in SECTIONS}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("postmortems", "0003_markdown_stored_section_html"),
    ]

    operations = [migrations.RunPython(render_again, migrations.RunPython.noop, elidable=True)]
