"""The incident list's filters (/incidents/ and /api/incidents/) the dashboard's links need:
resolved or not, teams, several services and several severities."""

import datetime as dt
import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.filters import IncidentFilter
from incidents.models import Incident

pytestmark = pytest.mark.django_db

UTC = dt.UTC
T0 = dt.datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def incidents():
    web = ServiceFactory(slug="web", dev_team="Storefront")
    admin = ServiceFactory(slug="admin", dev_team="Storefront")
    api = ServiceFactory(slug="api", dev_team="Platform")
    search = ServiceFactory(slug="search", dev_team="Platform")
    ServiceFactory(slug="tools", dev_team="")
    rows = {
        "web-open": IncidentFactory(severity=1, started_at=at(0), services=[web]),
        "web-api-acked": IncidentFactory(severity=2, started_at=at(10), acknowledged_at=at(15), services=[web, api]),
        "api-mitigated": IncidentFactory(
            severity=2, started_at=at(20), acknowledged_at=at(25), mitigated_at=at(30), services=[api]
        ),
        "admin-search-resolved": IncidentFactory(
            severity=3, started_at=at(40), resolved_at=at(50), services=[admin, search]
        ),
        "web-resolved": IncidentFactory(severity=4, started_at=at(60), resolved_at=at(70), services=[web]),
        "nothing": IncidentFactory(severity=3, started_at=at(80)),
    }
    IncidentDeployFactory(incident=rows["web-api-acked"])
    return rows


def api_names(api, incidents, query) -> set[str]:
    response = api.get(f"/api/incidents/?{query}")
    assert response.status_code == 200, response.content
    ids = [item["id"] for item in response.json()["results"]]
    assert len(ids) == len(set(ids))
    return {name for name, incident in incidents.items() if incident.pk in ids}


def page_names(client, incidents, query) -> set[str]:
    response = client.get(f"/incidents/?{query}")
    assert response.status_code == 200
    assert not response.context["filter"].errors
    ids = [incident.pk for incident in response.context["page"]]
    assert len(ids) == len(set(ids))
    return {name for name, incident in incidents.items() if incident.pk in ids}


UNRESOLVED = {"web-open", "web-api-acked", "api-mitigated", "nothing"}

FILTERS = [
    # Acknowledged and mitigated incidents are unresolved too; status=open is only the first.
    ("resolved=false", UNRESOLVED),
    ("resolved=true", {"admin-search-resolved", "web-resolved"}),
    ("resolved=false&status=open", {"web-open", "nothing"}),
    ("severity=1&severity=2", {"web-open", "web-api-acked", "api-mitigated"}),
    ("severity=2,3", {"web-api-acked", "api-mitigated", "admin-search-resolved", "nothing"}),
    ("severity=4", {"web-resolved"}),
    ("service=web&service=api", {"web-open", "web-api-acked", "api-mitigated", "web-resolved"}),
    ("service=web,api&resolved=false", {"web-open", "web-api-acked", "api-mitigated"}),
    ("service=search", {"admin-search-resolved"}),
    ("team=Storefront", {"web-open", "web-api-acked", "admin-search-resolved", "web-resolved"}),
    ("team=Platform", {"web-api-acked", "api-mitigated", "admin-search-resolved"}),
    ("team=Platform,Storefront&severity=3", {"admin-search-resolved"}),
    # With services: an affected service that is both one of them and the team's, as the report counts.
    ("team=Storefront&service=web,search", {"web-open", "web-api-acked", "web-resolved"}),
    ("team=Platform&service=web", set()),
    ("team=Platform&service=admin,search&team=Storefront", {"admin-search-resolved"}),
    ("team=Platform&deploy_related=true", {"web-api-acked"}),
    # Acknowledged whatever came after (mitigated too): the incidents MTTA averages.
    ("acknowledged=true", {"web-api-acked", "api-mitigated"}),
    ("acknowledged=false", {"web-open", "admin-search-resolved", "web-resolved", "nothing"}),
    ("acknowledged=true&service=web", {"web-api-acked"}),
    # Empty values filter nothing, as an empty single value always did.
    ("severity=&service=&team=&resolved=", UNRESOLVED | {"admin-search-resolved", "web-resolved"}),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS)
def test_api_filters(api, incidents, query, expected):
    assert api_names(api, incidents, query) == expected


@pytest.mark.parametrize(("query", "expected"), FILTERS)
def test_page_filters(logged_in, incidents, query, expected):
    assert page_names(logged_in, incidents, query) == expected


BAD = [
    ("resolved=perhaps", "resolved"),
    ("resolved=0", "resolved"),
    ("acknowledged=yes", "acknowledged"),
    ("severity=1,9", "severity"),
    ("severity=2&severity=0", "severity"),
    ("service=web,nope", "service"),
    ("team=Platform&team=Nobody", "team"),
    ("team=", None),
    ("team=%00", "team"),
    ("service=%00", "service"),
    ("severity=%00", "severity"),
]


@pytest.mark.parametrize(("query", "field"), BAD)
def test_bad_values_are_a_400_naming_the_parameter(api, incidents, query, field):
    response = api.get(f"/api/incidents/?{query}")

    if field is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize(("query", "field"), BAD)
