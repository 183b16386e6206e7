import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from deploys.factories import DeployCommitFactory, DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import Deploy, DeployCommit, Environment, Service

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def payload(**overrides):
    data = {
        "service": "web",
        "environment": "production",
        "version": "25145",
        "previous_version": "25134",
        "deployer": "sandrews",
        "message": "Production Deploy",
        "deployed_at": "2010-05-18T22:20:50Z",
        "duration_seconds": 34.9,
        "diff_url": "https://git.example.com/acme/web/compare/25134...25145",
        "external_id": "ci-run-1",
    }
    data.update(overrides)
    return data


def test_post_creates_a_deploy_and_returns_every_field(api):
    response = api.post(
        "/api/deploys/",
        payload(commits=[{"sha": "a" * 40, "authored_at": "2010-05-18T20:00:00+02:00", "message": "Fix"}]),
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    deploy = Deploy.objects.get()
    assert body["id"] == deploy.pk
    assert body["url"].endswith(f"/api/deploys/{deploy.pk}/")
    assert body["html_url"].endswith(f"/deploys/{deploy.pk}/")
    assert body["service"] == "web"
    assert body["environment"] == "production"
    assert body["production"] is True
    assert body["version"] == "25145"
    assert body["previous_version"] == "25134"
    assert body["deployer"] == "sandrews"
    assert body["deployed_at"] == "2010-05-18T22:20:50Z"
    assert body["duration_seconds"] == 34.9
    assert body["status"] == "succeeded"
    assert body["external_id"] == "ci-run-1"
    assert body["commits"] == [{"sha": "a" * 40, "authored_at": "2010-05-18T18:00:00Z", "message": "Fix"}]
    assert deploy.deployed_at == dt.datetime(2010, 5, 18, 22, 20, 50, tzinfo=UTC)
    assert deploy.commits.get().authored_at == dt.datetime(2010, 5, 18, 18, 0, tzinfo=UTC)


def test_unknown_service_and_environment_are_created_and_not_production(api):
    response = api.post("/api/deploys/", payload(service="Search", environment="Princess"), format="json")

    assert response.status_code == 201
    assert Service.objects.filter(slug="search").exists()
    princess = Environment.objects.get(slug="princess")
    assert princess.is_production is False
    assert response.json()["production"] is False


def test_default_environments_exist_and_only_production_counts():
    assert dict(Environment.objects.values_list("slug", "is_production")) == {
        "qa": False,
        "staging": False,
        "production": True,
    }


def test_repeat_with_same_external_id_returns_existing_deploy(api):
    first = api.post("/api/deploys/", payload(), format="json")
    again = api.post("/api/deploys/", payload(version="99999"), format="json")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["version"] == "25145"
    assert Deploy.objects.count() == 1


def test_same_external_id_for_another_service_is_another_deploy(api):
    api.post("/api/deploys/", payload(), format="json")
    response = api.post("/api/deploys/", payload(service="api"), format="json")

    assert response.status_code == 201
    assert Deploy.objects.count() == 2


def test_omitted_previous_version_comes_from_latest_earlier_successful_deploy(api):
    web = ServiceFactory(slug="web")
    production = EnvironmentFactory(slug="production")
    staging = EnvironmentFactory(slug="staging")
    at = dt.datetime(2010, 5, 18, 12, tzinfo=UTC)
    DeployFactory(service=web, environment=production, version="100", deployed_at=at - dt.timedelta(hours=3))
    DeployFactory(service=web, environment=production, version="101", deployed_at=at - dt.timedelta(hours=2))
    DeployFactory(  # never went live
        service=web, environment=production, version="102", status="failed", deployed_at=at - dt.timedelta(hours=1)
    )
    DeployFactory(service=web, environment=staging, version="103", deployed_at=at - dt.timedelta(minutes=30))
    DeployFactory(service=web, environment=production, version="104", deployed_at=at + dt.timedelta(hours=1))
    DeployFactory(environment=production, version="105", deployed_at=at - dt.timedelta(minutes=5))

    data = payload(version="110", deployed_at="2010-05-18T12:00:00Z")
    del data["previous_version"]
    response = api.post("/api/deploys/", data, format="json")

    assert response.status_code == 201
    assert response.json()["previous_version"] == "101"


def test_first_deploy_of_a_service_has_no_previous_version(api):
    data = payload()
    del data["previous_version"]
    response = api.post("/api/deploys/", data, format="json")

    assert response.json()["previous_version"] == ""


def test_deployed_at_defaults_to_now(api):
    data = payload()
    del data["deployed_at"]
    before = dt.datetime.now(UTC)
    response = api.post("/api/deploys/", data, format="json")

    deployed_at = Deploy.objects.get(pk=response.json()["id"]).deployed_at
    assert before <= deployed_at <= dt.datetime.now(UTC)


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"status": "exploded"}, "status", "not a valid choice"),
        ({"deployed_at": "yesterday-ish"}, "deployed_at", "wrong format"),
        ({"deployed_at": "2010-05-18T22:20:50"}, "deployed_at", "UTC offset"),
        ({"deployed_at": "2010-02-30T10:00:00Z"}, "deployed_at", "wrong format"),
        ({"version": ""}, "version", "may not be blank"),
        ({"deployer": None}, "deployer", "may not be null"),
        ({"duration_seconds": -3}, "duration_seconds", "greater than or equal to 0"),
        ({"duration_seconds": "fast"}, "duration_seconds", "valid number"),
        ({"diff_url": "not a url"}, "diff_url", "valid URL"),
        ({"service": "web app!"}, "service", "lowercase letters"),
        ({"environment": ""}, "environment", "may not be blank"),
        ({"commits": [{"authored_at": "2010-05-18T22:20:50Z"}]}, "commits", "required"),
        ({"commits": [{"sha": "abc", "authored_at": "2010-05-18 22:20"}]}, "commits", "UTC offset"),
        ({"external_id": "x" * 201}, "external_id", "no more than 200"),
        ({"deployed_at": "9999-12-31T23:30:00Z"}, "deployed_at", "between 1970 and 2999"),
        ({"deployed_at": "2999-01-01T00:00:00Z"}, "deployed_at", "in the future"),
        ({"deployer": "a\nBcc: x@example.com"}, "deployer", "single line"),
        ({"version": "1\r2"}, "version", "single line"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, overrides, field, fragment):
    response = api.post("/api/deploys/", payload(**overrides), format="json")

    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert fragment in str(body[field])
    assert Deploy.objects.count() == 0


