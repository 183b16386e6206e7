"""POST /api/cdevents/: CDEvents v0.4 and v0.5 over CloudEvents HTTP, binary and structured mode."""

import datetime as dt
import json

import jsonschema
import pytest
from django.test import Client

from deploys.factories import DeployFactory
from deploys.models import Deploy, PushedCommit, Service
from deploys.services import ingest_token_create
from incidents.models import Incident
from incidents.selectors import suspect_deploys
from tests.support.concurrency import at_once
from tests.support.payloads import cdevents as ce

URL = "/api/cdevents/"


def post_binary(client, key, event, **header_overrides):
    headers, body = ce.binary(event, **header_overrides)
    content_type = headers.pop("content-type", "application/json")
    return client.generic(
        "POST", URL, body, content_type=content_type, headers={"Authorization": f"Token {key}", **headers}
    )


def post_structured(client, key, body: bytes):
    return client.generic(
        "POST", URL, body, content_type="application/cloudevents+json", headers={"Authorization": f"Token {key}"}
    )


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


# --- The fixtures against the spec ---------------------------------------------------------------------
# Schemas of our own, written from the CDEvents spec's published ones (github.com/cdevents/spec, tags
# v0.4.1 and v0.5.0, schemas/servicedeployed.json, incidentdetected.json, incidentreported.json,
# incidentresolved.json, changemerged.json): their required fields, types and closed objects, so the
# fixtures these tests post are events the spec allows.

_ID_SOURCE = {
    "type": "object",
    "properties": {"id": {"type": "string", "minLength": 1}, "source": {"type": "string", "minLength": 1}},
    "required": ["id"],
    "additionalProperties": False,
}
_CONTENT = {
    "service": (
        {"environment": _ID_SOURCE, "artifactId": {"type": "string", "minLength": 1}},
        ["environment", "artifactId"],
    ),
    "incident": (
        {
            "description": {"type": "string"},
            "environment": _ID_SOURCE,
            "ticketURI": {"type": "string", "minLength": 1},
            "service": _ID_SOURCE,
            "artifactId": {"type": "string", "minLength": 1},
        },
        ["environment"],
    ),
    "change": ({"repository": _ID_SOURCE}, []),
}


