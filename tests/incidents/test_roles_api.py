"""Incident roles over the API (#16.3): fields, POST /api/incidents/{id}/roles/, ?lead=, the schema."""

import pytest
from rest_framework.test import APIClient

from incidents.factories import IncidentFactory
from incidents.models import TimelineEntry
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db


def test_filing_with_all_three_roles_shows_them_as_fields_and_as_roles(api):
    response = api.post(
        "/api/incidents/",
        {
            "title": "Checkout is failing",
            "started_at": "2024-07-01T10:00:00Z",
            "commander": "ana",
            "comms_lead": "Bob Lee",
            "scribe": "carol",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["commander"], body["comms_lead"], body["scribe"]) == ("ana", "Bob Lee", "carol")
    assert body["roles"] == {"lead": "ana", "comms": "Bob Lee", "scribe": "carol"}


def test_filing_without_roles_leaves_them_empty(api):
    body = api.post("/api/incidents/", {"title": "Slow", "started_at": "2024-07-01T10:00:00Z"}, format="json").json()

    assert body["roles"] == {"lead": "", "comms": "", "scribe": ""}


def test_patching_a_role_records_a_handover(api, user):
    incident = IncidentFactory(commander="ana")

    response = api.patch(f"/api/incidents/{incident.pk}/", {"commander": "bob", "scribe": "carol"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["roles"] == {"lead": "bob", "comms": "", "scribe": "carol"}
    timeline = api.get(f"/api/incidents/{incident.pk}/timeline/").json()["results"]
    assert {(e["kind"], e["text"], e["author"]) for e in timeline} == {
        ("handover", "Incident lead handed over from ana to bob.", "ekastner"),
        ("handover", "Scribe taken by carol.", "ekastner"),
    }
    lead = next(e for e in timeline if "commander" in e["changes"])
    assert lead["changes"] == {"commander": {"old": "ana", "new": "bob"}}


def test_roles_is_read_only_in_a_patch(api):
    incident = IncidentFactory(commander="ana")

    response = api.patch(f"/api/incidents/{incident.pk}/", {"roles": {"lead": "bob"}}, format="json")

    assert response.status_code == 400
    assert "POST /api/incidents/{id}/roles/" in response.json()["roles"][0]
    incident.refresh_from_db()
    assert incident.commander == "ana"


def test_posting_a_role_hands_it_over_and_answers_with_the_incident(api, user):
    incident = IncidentFactory(comms_lead="ana")

    response = api.post(f"/api/incidents/{incident.pk}/roles/", {"role": "comms", "name": "bob"}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["id"] == incident.pk
    assert (body["comms_lead"], body["roles"]["comms"]) == ("bob", "bob")
    [entry] = TimelineEntry.objects.filter(incident=incident, kind="handover")
    assert (entry.text, entry.author) == ("Communications lead handed over from ana to bob.", user)


def test_posting_an_empty_name_clears_the_role(api):
    incident = IncidentFactory(commander="ana")

    response = api.post(f"/api/incidents/{incident.pk}/roles/", {"role": "lead", "name": ""}, format="json")

    assert response.status_code == 200
    assert response.json()["roles"]["lead"] == ""
    assert TimelineEntry.objects.get(incident=incident, kind="handover").text == "Incident lead left (was ana)."


def test_posting_the_current_holder_again_records_nothing(api):
    incident = IncidentFactory(scribe="carol")

    response = api.post(f"/api/incidents/{incident.pk}/roles/", {"role": "scribe", "name": "carol"}, format="json")

    assert response.status_code == 200
    assert not TimelineEntry.objects.filter(incident=incident).exists()


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"role": "boss", "name": "bob"}, "role", "is not a role: use lead, comms or scribe"),
        ({"role": "commander", "name": "bob"}, "role", "is not a role"),
        ({"role": True, "name": "bob"}, "role", ""),
        ({"name": "bob"}, "role", "required"),
        ({"role": "lead"}, "name", 'or "" to clear it'),
        ({"role": "lead", "name": None}, "name", "null"),
        ({"role": "lead", "name": 12}, "name", "string"),
        ({"role": "lead", "name": "bob\nalice"}, "name", "single line"),
        ({"role": "lead", "name": "x" * 201}, "name", "200"),
        ({"role": "lead", "name": "bob", "by": "alice"}, "by", "Unknown field"),
    ],
)
def test_bad_role_input_is_a_400_naming_the_field_and_changes_nothing(api, body, field, words):
    incident = IncidentFactory(commander="ana")

    response = api.post(f"/api/incidents/{incident.pk}/roles/", body, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert field in errors
    assert words in " ".join(errors[field])
    incident.refresh_from_db()
    assert incident.commander == "ana"
    assert not incident.timeline.exists()


def test_a_huge_name_costs_no_more_than_a_plain_one(api):
    incident = IncidentFactory()

    response = api.post(
        f"/api/incidents/{incident.pk}/roles/", {"role": "lead", "name": "ä" * 1_000_000}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["name"]


def test_roles_of_an_unknown_incident_is_a_404(api):
    assert api.post("/api/incidents/999999/roles/", {"role": "lead", "name": "bob"}, format="json").status_code == 404


def test_a_viewer_cannot_assign_roles(viewer):
    incident = IncidentFactory(commander="ana")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(viewer).key}")

    response = client.post(f"/api/incidents/{incident.pk}/roles/", {"role": "lead", "name": "bob"}, format="json")

    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.commander == "ana"


def test_the_list_filters_by_lead_whole_name_in_any_case(api):
    ana = IncidentFactory(commander="Ana")
    also_ana = IncidentFactory(commander="ana")
    IncidentFactory(commander="Anatol")
    IncidentFactory(commander="")
    IncidentFactory(commander="bob", comms_lead="ana", scribe="ana")

    body = api.get("/api/incidents/", {"lead": "ANA"}).json()

    assert {item["id"] for item in body["results"]} == {ana.pk, also_ana.pk}
    assert api.get("/api/incidents/", {"lead": "nobody"}).json()["count"] == 0


def test_the_lead_filter_combines_with_the_others(api):
    open_one = IncidentFactory(commander="ana")
    IncidentFactory(commander="ana", acknowledged_at=open_one.detected_at, resolved_at=open_one.detected_at)

    body = api.get("/api/incidents/", {"lead": "ana", "status": "open"}).json()

    assert [item["id"] for item in body["results"]] == [open_one.pk]


def test_a_too_long_lead_filter_is_a_400_naming_it(api):
    response = api.get("/api/incidents/", {"lead": "x" * 201})

    assert response.status_code == 400
    assert list(response.json()) == ["lead"]


def test_the_schema_describes_the_roles_endpoint_the_fields_and_the_filter(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    post = schema["paths"]["/api/incidents/{id}/roles/"]["post"]
    assert {"200", "400"} <= set(post["responses"])
    request = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    role_input = schema["components"]["schemas"][request]
    assert set(role_input["properties"]) == {"role", "name"}
    assert set(role_input["required"]) == {"role", "name"}
    parameters = {p["name"]: p for p in schema["paths"]["/api/incidents/"]["get"]["parameters"]}
    assert "lead" in parameters and "commander" in parameters["lead"]["description"]
    incident = schema["components"]["schemas"]["Incident"]["properties"]
    assert {"commander", "comms_lead", "scribe", "roles"} <= set(incident)