def test_missing_version_is_a_400(api):
    data = payload()
    del data["version"]
    response = api.post("/api/deploys/", data, format="json")

    assert response.status_code == 400
    assert response.json() == {"version": ["This field is required."]}


def test_malformed_json_is_a_400(api):
    response = api.post("/api/deploys/", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_list_body_for_single_create_is_a_400_not_a_500(api):
    response = api.post("/api/deploys/", [payload()], format="json")

    assert response.status_code == 400


def test_api_requires_a_token(client):
    response = APIClient().post("/api/deploys/", payload(), format="json")

    assert response.status_code == 401
    assert Deploy.objects.count() == 0


def test_a_wrong_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")

    assert client.get("/api/deploys/").status_code == 401


def test_list_is_newest_first_and_paginated(api):
    base = dt.datetime(2024, 1, 1, tzinfo=UTC)
    for hour in range(60):
        DeployFactory(version=f"v{hour}", deployed_at=base + dt.timedelta(hours=hour))

    first = api.get("/api/deploys/").json()
    second = api.get(first["next"]).json()

    assert first["count"] == 60
    assert [d["version"] for d in first["results"]] == [f"v{h}" for h in range(59, 9, -1)]
    assert [d["version"] for d in second["results"]] == [f"v{h}" for h in range(9, -1, -1)]
    assert second["next"] is None
    assert len(api.get("/api/deploys/?page_size=7").json()["results"]) == 7


@pytest.fixture
def varied_deploys():
    web, search = ServiceFactory(slug="web"), ServiceFactory(slug="search")
    production, staging = EnvironmentFactory(slug="production"), EnvironmentFactory(slug="staging")
    day = dt.datetime(2024, 3, 10, 12, tzinfo=UTC)
    return {
        "web-prod": DeployFactory(service=web, environment=production, deployer="alice", deployed_at=day),
        "web-staging": DeployFactory(
            service=web, environment=staging, deployer="bob", deployed_at=day - dt.timedelta(days=1)
        ),
        "search-prod-failed": DeployFactory(
            service=search,
            environment=production,
            deployer="alice",
            status="failed",
            deployed_at=day - dt.timedelta(days=2),
        ),
        "search-prod-rolled": DeployFactory(
            service=search,
            environment=production,
            deployer="carol",
            status="rolled_back",
            deployed_at=day + dt.timedelta(days=1),
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("service=web", {"web-prod", "web-staging"}),
        ("environment=production", {"web-prod", "search-prod-failed", "search-prod-rolled"}),
        ("deployer=alice", {"web-prod", "search-prod-failed"}),
        ("status=rolled_back", {"search-prod-rolled"}),
        ("since=2024-03-10T00:00:00Z", {"web-prod", "search-prod-rolled"}),
        ("until=2024-03-10T12:00:00Z", {"web-staging", "search-prod-failed"}),
        ("since=2024-03-09&until=2024-03-10", {"web-prod", "web-staging"}),
        ("service=search&environment=production&deployer=carol", {"search-prod-rolled"}),
    ],
)
def test_list_filters(api, varied_deploys, query, expected):
    ids = {d["id"] for d in api.get(f"/api/deploys/?{query}").json()["results"]}

    assert ids == {varied_deploys[name].pk for name in expected}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=exploded", "status"),
        ("service=nope", "service"),
        ("since=last-tuesday", "since"),
        ("until=2024-03-10T12:00:00", "until"),
        ("until=9999-12-31", "until"),
        ("since=9999-12-31T23:59:59-05:00", "since"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(api, varied_deploys, query, field):
    response = api.get(f"/api/deploys/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_retrieve_one_deploy(api):
    deploy = DeployFactory(version="777")
    DeployCommitFactory(deploy=deploy, sha="b" * 40)

    body = api.get(f"/api/deploys/{deploy.pk}/").json()

    assert body["version"] == "777"
    assert [c["sha"] for c in body["commits"]] == ["b" * 40]
    assert api.get("/api/deploys/999999/").status_code == 404


def _list_queries(api, url):
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow_with_rows(api, django_assert_max_num_queries):
    for _ in range(3):
        DeployCommitFactory(deploy=DeployFactory(service=ServiceFactory()))
    few = _list_queries(api, "/api/deploys/?page_size=100")
    for n in range(40):
        deploy = DeployFactory(service=ServiceFactory(), environment=EnvironmentFactory(slug=f"env{n % 3}"))
        DeployCommitFactory.create_batch(2, deploy=deploy)
    many = _list_queries(api, "/api/deploys/?page_size=100")

    assert many == few
    with django_assert_max_num_queries(5):
        api.get("/api/deploys/?page_size=100")


def test_bulk_creates_all_and_fills_previous_versions_in_order(api):
    items = [
        payload(version=str(v), external_id=f"bulk-{v}", deployed_at=f"2010-05-18T1{v - 100}:00:00Z")
        for v in (100, 101, 102)
    ]
    for item in items:
        del item["previous_version"]
    items[1]["status"] = "failed"

    response = api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["existing"]) == (3, 0)
    assert [d["version"] for d in body["deploys"]] == ["100", "101", "102"]
    assert [d["previous_version"] for d in body["deploys"]] == ["", "100", "100"]
    assert Deploy.objects.count() == 3


def test_bulk_previous_version_interleaves_with_stored_deploys(api):
    web, production = ServiceFactory(slug="web"), EnvironmentFactory(slug="production")
    DeployFactory(service=web, environment=production, version="A", deployed_at=dt.datetime(2010, 1, 1, tzinfo=UTC))
    DeployFactory(service=web, environment=production, version="C", deployed_at=dt.datetime(2010, 1, 3, tzinfo=UTC))
    items = [
        payload(version=v, external_id=v, deployed_at=at)
        for v, at in (("B", "2010-01-02T00:00:00Z"), ("D", "2010-01-04T00:00:00Z"))
    ]
    for item in items:
        del item["previous_version"]

    body = api.post("/api/deploys/bulk/", {"deploys": items}, format="json").json()

    assert [d["previous_version"] for d in body["deploys"]] == ["A", "C"]


def test_bulk_repeat_returns_existing_and_doubles_nothing(api):
    items = [payload(version=str(v), external_id=f"bulk-{v}") for v in range(5)]
    api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    again = api.post("/api/deploys/bulk/", {"deploys": items + [payload(external_id="new-one")]}, format="json")

    assert again.status_code == 201
    assert (again.json()["created"], again.json()["existing"]) == (1, 5)
    assert Deploy.objects.count() == 6


def test_bulk_is_all_or_nothing(api):
    items = [payload(external_id=f"ok-{n}") for n in range(4)]
    items.append(payload(external_id="bad", deployed_at="2010-05-18 22:20:50"))

    response = api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    assert response.status_code == 400
    errors = response.json()["deploys"]
    assert list(errors) == ["4"]
    assert "UTC offset" in errors["4"]["deployed_at"][0]
    assert Deploy.objects.count() == 0
    assert Service.objects.count() == 0


def test_bulk_rejects_more_than_1000(api):
    items = [payload(external_id=str(n)) for n in range(1001)]

    response = api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    assert response.status_code == 400
    assert "no more than 1000" in str(response.json()["deploys"])
    assert Deploy.objects.count() == 0


def test_bulk_accepts_exactly_1000(api):
    items = [payload(external_id=str(n), version=str(n)) for n in range(1000)]

    response = api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    assert response.status_code == 201
    assert Deploy.objects.count() == 1000


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"deploys": []}, "may not be empty"),
        ({}, "required"),
        ({"deploys": "lots"}, "Expected a list"),
    ],
)
def test_bulk_bad_shapes_are_400(api, body, fragment):
    response = api.post("/api/deploys/bulk/", body, format="json")

    assert response.status_code == 400
    assert fragment in str(response.json()["deploys"])


def test_bulk_rejects_a_repeated_external_id_within_the_request(api):
    items = [payload(external_id="same", version="1"), payload(external_id="same", version="2")]

    response = api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    assert response.status_code == 400
    assert "item 0" in response.json()["deploys"]["1"]["external_id"][0]
    assert Deploy.objects.count() == 0


def test_commits_are_stored_once_per_sha(api):
    sha = "c" * 40
    response = api.post(
        "/api/deploys/", payload(commits=[{"sha": sha}, {"sha": sha}, {"sha": "d" * 40}]), format="json"
    )

    assert response.status_code == 201
    assert DeployCommit.objects.count() == 2
