"""The deploy log's filters (/deploys/ and /api/deploys/) the dashboard's links need: production,
several statuses, services, environments and teams, failed changes and rework."""

import datetime as dt
import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.filters import DeployFilter
from deploys.models import Deploy, Environment
from incidents.factories import IncidentDeployFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
DAY = dt.datetime(2024, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def deploys():
    web = ServiceFactory(slug="web", dev_team="Storefront")
    admin = ServiceFactory(slug="admin", dev_team="Storefront")
    api = ServiceFactory(slug="api", dev_team="Platform")
    ServiceFactory(slug="tools", dev_team="")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")
    production_eu = Environment.objects.create(slug="production-eu", is_production=True)

    def deploy(hours, service, environment=production, status="succeeded"):
        return DeployFactory(
            service=service, environment=environment, status=status, deployed_at=DAY + dt.timedelta(hours=hours)
        )

    rows = {
        "web-prod": deploy(0, web),
        "web-rolled": deploy(1, web, status="rolled_back"),
        "web-failed": deploy(2, web, status="failed"),
        "web-staging": deploy(3, web, environment=staging),
        "web-eu": deploy(4, web, environment=production_eu),
        "admin-prod": deploy(5, admin),
        "api-cause": deploy(6, api),
        "api-fix": deploy(7, api),
        "api-staging-failed": deploy(8, api, environment=staging, status="failed"),
    }
    IncidentDeployFactory(deploy=rows["api-cause"], relation="cause")
    IncidentDeployFactory(deploy=rows["api-cause"], incident__title="Second one", relation="cause")
    IncidentDeployFactory(deploy=rows["api-fix"], relation="remediation")
    IncidentDeployFactory(deploy=rows["web-failed"], relation="cause")
    return rows


def api_names(api, deploys, query) -> set[str]:
    response = api.get(f"/api/deploys/?{query}")
    assert response.status_code == 200, response.content
    ids = [item["id"] for item in response.json()["results"]]
    assert len(ids) == len(set(ids))
    return {name for name, deploy in deploys.items() if deploy.pk in ids}


def page_names(client, deploys, query) -> set[str]:
    response = client.get(f"/deploys/?{query}")
    assert response.status_code == 200
    assert not response.context["filter"].errors
    ids = [deploy.pk for deploy in response.context["page"]]
    return {name for name, deploy in deploys.items() if deploy.pk in ids}


PRODUCTION = {"web-prod", "web-rolled", "web-failed", "web-eu", "admin-prod", "api-cause", "api-fix"}

FILTERS = [
    ("production=true", PRODUCTION),
    ("production=false", {"web-staging", "api-staging-failed"}),
    ("status=succeeded", {"web-prod", "web-staging", "web-eu", "admin-prod", "api-cause", "api-fix"}),
    (
        "status=succeeded&status=rolled_back",
        {"web-prod", "web-rolled", "web-staging", "web-eu", "admin-prod", "api-cause", "api-fix"},
    ),
    ("status=failed,rolled_back", {"web-rolled", "web-failed", "api-staging-failed"}),
    ("status=failed&status=rolled_back,failed", {"web-rolled", "web-failed", "api-staging-failed"}),
    ("production=true&status=succeeded&status=rolled_back", PRODUCTION - {"web-failed"}),
    ("service=web", {"web-prod", "web-rolled", "web-failed", "web-staging", "web-eu"}),
    ("service=admin&service=api", {"admin-prod", "api-cause", "api-fix", "api-staging-failed"}),
    ("service=admin,api&production=true", {"admin-prod", "api-cause", "api-fix"}),
    ("service=admin, api&service=admin", {"admin-prod", "api-cause", "api-fix", "api-staging-failed"}),
    ("environment=production", {"web-prod", "web-rolled", "web-failed", "admin-prod", "api-cause", "api-fix"}),
    ("environment=production-eu,staging", {"web-staging", "web-eu", "api-staging-failed"}),
    ("team=Storefront", {"web-prod", "web-rolled", "web-failed", "web-staging", "web-eu", "admin-prod"}),
    ("team=Storefront&team=Platform&production=false", {"web-staging", "api-staging-failed"}),
    ("team=Platform,Storefront&service=api&status=succeeded", {"api-cause", "api-fix"}),
    ("team=Storefront&service=api", set()),
    ("failed_change=true", {"web-rolled", "web-failed", "api-cause"}),
    ("failed_change=true&production=true&status=succeeded,rolled_back", {"web-rolled", "api-cause"}),
    ("failed_change=false&production=true", {"web-prod", "web-eu", "admin-prod", "api-fix"}),
    ("remediates=true", {"api-fix"}),
    ("remediates=false&team=Platform", {"api-cause", "api-staging-failed"}),
    # Empty values filter nothing, as an empty single value always did.
    ("status=&service=&team=&environment=&production=", set(PRODUCTION) | {"web-staging", "api-staging-failed"}),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS)
def test_api_filters(api, deploys, query, expected):
    assert api_names(api, deploys, query) == expected


@pytest.mark.parametrize(("query", "expected"), FILTERS)
def test_page_filters(logged_in, deploys, query, expected):
    assert page_names(logged_in, deploys, query) == expected


BAD = [
    ("production=perhaps", "production"),
    ("production=1", "production"),
    ("status=succeeded,exploded", "status"),
    ("status=succeeded&status=exploded", "status"),
    ("service=web,nope", "service"),
    ("service=web&service=nope", "service"),
    ("environment=production,moon", "environment"),
    ("team=Storefront,Nobody", "team"),
    ("team=storefront", "team"),  # as written on the services
    ("failed_change=yes", "failed_change"),
    ("remediates=maybe", "remediates"),
    ("team=%00", "team"),
    ("service=%00", "service"),
    ("status=%00", "status"),
    ("environment=web%00", "environment"),
]


@pytest.mark.parametrize(("query", "field"), BAD)
def test_bad_values_are_a_400_naming_the_parameter(api, deploys, query, field):
    response = api.get(f"/api/deploys/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize(("query", "field"), BAD)
def test_bad_values_are_a_form_error_on_the_page_not_a_500(logged_in, deploys, query, field):
    response = logged_in.get(f"/deploys/?{query}")

    assert response.status_code == 200
    assert list(response.context["filter"].errors) == [field]
    assert list(response.context["page"]) == []
    assert f"<p>{field}: " in response.content.decode()


def test_an_unknown_slug_or_team_is_named_in_the_error(api, deploys):
    assert api.get("/api/deploys/?service=web,nope").json() == {
        "service": ["Select a valid choice. nope is not one of the available choices."]
    }
    assert api.get("/api/deploys/?team=Storefront,Nobody").json() == {
        "team": ["Select a valid choice. Nobody is not one of the teams."]
    }


def test_a_team_with_a_comma_in_its_name_can_be_asked_for(api):
    ranking = DeployFactory(service=ServiceFactory(slug="ranking", dev_team="Search, Ranking"))
    DeployFactory(service=ServiceFactory(slug="web", dev_team="Search"))

    assert [d["id"] for d in api.get("/api/deploys/", {"team": "Search, Ranking"}).json()["results"]] == [ranking.pk]
    assert len(api.get("/api/deploys/", {"team": ["Search", "Search, Ranking"]}).json()["results"]) == 2
    # A value that isn't a team's name is split at its commas.
    assert len(api.get("/api/deploys/", {"team": "Search,Search"}).json()["results"]) == 1


def test_a_dict_with_one_value_works_too(deploys):
    filterset = DeployFilter({"status": "rolled_back", "team": "Storefront"}, queryset=Deploy.objects.all())

    assert filterset.is_valid(), filterset.errors
    assert list(filterset.qs) == [deploys["web-rolled"]]


# --- The page --------------------------------------------------------------------------------------


def active_filters(html: str) -> str | None:
    match = re.search(r'<p class="active-filters">(.*?)</p>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", match[1]).split()) if match else None


def test_the_page_says_which_filters_it_cannot_show_as_fields(logged_in, deploys):
    html = logged_in.get(
        "/deploys/?since=2024-03-01&until=2024-03-31&team=Storefront&service=web"
        "&production=true&status=succeeded&status=rolled_back"
    ).content.decode()

    assert active_filters(html) == (
        "Showing production deploys that succeeded or were rolled back, team Storefront, "
        "from 1 Mar 2024 to 31 Mar 2024. Clear"
    )
    # "Clear" keeps what the form shows (the service) and drops the rest.
    clear = re.search(r'<p class="active-filters">.*?<a href="([^"]+)"', html, re.S)[1]
    assert unescape(clear) == "/deploys/?service=web"


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("team=Storefront,Platform", "Showing deploys, teams Storefront and Platform."),
        ("production=false&status=failed", "Showing deploys outside production that failed."),
        (
            "failed_change=true&production=true",
            "Showing production deploys that caused an incident or were rolled back.",
        ),
        (
            "remediates=true&status=succeeded,failed,rolled_back",
            "Showing deploys that succeeded, failed or were rolled back and were made to fix an incident.",
        ),
        (
            "since=2024-03-10T12:00:00Z&until=2024-03-11T00:00:00%2B01:00",
            "Showing deploys, from 2024-03-10 12:00:00 UTC until just before 2024-03-10 23:00:00 UTC.",
        ),
    ],
)
def test_the_line_in_words(logged_in, deploys, query, text):
    html = logged_in.get(f"/deploys/?{query}").content.decode()

    assert active_filters(html) == f"{text} Clear"


def test_no_line_without_such_filters_or_with_errors(logged_in, deploys):
    assert active_filters(logged_in.get("/deploys/").content.decode()) is None
    assert active_filters(logged_in.get("/deploys/?service=web&environment=production").content.decode()) is None
    assert active_filters(logged_in.get("/deploys/?team=Nobody").content.decode()) is None


def test_the_form_keeps_the_filters_it_has_no_field_for(logged_in, deploys):
    query = "service=web&team=Storefront&status=succeeded,rolled_back&production=true"
    html = logged_in.get(f"/deploys/?{query}").content.decode()

    form = re.search(r'<form class="filters".*?</form>', html, re.S)[0]
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    assert hidden == [("team", "Storefront"), ("production", "true"), ("status", "succeeded,rolled_back")]
    assert 'name="service"' in form and '<input type="hidden" name="service"' not in form


def test_the_service_field_is_a_dropdown_and_shows_several_services_when_given(logged_in, deploys):
    one = logged_in.get("/deploys/?service=web").content.decode()
    two = logged_in.get("/deploys/?service=web,api").content.decode()

    one_select = re.search(r'<select name="service"[^>]*>.*?</select>', one, re.S)[0]
    two_select = re.search(r'<select name="service"[^>]*>.*?</select>', two, re.S)[0]
    assert "multiple" not in one_select.split(">")[0]
    assert '<option value="">All services</option>' in one_select
    assert re.findall(r'<option value="(\w+)" selected>', one_select) == ["web"]
    assert "multiple" in two_select.split(">")[0]
    assert re.findall(r'<option value="(\w+)" selected>', two_select) == ["api", "web"]
    nothing = logged_in.get("/deploys/").content.decode()
    assert '<option value="" selected>All services</option>' in nothing
    assert '<option value="" selected>All environments</option>' in nothing


# --- Queries and the schema ----------------------------------------------------------------------

ALL_NEW = (
    "service=web,admin,api&team=Storefront,Platform&environment=production,production-eu&production=true"
    "&status=succeeded&status=rolled_back&failed_change=false&remediates=false&since=2024-03-01&until=2024-03-31"
)


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_rows_or_values(api, logged_in, deploys):
    few_api, few_page = count_queries(api, f"/api/deploys/?{ALL_NEW}"), count_queries(logged_in, f"/deploys/?{ALL_NEW}")
    for n in range(30):
        deploy = DeployFactory(
            service=ServiceFactory(dev_team="Platform"),
            environment=EnvironmentFactory(slug="production"),
            deployed_at=DAY,
        )
        IncidentDeployFactory(deploy=deploy, relation="remediation" if n % 2 else "cause")
    assert count_queries(api, f"/api/deploys/?{ALL_NEW}") == few_api
    assert count_queries(logged_in, f"/deploys/?{ALL_NEW}") == few_page
    # One query checks each list of slugs or teams, whatever its length.
    assert count_queries(api, "/api/deploys/?service=web") == count_queries(api, "/api/deploys/?service=web,admin")
    teams = "/api/deploys/?team=Platform"
    assert count_queries(api, teams) == count_queries(api, f"{teams},Storefront")
    # A filter without a list to check costs no query.
    page = "/deploys/?environment=production"
    assert count_queries(logged_in, page) == count_queries(logged_in, f"{page}&production=true&failed_change=true")


def test_the_schema_describes_the_new_parameters(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/deploys/"]["get"]["parameters"]}

    for name in ("service", "environment", "team", "status"):
        assert parameters[name]["schema"]["type"] == "array", name
        assert parameters[name]["explode"] is True, name
    assert parameters["status"]["schema"]["items"]["enum"] == ["failed", "rolled_back", "succeeded"]
    for name in ("production", "failed_change", "remediates"):
        assert parameters[name]["schema"] == {"type": "string", "enum": ["false", "true"]}, name
