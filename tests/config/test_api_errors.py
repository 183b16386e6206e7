"""API answers to wrong requests: the status says what is wrong, and the body says how to fix it.

An ingest token outside the deploy posts is a 403 on every API (not a 401: the key is valid); an
unknown `format` or a `page` that isn't a page number is a 400 naming the parameter; a stamp in
the future is a 400 whether or not the stage is stamped already.
"""

import base64
import datetime as dt
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from deploys.demo import SERVICES as DEMO_SERVICES
from deploys.factories import DeployFactory, ServiceFactory
from deploys.models import IngestToken
from incidents.factories import IncidentFactory
from incidents.models import TimelineEntry

pytestmark = pytest.mark.django_db

# The docs page that shows how to make an ingest token limited to some services.
ROLES_AND_TOKENS = Path(__file__).resolve().parents[2] / "docs" / "api" / "roles-and-tokens.md"
INGEST_REFUSED = {"detail": "An ingest token may only post deploys."}
T0 = dt.datetime(2024, 7, 1, 10, 0, tzinfo=dt.UTC)


def _ingest_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- Ingest tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/deploys/", "/api/incidents/", "/api/reports/monthly/", "/api/reports/yearly/?format=csv", "/api/"],
)
def test_an_ingest_token_is_refused_with_the_same_403_on_every_api(ingest_key, path):
    response = _ingest_client(ingest_key).get(path)

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json() == INGEST_REFUSED


def test_an_ingest_token_as_grafanas_basic_auth_password_is_the_same_403(ingest_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"ci:{ingest_key}".encode()).decode())

    for path in ("/api/annotations/", "/events/get_data"):
        response = client.get(path)
        assert (response.status_code, response.json()) == (403, INGEST_REFUSED), path


def test_a_revoked_ingest_token_is_still_a_401_everywhere(ingest_key):
    IngestToken.objects.update(revoked_at=T0)

    for path in ("/api/deploys/", "/api/incidents/"):
        response = _ingest_client(ingest_key).get(path)
        assert response.status_code == 401, path
        assert response.json() == {"detail": "Invalid or revoked ingest token."}


def test_metrics_keep_their_own_bearer_token(ingest_key, settings):
    settings.OPSLOG_METRICS_TOKEN = "metrics-secret"

    assert _ingest_client(ingest_key).get("/metrics").status_code == 401  # no bearer token sent
    assert APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {ingest_key}").status_code == 403


def test_the_schema_lists_the_ingest_token_only_where_it_is_taken(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert {"ingestToken", "tokenAuth", "tokenBasicAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])
    taking = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if any("ingestToken" in requirement for requirement in operation.get("security", []))
    }
    assert taking == {("POST", "/api/deploys/"), ("POST", "/api/deploys/bulk/"), ("POST", "/api/cdevents/")}
    assert {"tokenAuth": []} in schema["paths"]["/api/incidents/"]["get"]["security"]


# --- create_ingest_token ---------------------------------------------------------------------------


def test_an_unknown_service_names_the_services_there_are():
    ServiceFactory(slug="web")
    ServiceFactory(slug="api")

    with pytest.raises(CommandError) as error:
        call_command("create_ingest_token", "web pipeline", "--service", "web", "--service", "web-worker")

    assert str(error.value).startswith("No service web-worker. The services are api, web; ")
    assert "first deploy" in str(error.value) and "admin" in str(error.value)
    assert not IngestToken.objects.exists()


def test_an_unknown_service_on_an_empty_database_says_there_are_none():
    with pytest.raises(CommandError, match=r"^No service web\. There are no services yet; "):
        call_command("create_ingest_token", "web pipeline", "--service", "web")


def test_the_docs_example_works_on_the_demo_services(capsys):
    command = re.search(r'create_ingest_token "web pipeline"(?P<options>[^\n]*)', ROLES_AND_TOKENS.read_text())
    slugs = re.findall(r"--service (\S+)", command["options"])
    assert slugs
    for slug, name, team, ops in DEMO_SERVICES:
        ServiceFactory(slug=slug, name=name, dev_team=team, ops_contact=ops)

    call_command("create_ingest_token", "web pipeline", *command["options"].split())

    assert capsys.readouterr().out.startswith("oli_")
    assert sorted(IngestToken.objects.get().services.values_list("slug", flat=True)) == sorted(slugs)


# --- Formats ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/reports/monthly/", "/api/reports/yearly/", "/api/reports/weekly/", "/api/reports/quarterly/"]
)
def test_an_unknown_report_format_is_a_400_naming_the_formats(api, path):
    response = api.get(f"{path}?format=xml")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"format": ["Unknown format “xml”: use json or csv."]}
    assert api.get(f"{path}?format=csv")["Content-Type"].startswith("text/csv")


