"""An archived service (issue #14) isn't offered for a new incident, stays on the incidents that
have it (their page, the list's filter, the reports), and an edit of such an incident keeps it."""

import pytest

from deploys.factories import ServiceFactory
from deploys.services import service_set_archived
from incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def archived():
    service = ServiceFactory(slug="legacy")
    ServiceFactory(slug="web")
    return service


def test_a_new_incident_is_not_offered_an_archived_service(logged_in, archived):
    service_set_archived(service=archived, archived=True)

    form = logged_in.get("/incidents/new/").context["form"]

    assert [s.slug for s in form.fields["services"].queryset] == ["web"]


def test_an_incident_with_an_archived_service_keeps_it_offered_shown_and_found(logged_in, archived):
    incident = IncidentFactory(title="Old checkout down", services=[archived])
    service_set_archived(service=archived, archived=True)

    form = logged_in.get(f"/incidents/{incident.pk}/edit/").context["form"]
    page = logged_in.get(f"/incidents/{incident.pk}/").content.decode()
    listed = logged_in.get("/incidents/?service=legacy").content.decode()

    assert [s.slug for s in form.fields["services"].queryset] == ["legacy", "web"]
    assert [s.slug for s in form.initial["services"]] == ["legacy"]
    assert "legacy" in page
    assert "Old checkout down" in listed
