from django.conf import settings
from django.db import migrations

RESPONDERS_GROUP = "Responders"  # config.roles.RESPONDERS_GROUP, frozen here as migrations are


def add_responders(apps, schema_editor):
    """Roles arrive with this migration. Everyone who could write before keeps writing: existing
    active accounts become responders (superusers are admins already); new accounts are viewers."""
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    group, _ = Group.objects.get_or_create(name=RESPONDERS_GROUP)
    group.user_set.add(*User.objects.filter(is_active=True, is_superuser=False))


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0004_incident_archive"),
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(add_responders, migrations.RunPython.noop)]
