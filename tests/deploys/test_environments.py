import pytest
from django.core.management import call_command

from deploys.models import Environment


@pytest.mark.django_db(transaction=True)
def test_default_environments_survive_a_flush():
    Environment.objects.all().delete()

    call_command("flush", interactive=False, verbosity=0)

    assert dict(Environment.objects.values_list("slug", "is_production")) == {
        "qa": False,
        "staging": False,
        "production": True,
    }


@pytest.mark.django_db
def test_migrate_keeps_a_changed_default_environment():
    Environment.objects.filter(slug="staging").update(name="Princess")

    call_command("migrate", verbosity=0)

    assert Environment.objects.get(slug="staging").name == "Princess"
