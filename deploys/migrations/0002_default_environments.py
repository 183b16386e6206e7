from django.db import migrations

DEFAULTS = [
    ("qa", "QA", False),
    ("staging", "Staging", False),
    ("production", "Production", True),
]


def create_defaults(apps, schema_editor):
    Environment = apps.get_model("deploys", "Environment")
    for slug, name, is_production in DEFAULTS:
        Environment.objects.get_or_create(slug=slug, defaults={"name": name, "is_production": is_production})


class Migration(migrations.Migration):
    dependencies = [("deploys", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
