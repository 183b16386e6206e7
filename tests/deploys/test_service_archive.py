"""Archiving a service (issue #14): in use, it is archived rather than deleted; archived, it leaves
the pickers for new records and stays on its old ones."""

import pytest
from django.core.exceptions import ValidationError

from deploys.factories import DeployFactory, ServiceFactory
from deploys.models import ChangeRecord, Service
from deploys.services import (
    ingest_token_create,
    service_delete,
    service_delete_refusal,
    service_set_archived,
    service_uses,
)
from incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def test_service_uses_counts_every_record_that_refers_to_it_in_any_app():
    service = ServiceFactory(slug="checkout")
    DeployFactory.create_batch(2, service=service)
    IncidentFactory(services=[service])
    ingest_token_create(name="ci", services=[service])
    ChangeRecord.objects.create(title="Index", owner="sam", planned_at=DeployFactory().deployed_at, service=service)

    assert service_uses(service=service) == {"deploys": 2, "incidents": 1, "ingest tokens": 1, "change records": 1}
    assert service_uses(service=ServiceFactory(slug="unused")) == {}


def test_a_service_in_use_is_refused_deletion_with_what_uses_it():
    service = ServiceFactory(slug="checkout")
    IncidentFactory(services=[service])

    with pytest.raises(ValidationError) as refused:
        service_delete(service=service)

    assert "in use (1 incidents): archive it instead" in str(refused.value)
    assert Service.objects.filter(pk=service.pk).exists()


def test_an_unused_service_is_deleted():
    service = ServiceFactory(slug="chekout")
    assert service_delete_refusal(service=service) is None

    service_delete(service=service)

    assert not Service.objects.exists()


def test_archiving_keeps_the_first_time_and_restoring_clears_it():
    service = ServiceFactory()
    first = service_set_archived(service=service, archived=True).archived_at

    assert service_set_archived(service=service, archived=True).archived_at == first
    assert Service.objects.active().count() == 0
    assert service_set_archived(service=service, archived=False).archived_at is None
    assert list(Service.objects.active()) == [service]


def test_the_change_record_form_offers_an_archived_service_only_to_a_record_that_has_it(logged_in):
    old = ServiceFactory(slug="legacy")
    ServiceFactory(slug="web")
    record = ChangeRecord.objects.create(
        title="Index", owner="sam", planned_at=DeployFactory().deployed_at, service=old
    )
    service_set_archived(service=old, archived=True)

    new_choices = logged_in.get("/deploys/changes/new/").context["form"].fields["service"].queryset
    edit_choices = logged_in.get(f"/deploys/changes/{record.pk}/edit/").context["form"].fields["service"].queryset

    assert "legacy" not in {s.slug for s in new_choices}
    assert "legacy" in {s.slug for s in edit_choices}


def test_a_new_ingest_token_is_not_offered_an_archived_service(admin_client):
    ServiceFactory(slug="web")
    service_set_archived(service=ServiceFactory(slug="legacy"), archived=True)

    form = admin_client.get("/admin/deploys/ingesttoken/add/").context["adminform"].form

    assert [s.slug for s in form.fields["services"].queryset] == ["web"]