def test_an_unknown_format_is_a_400_on_every_api(api):
    response = api.get("/api/deploys/?format=xml")

    assert response.status_code == 400
    assert response.json() == {"format": ["Unknown format “xml”: use json."]}
    assert api.get("/api/deploys/?format=json").status_code == 200


# --- The yearly report speaks in years ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("from=1000", {"from": ["Enter a year between 1970 and 2999."]}),
        ("from=1000-05", {"from": ["Enter a year between 1970 and 2999."]}),
        ("from=2010&to=2009", {"from": ["The first year (2010) is after the last one (2009)."]}),
        ("from=2010-05&to=2009-12", {"from": ["The first year (2010) is after the last one (2009)."]}),
    ],
)
def test_yearly_errors_talk_about_years(api, query, errors):
    response = api.get(f"/api/reports/yearly/?{query}")

    assert response.status_code == 400
    assert response.json() == errors


def test_yearly_months_of_the_same_year_are_that_year_whatever_their_order(api):
    response = api.get("/api/reports/yearly/?from=2010-05&to=2010-03")

    assert response.status_code == 200
    assert [year["year"] for year in response.json()["years"]] == ["2010"]


def test_the_monthly_report_still_talks_about_months(api):
    response = api.get("/api/reports/monthly/?from=1000-01")

    assert response.json() == {"from": ["Enter a month between 1970 and 2999."]}


# --- Stamps ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "field"), [("acknowledge", "acknowledged_at"), ("resolve", "resolved_at")])
def test_a_stamp_in_the_future_is_a_400_also_when_the_stage_is_stamped(api, path, field):
    incident = IncidentFactory(started_at=T0, detected_at=T0)
    assert api.post(f"/api/incidents/{incident.pk}/{path}/").status_code == 200
    incident.refresh_from_db()
    stamped, entries = getattr(incident, field), TimelineEntry.objects.count()

    response = api.post(f"/api/incidents/{incident.pk}/{path}/", {"at": "2999-01-01T00:00:00Z"}, format="json")

    assert response.status_code == 400
    label = field.removesuffix("_at").capitalize()
    assert response.json() == {field: [f"{label} time can't be in the future."]}
    incident.refresh_from_db()
    assert getattr(incident, field) == stamped
    assert TimelineEntry.objects.count() == entries


def test_a_stamp_in_the_future_on_an_open_incident_is_the_same_400(api):
    incident = IncidentFactory(started_at=T0, detected_at=T0)

    response = api.post(f"/api/incidents/{incident.pk}/acknowledge/", {"at": "2999-01-01T00:00:00Z"}, format="json")

    assert (response.status_code, response.json()) == (
        400,
        {"acknowledged_at": ["Acknowledged time can't be in the future."]},
    )


# --- Pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/deploys/", "/api/incidents/", "/api/changes/", "/api/remediations/"])
@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5"])
def test_a_page_that_is_not_a_page_number_is_a_400(api, path, page):
    response = api.get(f"{path}?page={page}")

    assert response.status_code == 400
    assert response.json() == {"page": [f"Enter a page number from 1 (or “last”); “{page}” is not one."]}


def test_a_page_past_the_end_is_still_a_404_and_last_is_the_last(api):
    DeployFactory.create_batch(3)

    assert api.get("/api/deploys/?page=2").status_code == 404
    assert api.get("/api/deploys/?page=2").json() == {"detail": "Invalid page."}
    assert api.get("/api/deploys/?page=2&page_size=2").json()["results"] != []
    last = api.get("/api/deploys/?page=last&page_size=2")
    assert last.status_code == 200 and len(last.json()["results"]) == 1
