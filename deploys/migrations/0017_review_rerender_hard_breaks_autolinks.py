"""Line breaks kept and bare URLs linked (#15.15): the stored HTML of change descriptions rendered again."""

from django.db import migrations

from plumbing.markdown import render_stored_markdown


def render_again(apps, schema_editor):
    render_stored_markdown(apps.get_model("deploys", "ChangeRecord").objects.all(), {"description": "description_html"})


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0016_markdown_stored_description_html"),
    ]

    operations = [migrations.RunPython(render_again, migrations.RunPython.noop, elidable=True)]
