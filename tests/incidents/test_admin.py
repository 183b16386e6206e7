import pytest

from deploys.factories import DeployFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from incidents.models import Incident, TimelineEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_admin_edits_go_to_the_timeline(admin_client, admin_user):
    incident = IncidentFactory(title="Checkout slow", commander="")

    page = admin_client.get(f"/admin/incidents/incident/{incident.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(
        {
            "title": "Checkout down",
            "commander": "priya",
            "scribe": "li",
            "participants": "[]",
            "deploy_links-TOTAL_FORMS": "0",
            "deploy_links-INITIAL_FORMS": "0",
            "timeline-TOTAL_FORMS": "0",
            "timeline-INITIAL_FORMS": "0",
        }
    )
    response = admin_client.post(f"/admin/incidents/incident/{incident.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    incident.refresh_from_db()
    assert (incident.title, incident.commander, incident.scribe) == ("Checkout down", "priya", "li")
    texts = list(incident.timeline.filter(kind="edit").values_list("text", flat=True))
    assert texts == ["Title edited."]
    # Roles changed here are handovers, as from the incident page.
    handovers = incident.timeline.filter(kind="handover").values_list("text", flat=True)
    assert sorted(handovers) == ["Incident lead taken by priya.", "Scribe taken by li."]
    assert set(incident.timeline.values_list("author", flat=True)) == {admin_user.pk}


def test_the_admin_shows_all_three_roles(admin_client):
    incident = IncidentFactory(commander="ana", comms_lead="bob", scribe="carol")

    html = admin_client.get(f"/admin/incidents/incident/{incident.pk}/change/").content.decode()

    for label, value in (("Incident lead", "ana"), ("Communications lead", "bob"), ("Scribe", "carol")):
        assert label in html
        assert f'value="{value}"' in html


def test_admin_cannot_change_times_severity_services_or_links(admin_client):
    incident = IncidentFactory()
    IncidentDeployFactory(incident=incident, deploy=DeployFactory())

    html = admin_client.get(f"/admin/incidents/incident/{incident.pk}/change/").content.decode()

    for name in ("started_at", "detected_at", "resolved_at", "severity", "services"):
        assert f'name="{name}' not in html, name
    assert admin_client.get("/admin/incidents/incident/add/").status_code == 403
    assert admin_client.get("/admin/incidents/incidentdeploy/add/").status_code == 403


def test_admin_cannot_delete_incidents_or_rewrite_the_timeline(admin_client):
    incident = IncidentFactory()
    entry = TimelineEntryFactory(incident=incident)

    assert admin_client.post(f"/admin/incidents/incident/{incident.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"/admin/incidents/timelineentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_client.post(f"/admin/incidents/timelineentry/{entry.pk}/change/", {"text": "rewritten"})
    assert Incident.objects.filter(pk=incident.pk).exists()
    entry.refresh_from_db()
    assert entry.text != "rewritten"
    assert TimelineEntry.objects.filter(pk=entry.pk).exists()