def spec_schema(spec: str, subject_type: str, predicate: str) -> dict:
    version_key = "version" if spec.startswith("0.4") else "specversion"
    properties, required = _CONTENT[subject_type]
    if (subject_type, predicate) == ("incident", "reported"):
        required = [*required, "ticketURI"]
    subject = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "source": {"type": "string", "minLength": 1},
            "content": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
        "required": ["id", "content"],
        "additionalProperties": False,
    }
    if spec.startswith("0.4"):
        subject["properties"]["type"] = {"enum": [subject_type]}
        subject["required"].append("type")
    text = {"type": "string", "minLength": 1}
    return {
        "type": "object",
        "properties": {
            "context": {
                "type": "object",
                "properties": {
                    version_key: text,
                    "id": text,
                    "source": text,
                    "type": {"const": f"dev.cdevents.{subject_type}.{predicate}.{ce.SPEC[spec]}"},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "schemaUri": text,
                    "chainId": text,
                    "links": {"type": "array"},
                },
                "required": [version_key, "id", "source", "type", "timestamp"],
                "additionalProperties": False,
            },
            "subject": subject,
            "customData": {"type": ["object", "string"]},
            "customDataContentType": {"type": "string"},
        },
        "required": ["context", "subject"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize("spec", ["0.4.1", "0.5.0"])
@pytest.mark.parametrize(
    ("subject_type", "predicate", "make"),
    [
        ("service", "deployed", lambda spec: ce.deployed(spec=spec)),
        ("service", "upgraded", lambda spec: ce.deployed(spec=spec, predicate="upgraded")),
        ("service", "rolledback", lambda spec: ce.deployed(spec=spec, predicate="rolledback")),
        ("incident", "detected", lambda spec: ce.incident("detected", spec=spec)),
        ("incident", "reported", lambda spec: ce.incident("reported", spec=spec)),
        ("incident", "resolved", lambda spec: ce.incident("resolved", spec=spec)),
        ("change", "merged", lambda spec: ce.change_merged("a" * 40, spec=spec, custom_data={"sha": "a" * 40})),
    ],
)
def test_the_fixtures_are_events_the_spec_allows(spec, subject_type, predicate, make):
    jsonschema.validate(make(spec), spec_schema(spec, subject_type, predicate))


def test_the_spec_schemas_refuse_what_the_endpoint_refuses():
    """The schemas above are strict enough to be worth checking against: the missing artifact the
    endpoint answers 400 breaks them too."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            _without(ce.deployed(), "subject", "content", "artifactId"), spec_schema("0.4.1", "service", "deployed")
        )


# --- Deploys -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("spec", ["0.4.1", "0.5.0"])
def test_service_deployed_in_binary_mode_records_a_deploy_once(client, ingest_key, spec):
    event = ce.deployed("checkout", "production", "1.4.2", spec=spec, timestamp="2026-12-01T10:00:00Z")

    first = post_binary(client, ingest_key, event)
    again = post_binary(client, ingest_key, event)

    assert first.status_code == 201, first.content
    assert again.status_code == 200
    assert first.json()["deploy"] == again.json()["deploy"]
    deploy = Deploy.objects.get()
    assert (deploy.service.slug, deploy.environment.slug, deploy.version) == ("checkout", "production", "1.4.2")
    assert deploy.deployed_at.isoformat() == "2026-12-01T10:00:00+00:00"


@pytest.mark.django_db
def test_service_upgraded_in_structured_mode_with_a_digest_version(client, token):
    event = ce.deployed("api", "staging", "sha256%3Aabc123", predicate="upgraded", spec="0.5.0")

    response = post_structured(client, token.key, ce.structured(event))

    assert response.status_code == 201, response.content
    assert Deploy.objects.get().version == "sha256:abc123"


@pytest.mark.django_db
def test_the_spec_conformance_event_shape_with_links_and_custom_data(client, ingest_key):
    """Shaped as CDEvents v0.5.0's conformance/service_deployed.json: chainId, schemaUri, links, a
    subject id that is a bare name, an environment with only its id, a digest version."""
    event = ce.deployed(spec="0.5.0")
    event["context"] |= {
        "chainId": "4c8cb7dd-3448-41de-8768-eec704e2829b",
        "schemaUri": "https://example.com/schema/custom",
        "links": [{"linkType": "RELATION", "linkKind": "TRIGGER", "target": {"contextId": "5328c37f"}}],
    }
    event["subject"] = {
        "id": "myApp",
        "source": "/event/source/123",
        "content": {"environment": {"id": "test123"}, "artifactId": "pkg:oci/myapp@sha256%3A0b31b1c0"},
    }
    event["customData"], event["customDataContentType"] = {"build": 7}, "application/json"

    response = post_structured(client, ingest_key, ce.structured(event))

    assert response.status_code == 201, response.content
    deploy = Deploy.objects.get()
    assert (deploy.service.slug, deploy.environment.slug, deploy.version) == ("myapp", "test123", "sha256:0b31b1c0")


@pytest.mark.django_db
def test_same_event_id_from_another_source_is_another_deploy(client, ingest_key):
    one = ce.deployed(version="1", event_id="42", source="/ci/a")
    two = ce.deployed(version="2", event_id="42", source="/ci/b")

    assert post_binary(client, ingest_key, one).status_code == 201
    assert post_binary(client, ingest_key, two).status_code == 201
    assert Deploy.objects.count() == 2


@pytest.mark.django_db
def test_rolledback_marks_the_replaced_deploy_rolled_back(client, ingest_key):
    post_binary(client, ingest_key, ce.deployed(version="1.0", timestamp="2026-12-01T09:00:00Z"))
    post_binary(client, ingest_key, ce.deployed(version="1.1", timestamp="2026-12-01T10:00:00Z"))

    response = post_binary(
        client, ingest_key, ce.deployed(version="1.0", predicate="rolledback", timestamp="2026-12-01T10:30:00Z")
    )

    assert response.status_code == 201, response.content
    assert response.json()["rollback"] is True
    by_version = {(d.version, d.deployed_at.minute): d.status for d in Deploy.objects.all()}
    assert by_version == {("1.0", 0): "succeeded", ("1.1", 0): "rolled_back", ("1.0", 30): "succeeded"}


# --- Incidents ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_incident_detected_then_resolved_is_one_incident_with_the_artifact_as_suspect(client, token):
    suspect = DeployFactory(
        service__slug="checkout", version="1.4.2", deployed_at=dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    )
    detected = ce.incident("detected", "incident/123", timestamp="2026-12-01T10:00:00Z")
    resolved = ce.incident("resolved", "incident/123", timestamp="2026-12-01T11:00:00Z")

    first = post_binary(client, token.key, detected)
    second = post_structured(client, token.key, ce.structured(resolved))

    assert first.status_code == 201, first.content
    assert second.status_code == 200, second.content
    incident = Incident.objects.get()
    assert incident.pk == first.json()["incident"] == second.json()["incident"]
    assert incident.detected_at.isoformat() == "2026-12-01T10:00:00+00:00"
    assert incident.resolved_at.isoformat() == "2026-12-01T11:00:00+00:00"
    assert incident.title == "Checkout answers 500s"
    assert list(suspect_deploys(incident)) == [suspect]
    assert list(incident.services.values_list("slug", flat=True)) == ["checkout"]


@pytest.mark.django_db
def test_incident_reported_needs_its_ticket_and_matches_another_subject_by_it(client, token):
    Service.objects.create(slug="checkout", name="checkout")
    missing = ce.incident("reported", "incident/9", content={"ticketURI": None})
    refused = post_binary(client, token.key, missing)
    first = post_binary(client, token.key, ce.incident("reported", "incident/9"))
    other_tool = post_binary(client, token.key, ce.incident("reported", "opsgenie/77"))

    assert refused.status_code == 400
    assert "subject.content.ticketURI" in refused.json()
    assert first.status_code == 201
    assert other_tool.status_code == 200
    assert Incident.objects.count() == 1


# --- Commits -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_change_merged_records_the_commit_before_its_deploy(client, ingest_key):
    sha = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"

    response = post_binary(client, ingest_key, ce.change_merged(sha, "checkout"))

    assert response.status_code == 201, response.content
    commit = PushedCommit.objects.get()
    assert (commit.service.slug, commit.sha) == ("checkout", sha)


# --- Refusals ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_unsupported_type_is_202_naming_the_supported_ones(client, ingest_key):
    event = ce.cdevent("pipelinerun", "finished", subject_id="run/1", content={"pipelineName": "ci"})

    response = post_binary(client, ingest_key, event)

    assert response.status_code == 202
    assert response.json()["ignored"] is True
    assert "dev.cdevents.service.deployed" in response.json()["supported"]
    assert Deploy.objects.count() == Incident.objects.count() == 0


def _without(event: dict, *path: str) -> dict:
    target = event
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return event


BAD_BINARY = [
    ("id", lambda: (ce.deployed(), {"ce-id": None})),
    ("specversion", lambda: (ce.deployed(), {"ce-specversion": "0.3"})),
    ("time", lambda: (ce.deployed(), {"ce-time": "yesterday"})),
    ("context.timestamp", lambda: (ce.deployed(timestamp="2026-13-45T10:00:00Z"), {"ce-time": None})),
    ("context.timestamp", lambda: (ce.deployed(timestamp="2026-12-01T10:00:00"), {"ce-time": None})),
    ("context.id", lambda: (_without(ce.deployed(), "context", "id"), {})),
    ("context.version", lambda: (_with(ce.deployed(), ("context", "version"), "0.3.0"), {})),
    ("context.specversion", lambda: (_with(ce.deployed(spec="0.5.0"), ("context", "specversion"), "0.6.0"), {})),
    ("context.specversion", lambda: (_without(ce.deployed(spec="0.5.0"), "context", "specversion"), {})),
    ("subject.id", lambda: (_without(ce.deployed(), "subject", "id"), {})),
    ("subject.content.environment", lambda: (_without(ce.deployed(), "subject", "content", "environment"), {})),
    ("subject.content.artifactId", lambda: (_without(ce.deployed(), "subject", "content", "artifactId"), {})),
    (
        "subject.content.artifactId",
        lambda: (_with(ce.deployed(), ("subject", "content", "artifactId"), "pkg:oci/x"), {}),
    ),
    ("subject.content.environment.id", lambda: (_with(ce.deployed(), ("subject", "content", "environment"), {}), {})),
    (
        "subject.content.environment",
        lambda: (_without(ce.incident("detected"), "subject", "content", "environment"), {}),
    ),
]


def _with(event: dict, path: tuple, value) -> dict:
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return event


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "make"), BAD_BINARY, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_BINARY)])
def test_a_malformed_event_is_a_400_naming_the_field_and_stores_nothing(client, ingest_key, field, make):
    event, overrides = make()

    response = post_binary(client, ingest_key, event, **overrides)

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert Deploy.objects.count() == 0
    assert Service.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "overrides"),
    [("specversion", {"specversion": "0.3"}), ("id", {"id": None}), ("time", {"time": "not a time"})],
)
def test_a_malformed_structured_event_is_a_400_naming_the_field(client, ingest_key, field, overrides):
    response = post_structured(client, ingest_key, ce.structured(ce.deployed(), **overrides))

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Deploy.objects.count() == 0


@pytest.mark.django_db
def test_tokens_are_answered_as_the_deploy_api_answers_them(client, viewer):
    from tests.support.tokens import api_token

    event = ce.deployed()
    wrong = post_binary(client, "oli_not-a-token", event)
    unknown = post_binary(client, "0123456789abcdef", event)
    nothing = client.generic("POST", URL, ce.binary(event)[1], content_type="application/json")
    read_only = post_binary(client, api_token(viewer).key, event)

    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Invalid or revoked ingest token."}
    assert unknown.status_code == 401
    assert nothing.status_code in (401, 403)
    assert read_only.status_code == 403
    assert Deploy.objects.count() == 0


@pytest.mark.django_db
def test_a_scoped_token_may_post_only_its_services(client):
    mine = Service.objects.create(slug="mine", name="mine")
    _, key = ingest_token_create(name="scoped", services=[mine])

    foreign = post_binary(client, key, ce.deployed("theirs"))
    own = post_binary(client, key, ce.deployed("mine"))
    foreign_commit = post_binary(client, key, ce.change_merged("a" * 40, "theirs"))

    assert foreign.status_code == 403
    assert "theirs" in foreign.json()["detail"]
    assert own.status_code == 201
    assert foreign_commit.status_code == 403
    assert not Service.objects.filter(slug="theirs").exists()


@pytest.mark.django_db
def test_a_scoped_token_reports_incidents_of_its_services_only(client):
    mine = Service.objects.create(slug="mine", name="mine")
    Service.objects.create(slug="checkout", name="checkout")
    _, key = ingest_token_create(name="scoped", services=[mine])
    theirs = ce.incident("detected", "incident/1")
    own = ce.incident("detected", "incident/2", content={"service": {"id": "mine"}, "artifactId": "pkg:oci/mine@2"})

    assert post_binary(client, key, theirs).status_code == 403
    assert post_binary(client, key, own).status_code == 201
    assert list(Incident.objects.values_list("external_id", flat=True)) == ["incident/2"]


@pytest.mark.django_db
def test_an_incident_in_the_future_is_a_400_naming_the_timestamp(client, token):
    response = post_binary(client, token.key, ce.incident("detected", timestamp="2999-01-01T00:00:00Z"))

    assert response.status_code == 400
    assert "context.timestamp" in response.json(), response.json()
    assert Incident.objects.count() == 0


@pytest.mark.django_db
def test_an_unknown_service_needs_a_token_that_may_create_services(client):
    _, key = ingest_token_create(name="no-create")

    response = post_binary(client, key, ce.deployed("brand-new"))

    assert response.status_code == 400
    assert "subject.id" in response.json()
    assert not Service.objects.filter(slug="brand-new").exists()


@pytest.mark.django_db
def test_oversize_and_deeply_nested_bodies_are_refused_as_the_deploy_api_refuses_them(client, ingest_key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = ce.deployed()
    big["customData"] = {"log": "x" * 20_000}
    deep = ce.deployed()
    nested: dict = {}
    deep["customData"] = nested
    for _ in range(200):
        nested["a"] = {}
        nested = nested["a"]

    too_big = post_binary(client, ingest_key, big)
    too_deep = post_binary(client, ingest_key, deep)
    api_too_big = client.post(
        "/api/deploys/",
        data=json.dumps({"message": "x" * 20_000}),
        content_type="application/json",
        headers={"Authorization": f"Token {ingest_key}"},
    )

    assert too_big.status_code == api_too_big.status_code == 413
    assert too_big.json() == api_too_big.json()
    assert too_deep.status_code == 400
    assert "64 levels" in json.dumps(too_deep.json())
    assert Deploy.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only(reason="real concurrency: SQLite serialises every write")
def test_twenty_concurrent_duplicates_are_one_deploy(live_server, ingest_key):
    import requests

    event = ce.deployed("racer", "production", "7")
    headers, body = ce.binary(event)

    def send(_index):
        response = requests.post(
            f"{live_server.url}{URL}",
            data=body,
            headers={**headers, "Authorization": f"Token {ingest_key}"},
            timeout=30,
        )
        return response.status_code, response.json()

    results = at_once(20, send)

    assert sorted(status for status, _ in results) == [200] * 19 + [201]
    assert len({answer["deploy"] for _, answer in results}) == 1
    assert Deploy.objects.filter(service__slug="racer").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only(reason="real concurrency: SQLite serialises every write")
def test_concurrent_duplicate_incident_events_are_one_incident(live_server, token):
    import requests

    headers, body = ce.binary(ce.incident("detected", "incident/race"))

    def send(_index):
        response = requests.post(
            f"{live_server.url}{URL}", data=body, headers={**headers, "Authorization": f"Token {token.key}"}, timeout=30
        )
        return response.status_code, response.json()

    results = at_once(10, send)

    assert sorted(status for status, _ in results) == [200] * 9 + [201], results
    assert Incident.objects.filter(source="cdevents", external_id="incident/race").count() == 1
