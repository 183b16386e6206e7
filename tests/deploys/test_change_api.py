import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from deploys.api.serializers import ChangeRecordInputSerializer
from deploys.factories import ChangeRecordFactory, DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import ChangeRecord, Deploy
from deploys.services import CHANGE_RECORD_FIELDS
from tests.support.times import iso

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def web():
    return ServiceFactory(slug="web")


def payload(**overrides):
    data = {
        "title": "Add an index to orders.created_at",
        "kind": "schema",
        "service": "web",
        "owner": "sandrews",
        "planned_at": "2010-05-18T22:00:00+02:00",
        "description": "`CREATE INDEX CONCURRENTLY` on **orders**.",
        "done_before": "Yes, on listings last quarter.",
        "failure_impact": "Writes to orders lock; checkout stalls.",
        "failure_response": "Cancel the migration and drop the half-built index.",
    }
    data.update(overrides)
    return data


def deploy_payload(**overrides):
    data = {
        "service": "web",
        "environment": "production",
        "version": "25145",
        "deployer": "sandrews",
        "deployed_at": "2010-05-18T22:20:50Z",
    }
    data.update(overrides)
    return data


# --- Create and read ----------------------------------------------------------------------------


def test_post_records_a_change_and_returns_every_field(api, user, web):
    response = api.post("/api/changes/", payload(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    record = ChangeRecord.objects.get()
    assert list(body) == [
        "id",
        "url",
        "html_url",
        "title",
        "kind",
        "kind_label",
        "service",
        "owner",
        "planned_at",
        "description",
        "description_html",
        "done_before",
        "failure_impact",
        "failure_response",
        "deploys",
        "created_at",
        "created_by",
    ]
    assert body["id"] == record.pk
    assert body["url"] == f"http://testserver/api/changes/{record.pk}/"
    assert body["html_url"] == f"http://testserver/deploys/changes/{record.pk}/"
    assert (body["title"], body["kind"], body["kind_label"]) == (
        "Add an index to orders.created_at",
        "schema",
        "Schema change",
    )
    assert (body["service"], body["owner"]) == ("web", "sandrews")
    assert body["planned_at"] == "2010-05-18T20:00:00Z"
    assert body["description_html"] == "<p><code>CREATE INDEX CONCURRENTLY</code> on <strong>orders</strong>.</p>"
    assert body["done_before"] == "Yes, on listings last quarter."
    assert body["failure_impact"] == "Writes to orders lock; checkout stalls."
    assert body["failure_response"] == "Cancel the migration and drop the half-built index."
    assert body["deploys"] == []
    assert (body["created_at"], body["created_by"]) == (iso(record.created_at), "ekastner")
    assert (record.created_by, record.service) == (user, web)
    assert record.planned_at == dt.datetime(2010, 5, 18, 20, tzinfo=UTC)


def test_defaults(api):
    before = timezone.now()
    body = api.post(
        "/api/changes/",
        {
            "title": "Move images to the new bucket",
            "owner": "jallen",
            "done_before": "No.",
            "failure_impact": "Broken images.",
            "failure_response": "Point back to the old bucket.",
        },
        format="json",
    ).json()

    record = ChangeRecord.objects.get()
    assert (body["kind"], body["service"], body["description"], body["description_html"]) == ("other", None, "", "")
    assert before <= record.planned_at <= timezone.now()


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"title": ""}, "title", "may not be blank"),
        ({"title": "x" * 201}, "title", "no more than 200"),
        ({"title": "Index\nBcc: x@example.com"}, "title", "single line"),
        ({"kind": "risky"}, "kind", "not a valid choice"),
        ({"service": "nope"}, "service", 'No service with slug "nope".'),
        ({"owner": ""}, "owner", "may not be blank"),
        ({"planned_at": "2010-05-18 22:00"}, "planned_at", "UTC offset"),
        ({"planned_at": "9999-01-01T00:00:00Z"}, "planned_at", "between 1970 and 2999"),
        ({"planned_at": "soon"}, "planned_at", "wrong format"),
        ({"done_before": ""}, "done_before", "may not be blank"),
        ({"failure_impact": "  "}, "failure_impact", "may not be blank"),
        ({"failure_response": None}, "failure_response", "may not be null"),
        ({"deploys": [1]}, "deploys", "/change-record/"),
        ({"created_by": "x"}, "created_by", "read-only"),
        ({"id": 3}, "id", "read-only"),
        ({"titel": "x"}, "titel", "Unknown field."),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, web, overrides, field, fragment):
    response = api.post("/api/changes/", payload(**overrides), format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert fragment in str(response.json()[field])
    assert ChangeRecord.objects.count() == 0


def test_the_four_questions_are_required(api):
    response = api.post("/api/changes/", {"title": "Drop a column"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "owner": ["This field is required."],
        "done_before": ["This field is required."],
        "failure_impact": ["This field is required."],
        "failure_response": ["This field is required."],
    }


def test_service_slugs_are_matched_case_insensitively(api, web):
    assert api.post("/api/changes/", payload(service=" Web "), format="json").json()["service"] == "web"


def test_malformed_bodies_are_a_400_not_a_500(api):
    record = ChangeRecordFactory()

    assert api.post("/api/changes/", "{not json", content_type="application/json").status_code == 400
    assert api.post("/api/changes/", [payload()], format="json").status_code == 400
    assert api.patch(f"/api/changes/{record.pk}/", [1], format="json").status_code == 400


def test_input_takes_exactly_the_fields_the_service_can_write():
    assert set(ChangeRecordInputSerializer().fields) == set(CHANGE_RECORD_FIELDS)


def test_retrieve_shows_the_deploys_that_shipped_it(api, web):
    record = ChangeRecordFactory(service=web)
    older = DeployFactory(service=web, change_record=record, deployed_at=timezone.now() - dt.timedelta(days=1))
    newer = DeployFactory(service=web, environment=EnvironmentFactory(slug="staging"), change_record=record)
    DeployFactory(service=web)

    body = api.get(f"/api/changes/{record.pk}/").json()

    assert [d["id"] for d in body["deploys"]] == [newer.pk, older.pk]
    assert body["deploys"][0] == {
        "id": newer.pk,
        "url": f"http://testserver/api/deploys/{newer.pk}/",
        "service": "web",
        "environment": "staging",
        "version": newer.version,
        "deployed_at": iso(newer.deployed_at),
    }
    assert api.get("/api/changes/999999/").status_code == 404
    assert api.get("/api/changes/abc/").status_code == 404


# --- Change -------------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(api, web):
    record = ChangeRecordFactory(service=web, title="Before", kind="schema")

    response = api.patch(
        f"/api/changes/{record.pk}/", {"title": "After", "done_before": "Twice, on staging."}, format="json"
    )

    assert response.status_code == 200, response.content
    record.refresh_from_db()
    assert (record.title, record.done_before, record.kind, record.service) == (
        "After",
        "Twice, on staging.",
        "schema",
        web,
    )
    assert response.json()["title"] == "After"
    cleared = api.patch(f"/api/changes/{record.pk}/", {"service": None}, format="json")
    assert cleared.json()["service"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"done_before": ""}, "done_before"),
        ({"service": "nope"}, "service"),
        ({"planned_at": "2010-05-18T22:00:00"}, "planned_at"),
        ({"deploys": []}, "deploys"),
    ],
)
def test_bad_patch_is_a_400_and_saves_nothing(api, changes, field):
    record = ChangeRecordFactory(title="Before")

    response = api.patch(f"/api/changes/{record.pk}/", {"title": "After", **changes}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert ChangeRecord.objects.get().title == "Before"


def test_put_and_delete_are_not_offered(api):
    record = ChangeRecordFactory()

    assert api.put(f"/api/changes/{record.pk}/", payload(), format="json").status_code == 405
    assert api.delete(f"/api/changes/{record.pk}/").status_code == 405
    assert api.patch("/api/changes/999999/", {"title": "x"}, format="json").status_code == 404


# --- List ---------------------------------------------------------------------------------------


@pytest.fixture
def varied(web):
    search = ServiceFactory(slug="search")

    def on(day, hour=12):
        return dt.datetime(2024, 7, day, hour, tzinfo=UTC)

    return {
        "web-schema": ChangeRecordFactory(service=web, kind="schema", owner="sandrews", planned_at=on(1)),
        "web-feature": ChangeRecordFactory(service=web, kind="feature", owner="jallen", planned_at=on(2)),
        "search-storage": ChangeRecordFactory(service=search, kind="storage", owner="SAndrews", planned_at=on(3, 23)),
        "no-service": ChangeRecordFactory(service=None, kind="other", owner="ops", planned_at=on(4)),
    }


def _names(varied, api, query=""):
    response = api.get(f"/api/changes/?{query}")
    assert response.status_code == 200, response.content
    by_id = {r.pk: name for name, r in varied.items()}
    return [by_id[item["id"]] for item in response.json()["results"]]


def test_list_is_latest_planned_first(api, varied):
    assert _names(varied, api) == ["no-service", "search-storage", "web-feature", "web-schema"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("service=web", {"web-schema", "web-feature"}),
        ("kind=storage", {"search-storage"}),
        ("owner=sandrews", {"web-schema", "search-storage"}),
        ("owner=%20JALLEN", {"web-feature"}),
        ("since=2024-07-03", {"search-storage", "no-service"}),
        ("until=2024-07-02", {"web-schema", "web-feature"}),
        ("since=2024-07-02T12:00:00Z&until=2024-07-03T23:00:00Z", {"web-feature"}),
        ("service=web&kind=schema", {"web-schema"}),
    ],
)
def test_list_filters(api, varied, query, expected):
    assert set(_names(varied, api, query)) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [("service=nope", "service"), ("kind=risky", "kind"), ("since=soon", "since"), ("until=2024-07-01T10:00", "until")],
)
def test_bad_filters_are_a_400_naming_the_parameter(api, varied, query, field):
    response = api.get(f"/api/changes/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def _queries(api, url):
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow_with_rows(api, user, django_assert_max_num_queries):
    def add(n):
        record = ChangeRecordFactory(service=ServiceFactory(), created_by=user)
        DeployFactory.create_batch(2, change_record=record, environment=EnvironmentFactory(slug=f"env{n % 3}"))

    for n in range(2):
        add(n)
    few = _queries(api, "/api/changes/?page_size=100")
    for n in range(25):
        add(n)
    many = _queries(api, "/api/changes/?page_size=100")

    assert many == few
    # Token, count, records (with services and authors), their deploys (with services and environments).
    with django_assert_max_num_queries(4):
        body = api.get("/api/changes/?page_size=100").json()
    assert body["count"] == 27
    assert all(len(item["deploys"]) == 2 for item in body["results"])


# --- Deploys and change records -----------------------------------------------------------------


def test_attach_and_detach_a_change_record(api, web):
    record = ChangeRecordFactory(service=web)
    deploy = DeployFactory(service=web)

    attached = api.post(f"/api/deploys/{deploy.pk}/change-record/", {"change_record": record.pk}, format="json")

    assert attached.status_code == 200, attached.content
    assert (attached.json()["id"], attached.json()["change_record"]) == (deploy.pk, record.pk)
    deploy.refresh_from_db()
    assert deploy.change_record == record
    assert [d["id"] for d in api.get(f"/api/changes/{record.pk}/").json()["deploys"]] == [deploy.pk]

    detached = api.post(f"/api/deploys/{deploy.pk}/change-record/", {"change_record": None}, format="json")

    assert detached.status_code == 200 and detached.json()["change_record"] is None
    deploy.refresh_from_db()
    assert deploy.change_record is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"change_record": 999999}, "No change record with id 999999."),
        ({"change_record": "abc"}, "Give the change record's id, a number, or null."),
        ({}, "This field is required."),
    ],
)
def test_attaching_an_unknown_change_record_is_a_400(api, body, message):
    deploy = DeployFactory()

    response = api.post(f"/api/deploys/{deploy.pk}/change-record/", body, format="json")

    assert response.status_code == 400
    assert response.json() == {"change_record": [message]}