def test_bad_values_are_a_form_error_on_the_page_not_a_500(logged_in, incidents, query, field):
    response = logged_in.get(f"/incidents/?{query}")

    assert response.status_code == 200
    if field is None:
        assert not response.context["filter"].errors
        return
    assert list(response.context["filter"].errors) == [field]
    assert list(response.context["page"]) == []
    assert f"<p>{field}: " in response.content.decode()


def test_a_dict_with_one_value_works_too(incidents):
    filterset = IncidentFilter(
        {"severity": "4", "team": "Storefront", "resolved": "true"}, queryset=Incident.objects.all()
    )

    assert filterset.is_valid(), filterset.errors
    assert list(filterset.qs) == [incidents["web-resolved"]]


# --- The page --------------------------------------------------------------------------------------


def test_the_page_has_a_resolved_field(logged_in, incidents):
    html = logged_in.get("/incidents/?resolved=false").content.decode()

    select = re.search(r'<select name="resolved">.*?</select>', html, re.S)[0]
    assert re.findall(r'<option value="(\w*)" selected>', select) == ["false"]
    assert '<option value="">Either</option>' in select


def test_several_severities_show_in_a_multiple_select(logged_in, incidents):
    one = logged_in.get("/incidents/?severity=2").content.decode()
    two = logged_in.get("/incidents/?severity=1,2").content.decode()

    one_select = re.search(r'<select name="severity"[^>]*>.*?</select>', one, re.S)[0]
    two_select = re.search(r'<select name="severity"[^>]*>.*?</select>', two, re.S)[0]
    assert "multiple" not in one_select.split(">")[0] and "multiple" in two_select.split(">")[0]
    assert re.findall(r'<option value="(\d)" selected>', one_select) == ["2"]
    assert re.findall(r'<option value="(\d)" selected>', two_select) == ["1", "2"]
    assert '<option value="" selected>Any severity</option>' in logged_in.get("/incidents/").content.decode()


def test_a_team_is_said_in_words_and_kept_by_the_form(logged_in, incidents):
    html = logged_in.get("/incidents/?team=Storefront&team=Platform&severity=2&resolved=false").content.decode()

    line = re.search(r'<p class="active-filters">(.*?)</p>', html, re.S)[1]
    assert " ".join(re.sub(r"<[^>]+>", "", line).split()) == (
        "Showing incidents affecting the services of teams Storefront and Platform. Clear"
    )
    assert unescape(re.search(r'href="([^"]+)"', line)[1]) == "/incidents/?severity=2&resolved=false"
    form = re.search(r'<form class="filters".*?</form>', html, re.S)[0]
    assert re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form) == [
        ("team", "Storefront"),
        ("team", "Platform"),
    ]
    assert '<p class="active-filters">' not in logged_in.get("/incidents/?severity=2").content.decode()


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("acknowledged=true", "Showing acknowledged incidents. Clear"),
        ("acknowledged=false", "Showing incidents never acknowledged. Clear"),
        (
            "acknowledged=true&team=Platform",
            "Showing acknowledged incidents affecting the services of team Platform. Clear",
        ),
    ],
)
def test_acknowledged_is_said_in_words_and_kept_by_the_form(logged_in, incidents, query, words):
    html = logged_in.get(f"/incidents/?{query}&severity=2").content.decode()

    line = re.search(r'<p class="active-filters">(.*?)</p>', html, re.S)[1]
    assert " ".join(re.sub(r"<[^>]+>", "", line).split()) == words
    assert unescape(re.search(r'href="([^"]+)"', line)[1]) == "/incidents/?severity=2"
    form = re.search(r'<form class="filters".*?</form>', html, re.S)[0]
    assert ("acknowledged", query.split("&")[0].split("=")[1]) in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form
    )


# --- Queries and the schema ----------------------------------------------------------------------

ALL_NEW = "service=web,api,search&team=Storefront,Platform&severity=1,2,3&resolved=false&deploy_related=true"


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_rows_or_values(api, logged_in, incidents):
    few_api = count_queries(api, f"/api/incidents/?{ALL_NEW}")
    few_page = count_queries(logged_in, f"/incidents/?{ALL_NEW}")
    web = incidents["web-open"].services.get()
    for _ in range(30):
        IncidentDeployFactory(incident=IncidentFactory(severity=2, services=[web, ServiceFactory(dev_team="Platform")]))
    assert count_queries(api, f"/api/incidents/?{ALL_NEW}") == few_api
    assert count_queries(logged_in, f"/incidents/?{ALL_NEW}") == few_page
    assert count_queries(api, "/api/incidents/?service=web") == count_queries(api, "/api/incidents/?service=web,api")
    assert count_queries(api, "/api/incidents/?severity=1") == count_queries(api, "/api/incidents/?severity=1,2,3")
    assert count_queries(api, "/api/incidents/") == count_queries(api, "/api/incidents/?resolved=false")


def test_the_schema_describes_the_new_parameters(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/incidents/"]["get"]["parameters"]}

    for name in ("service", "team", "severity"):
        assert parameters[name]["schema"]["type"] == "array", name
        assert parameters[name]["explode"] is True, name
    assert parameters["severity"]["schema"]["items"]["enum"] == [1, 2, 3, 4]
    assert parameters["resolved"]["schema"] == {"type": "string", "enum": ["false", "true"]}
    assert parameters["acknowledged"]["schema"] == {"type": "string", "enum": ["false", "true"]}
