"""Line breaks kept and bare URLs linked (#15.15): the stored HTML of summaries and notes rendered again."""

from django.db import migrations

from plumbing.markdown import render_stored_markdown


def render_again(apps, schema_editor):
    render_stored_markdown(apps.get_model("incidents", "Incident").objects.all(), {"summary": "summary_html"})
    render_stored_markdown(
        apps.get_model("incidents", "TimelineEntry").objects.filter(kind="note"), {"text": "text_html"}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0008_flow_incident_filing_key"),
    ]

    operations = [migrations.RunPython(render_again, migrations.RunPython.noop, elidable=True)]