def test_attaching_refuses_unknown_keys_and_unknown_deploys(api):
    record = ChangeRecordFactory()
    deploy = DeployFactory()

    extra = api.post(
        f"/api/deploys/{deploy.pk}/change-record/", {"change_record": record.pk, "note": "x"}, format="json"
    )
    missing = api.post("/api/deploys/999999/change-record/", {"change_record": record.pk}, format="json")

    assert extra.status_code == 400 and list(extra.json()) == ["note"]
    assert missing.status_code == 404
    assert Deploy.objects.get().change_record is None


def test_a_deploy_is_recorded_with_its_change_record(api, web):
    record = ChangeRecordFactory(service=web)

    response = api.post("/api/deploys/", deploy_payload(change_record=record.pk), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["change_record"] == record.pk
    assert Deploy.objects.get().change_record == record
    without = api.post("/api/deploys/", deploy_payload(version="25146"), format="json").json()
    assert without["change_record"] is None
    explicit_null = api.post("/api/deploys/", deploy_payload(version="25147", change_record=None), format="json")
    assert explicit_null.status_code == 201 and explicit_null.json()["change_record"] is None


@pytest.mark.parametrize(
    ("value", "message"),
    [(999999, "No change record with id 999999."), ("abc", "A valid integer is required.")],
)
def test_a_deploy_with_an_unknown_change_record_is_a_400(api, value, message):
    response = api.post("/api/deploys/", deploy_payload(change_record=value), format="json")

    assert response.status_code == 400
    assert response.json() == {"change_record": [message]}
    assert Deploy.objects.count() == 0


def test_bulk_deploys_take_change_records_and_look_each_one_up_once(api, web):
    record = ChangeRecordFactory(service=web)
    items = [deploy_payload(version=str(v), external_id=f"b-{v}", change_record=record.pk) for v in range(20)]
    items.append(deploy_payload(version="99", external_id="b-99"))

    with CaptureQueriesContext(connection) as ctx:
        response = api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    assert response.status_code == 201, response.content
    assert [d["change_record"] for d in response.json()["deploys"]] == [record.pk] * 20 + [None]
    assert Deploy.objects.filter(change_record=record).count() == 20
    lookups = [q for q in ctx.captured_queries if '"deploys_changerecord"' in q["sql"]]
    assert len(lookups) == 1


def test_bulk_with_an_unknown_change_record_names_the_item_and_stores_nothing(api):
    record = ChangeRecordFactory()
    items = [
        deploy_payload(version="1", external_id="1", change_record=record.pk),
        deploy_payload(version="2", external_id="2", change_record=424242),
    ]

    response = api.post("/api/deploys/bulk/", {"deploys": items}, format="json")

    assert response.status_code == 400
    assert response.json() == {"deploys": {"1": {"change_record": ["No change record with id 424242."]}}}
    assert Deploy.objects.count() == 0


def test_deploy_lists_show_the_change_record_without_extra_queries(api, django_assert_max_num_queries):
    for _ in range(10):
        DeployFactory(change_record=ChangeRecordFactory())
    DeployFactory()

    with django_assert_max_num_queries(5):
        body = api.get("/api/deploys/?page_size=100").json()

    assert sum(1 for d in body["results"] if d["change_record"] is not None) == 10


# --- Access and schema --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/changes/"),
        ("post", "/api/changes/"),
        ("get", "/api/changes/{id}/"),
        ("patch", "/api/changes/{id}/"),
        ("post", "/api/deploys/{deploy}/change-record/"),
    ],
)
def test_the_api_needs_a_token(method, path):
    record = ChangeRecordFactory(title="Before")
    deploy = DeployFactory()

    response = getattr(APIClient(), method)(
        path.format(id=record.pk, deploy=deploy.pk), payload(title="After", change_record=record.pk), format="json"
    )

    assert response.status_code == 401
    assert ChangeRecord.objects.get().title == "Before"
    assert Deploy.objects.get().change_record is None


def test_schema_describes_the_change_endpoints(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert {"/api/changes/", "/api/changes/{id}/", "/api/deploys/{id}/change-record/"} <= set(schema["paths"])
    assert set(schema["paths"]["/api/changes/{id}/"]) - {"parameters"} == {"get", "patch"}
    deploy_input = schema["components"]["schemas"]["DeployInputRequest"]["properties"]
    assert "change_record" in deploy_input
