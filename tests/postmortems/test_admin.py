"""The post-mortem and remediation admin pages save through postmortems.services (issue #14): what
the editor and the remediation pages accept, the admin accepts; what they refuse, it refuses with a
form error (never a 500), and nothing is saved."""

import html

import pytest

from incidents.factories import IncidentFactory
from postmortems import services
from postmortems.models import PostMortem, Remediation
from tests.support.admin import change_form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def postmortem():
    return services.postmortem_start(incident=IncidentFactory())[0]


def _url(postmortem: PostMortem) -> str:
    return f"/admin/postmortems/postmortem/{postmortem.pk}/change/"


def test_a_section_over_the_limit_is_a_form_error_and_nothing_is_saved(admin_client, postmortem):
    data = change_form_data(admin_client, _url(postmortem))
    data["impact"] = "x" * (services.MAX_SECTION_LENGTH + 1)

    response = admin_client.post(_url(postmortem), data)

    assert response.status_code == 200
    assert "impact" in response.context["adminform"].form.errors
    assert PostMortem.objects.get().version == 1


def test_an_unchanged_admin_save_makes_no_version(admin_client, postmortem):
    response = admin_client.post(_url(postmortem), change_form_data(admin_client, _url(postmortem)))

    assert response.status_code == 302
    assert PostMortem.objects.get().version == 1
    assert postmortem.revisions.count() == 1


def test_adding_a_remediation_on_its_admin_page(admin_client, postmortem):
    data = change_form_data(admin_client, "/admin/postmortems/remediation/add/")
    data.update(postmortem=str(postmortem.pk), description="Alert on error rate", kind="dev", status="done")

    response = admin_client.post("/admin/postmortems/remediation/add/", data)

    assert response.status_code == 302
    added = Remediation.objects.get()
    assert (added.postmortem, added.description, added.status) == (postmortem, "Alert on error rate", "done")
    assert added.completed_at is not None  # stamped by the service


def test_adding_a_remediation_through_the_postmortems_inline(admin_client, postmortem):
    data = change_form_data(admin_client, _url(postmortem))
    data.update(
        {
            "remediations-TOTAL_FORMS": "1",
            "remediations-0-kind": "ops",
            "remediations-0-description": "Page the database on-call",
            "remediations-0-status": "open",
        }
    )

    response = admin_client.post(_url(postmortem), data)

    assert response.status_code == 302
    assert list(Remediation.objects.values_list("kind", "description")) == [("ops", "Page the database on-call")]


def test_a_wont_do_without_a_reason_is_a_form_error(admin_client, postmortem):
    data = change_form_data(admin_client, "/admin/postmortems/remediation/add/")
    data.update(postmortem=str(postmortem.pk), description="Alert on error rate", kind="dev", status="wont_do")

    response = admin_client.post("/admin/postmortems/remediation/add/", data)

    assert response.status_code == 200
    assert "Say why it won" in html.unescape(response.content.decode())
    assert not Remediation.objects.exists()
