"""POST /hooks/pagerduty/v2/change/enqueue: PagerDuty Events API v2 change events, the routing key an
Opslog ingest token, answered as PagerDuty answers."""

import json

import pytest
from django.test import Client

from deploys.models import Deploy, Service
from deploys.services import ingest_token_create, ingest_token_revoke

URL = "/hooks/pagerduty/v2/change/enqueue"
INVALID = "Event object is invalid"


def change_event(routing_key: str, **payload) -> dict:
    """A change event as PagerDuty documents it (developer.pagerduty.com, "Send a Change Event")."""
    return {
        "routing_key": routing_key,
        "payload": {
            "summary": "Build 42 deployed checkout 1.4.2",
            "timestamp": "2026-12-01T10:00:00.000+00:00",
            "source": "checkout",
            "custom_details": {"environment": "production", "version": "1.4.2", "deployer": "ci-bot"},
            **payload,
        },
        "links": [{"href": "https://ci.example.com/builds/42", "text": "Build 42"}],
    }


def post(client, body) -> object:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json")


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


@pytest.mark.django_db
def test_a_change_event_is_a_deploy_answered_as_pagerduty_answers(client, ingest_key):
    response = post(client, change_event(ingest_key))

    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Event processed"}
    deploy = Deploy.objects.get()
    assert (deploy.service.slug, deploy.environment.slug, deploy.version, deploy.deployer) == (
        "checkout",
        "production",
        "1.4.2",
        "ci-bot",
    )
    assert deploy.deployed_at.isoformat() == "2026-12-01T10:00:00+00:00"
    assert deploy.message == "Build 42 deployed checkout 1.4.2\nBuild 42: https://ci.example.com/builds/42"


@pytest.mark.django_db
def test_a_retry_of_the_same_event_is_the_same_deploy(client, ingest_key):
    body = change_event(ingest_key)

    assert post(client, body).status_code == 202
    assert post(client, body).status_code == 202
    assert Deploy.objects.count() == 1


@pytest.mark.django_db
def test_defaults_without_custom_details_service_environment_and_deployer(client, ingest_key):
    body = change_event(ingest_key, source="Billing API", custom_details={"sha": "da1560886d4f"})

    response = post(client, body)

    assert response.status_code == 202, response.content
    deploy = Deploy.objects.get()
    assert (deploy.service.slug, deploy.environment.slug, deploy.version, deploy.deployer) == (
        "billing-api",
        "production",
        "da1560886d4f",
        "pagerduty-change-event",
    )


@pytest.mark.django_db
def test_the_mapping_is_configurable(client, ingest_key, settings):
    settings.OPSLOG_PAGERDUTY_CHANGE_SERVICE = "custom_details.app"
    settings.OPSLOG_PAGERDUTY_CHANGE_ENVIRONMENT = "custom_details.stage"
    settings.OPSLOG_PAGERDUTY_CHANGE_VERSION = "custom_details.build.tag"
    body = change_event(ingest_key, custom_details={"app": "search", "stage": "staging", "build": {"tag": "v9"}})

    assert post(client, body).status_code == 202
    deploy = Deploy.objects.get()
    assert (deploy.service.slug, deploy.environment.slug, deploy.version) == ("search", "staging", "v9")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda b: b.pop("routing_key"), "'routing_key' is missing or blank"),
        (lambda b: b.update(routing_key="oli_unknown"), "Invalid routing key"),
        (lambda b: b.update(routing_key="R0UT1NGK3Y0F32CHARACTERSXXXXXXXX"), "Invalid routing key"),
        (lambda b: b["payload"].pop("summary"), "'payload.summary' is missing or blank"),
        (lambda b: b["payload"].update(summary="x" * 1025), "'payload.summary' is longer than 1024 characters"),
        (lambda b: b["payload"].update(timestamp="last tuesday"), "'payload.timestamp' is not a valid"),
        (lambda b: b["payload"].update(timestamp="2026-02-30T10:00:00Z"), "'payload.timestamp' is not a valid"),
        (lambda b: b["payload"].update(custom_details={}), "No version"),
        (lambda b: b.update(links="https://x"), "'links' must be a list of objects"),
        (lambda b: b.pop("payload"), "'payload' is missing or not an object"),
    ],
)
def test_bad_events_are_400_invalid_event_as_pagerduty_words_them(client, ingest_key, change, error):
    body = change_event(ingest_key)
    change(body)

    response = post(client, body)

    assert response.status_code == 400
    answer = response.json()
    assert answer["status"] == "invalid event"
    assert answer["message"] == INVALID
    assert any(e.startswith(error) for e in answer["errors"]), answer
    assert Deploy.objects.count() == 0
    assert not Service.objects.exists()


@pytest.mark.django_db
def test_a_future_time_is_refused_naming_the_field(client, ingest_key):
    response = post(client, change_event(ingest_key, timestamp="2999-01-01T00:00:00Z"))

    assert response.status_code == 400
    assert response.json()["errors"] == ["'payload.timestamp': A deploy can't have gone live in the future."]


@pytest.mark.django_db
def test_a_revoked_token_is_an_invalid_routing_key(client):
    token, key = ingest_token_create(name="old", may_create_services=True)
    ingest_token_revoke(token=token)

    response = post(client, change_event(key))

    assert response.status_code == 400
    assert response.json()["errors"] == ["Invalid routing key"]


@pytest.mark.django_db
def test_a_scoped_token_may_post_only_its_services(client):
    mine = Service.objects.create(slug="mine", name="mine")
    _, key = ingest_token_create(name="scoped", services=[mine])

    foreign = post(client, change_event(key, source="theirs"))
    own = post(client, change_event(key, source="mine"))
    unknown = post(client, change_event(ingest_token_create(name="plain")[1], source="brand-new"))

    assert foreign.status_code == 403
    assert own.status_code == 202
    assert unknown.status_code == 400
    assert "brand-new" in unknown.json()["errors"][0]
    assert not Service.objects.filter(slug__in=["theirs", "brand-new"]).exists()


@pytest.mark.django_db
def test_bad_bodies_cost_a_clear_answer(client, ingest_key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    nested = "[" * 500 + "]" * 500

    big = post(client, change_event(ingest_key, summary="x" * 20_000))
    deep = post(client, nested)
    not_json = post(client, "{")
    not_object = post(client, "[]")
    nul = post(client, change_event(ingest_key + "\x00"))

    assert big.status_code == 413
    assert deep.status_code == 400
    assert "64 levels" in " ".join(deep.json()["errors"])
    assert not_json.status_code == 400
    # As PagerDuty's published Events API v2 OpenAPI file answers a body that isn't JSON.
    assert not_json.json()["status"] == "Unrecognized object"
    assert not_json.json()["message"] == "Event object format is unrecognized"
    assert not_json.json()["errors"][0] == "JSON parse error"
    assert not_object.status_code == 400
    assert nul.status_code == 400
    assert Deploy.objects.count() == 0


@pytest.mark.django_db
def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405
