"""PagerDuty webhooks v3 through the full path: signed HTTP POST → stored Delivery → Celery task
(in-process here) → incidents. Payloads follow PagerDuty's documentation (tests/support/payloads/pagerduty.py)."""

import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.test import TestCase

from deploys.factories import ServiceFactory
from incidents.models import Incident, TimelineEntry
from integrations.factories import IntegrationFactory
from integrations.models import Delivery
from integrations.services import delivery_replay
from tests.support.payloads import pagerduty as pd

pytestmark = pytest.mark.django_db

UTC = dt.UTC
SECRET = "test-webhook-secret"  # IntegrationFactory's default plain secret
CREATED = dt.datetime(2020, 4, 9, 15, 16, 27, tzinfo=UTC)
ACKNOWLEDGED = dt.datetime(2020, 4, 9, 15, 20, 2, 369000, tzinfo=UTC)
RESOLVED = dt.datetime(2020, 4, 9, 16, 1, 45, 128000, tzinfo=UTC)


def sign(body: bytes, secret: str = SECRET) -> str:
    # Worked out here as PagerDuty documents it, not with the code under test.
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client, payload, *, signature: str | None = None, secret: str = SECRET):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"HTTP_X_PAGERDUTY_SIGNATURE": signature if signature is not None else sign(body, secret)}
    # The processing task is queued on commit; pytest-django's transaction never commits.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post("/hooks/pagerduty/", data=body, content_type="application/json", **headers)


@pytest.fixture
def api_service():
    return ServiceFactory(slug="api")


@pytest.fixture
def integration(api_service):
    return IntegrationFactory(kind="pagerduty", name="PagerDuty acme", service_mapping={"API Service": "api"})


def only_incident() -> Incident:
    [incident] = Incident.objects.all()
    return incident


def test_triggered_files_an_incident_started_and_detected_when_pagerduty_created_it(client, integration):
    response = post(client, pd.triggered())

    assert response.status_code == 202
    [delivery] = Delivery.objects.all()
    assert response.json() == {"delivery": delivery.pk, "duplicate": False}
    assert (delivery.kind, delivery.event, delivery.delivery_id) == (
        "pagerduty",
        "incident.triggered",
        "01BZX6T3XNQ7V8G6H6QFS6CYEK",
    )
    incident = only_incident()
    assert delivery.status == Delivery.Status.PROCESSED
    assert delivery.outcome == f"incident {incident.pk} filed (PagerDuty PGR0VU2)"
    assert incident.title == "A little bump in the road"
    assert (incident.source, incident.external_id) == ("pagerduty", "PGR0VU2")
    assert incident.started_at == CREATED
    assert incident.detected_at == CREATED
    assert incident.detected_by == Incident.DetectedBy.MONITORING
    assert incident.severity == Incident.Severity.SEV1  # priority P1
    assert [s.slug for s in incident.services.all()] == ["api"]
    assert incident.acknowledged_at is None and incident.resolved_at is None
    assert "https://acme.pagerduty.com/incidents/PGR0VU2" in incident.summary


@pytest.mark.parametrize(
    ("priority", "urgency", "severity"),
    [
        (None, "high", Incident.Severity.SEV2),
        (None, "low", Incident.Severity.SEV3),
        ({**pd.P1, "summary": "P2"}, "high", Incident.Severity.SEV2),
        ({**pd.P1, "summary": "P3"}, "high", Incident.Severity.SEV3),
        ({**pd.P1, "summary": "P4"}, "high", Incident.Severity.SEV4),
        ({**pd.P1, "summary": "P5"}, "high", Incident.Severity.SEV4),
        # A custom priority name says nothing we can map: urgency decides.
        ({**pd.P1, "summary": "Sev-Whatever"}, "low", Incident.Severity.SEV3),
    ],
)
def test_severity_from_priority_else_urgency(client, integration, priority, urgency, severity):
    post(client, pd.triggered(priority=priority, urgency=urgency))

    assert only_incident().severity == severity


def test_null_priority_and_no_incident_key_still_file_the_incident(client, integration):
    payload = pd.without_incident_key(pd.triggered(priority=None))
    assert payload["event"]["data"]["priority"] is None and "incident_key" not in payload["event"]["data"]

    post(client, payload)

    incident = only_incident()
    assert Delivery.objects.get().status == Delivery.Status.PROCESSED
    assert incident.external_id == "PGR0VU2"
    assert incident.severity == Incident.Severity.SEV2  # urgency high


def test_triggered_acknowledged_resolved_stamp_the_lifecycle_at_occurred_at(client, integration):
    for payload in (pd.triggered(), pd.acknowledged(), pd.resolved()):
        assert post(client, payload).status_code == 202

    incident = only_incident()
    assert list(Delivery.objects.values_list("status", flat=True)) == ["processed"] * 3
    assert incident.started_at == incident.detected_at == CREATED
    assert incident.acknowledged_at == ACKNOWLEDGED
    assert incident.resolved_at == RESOLVED
    assert incident.status == Incident.Status.RESOLVED
    # Filed, acknowledged, resolved.
    assert incident.timeline.count() == 3
    acknowledged = Delivery.objects.get(event="incident.acknowledged")
    assert acknowledged.outcome == f"incident {incident.pk} found, acknowledged (PagerDuty PGR0VU2)"


def test_replaying_every_delivery_changes_nothing(client, integration):
    for payload in (pd.triggered(), pd.acknowledged(), pd.resolved()):
        post(client, payload)
    before = Incident.objects.values().get()
    entries = TimelineEntry.objects.count()

    for delivery in Delivery.objects.all():
        result = delivery_replay(delivery=delivery)
        assert result.status == Delivery.Status.PROCESSED

    assert Incident.objects.values().get() == before
    assert TimelineEntry.objects.count() == entries


def test_the_same_delivery_twice_files_one_incident(client, integration):
    first = post(client, pd.triggered())
    second = post(client, pd.triggered())

    assert first.status_code == second.status_code == 202
    assert second.json() == {"delivery": first.json()["delivery"], "duplicate": True}
    assert Delivery.objects.count() == 1
    assert Incident.objects.count() == 1


def test_a_second_event_id_for_the_same_incident_files_no_second_one(client, integration):
    # PagerDuty retries with the same event id; a triggered event sent twice under two ids (a second
    # subscription) still names the same PagerDuty incident.
    post(client, pd.triggered())
    post(client, pd.triggered(event_id="01BZX6T3XNQ7V8G6H6QFS6ZZZZ"))

    assert Delivery.objects.count() == 2
    assert Incident.objects.count() == 1


def test_resolved_before_triggered_files_the_incident_resolved_and_the_late_trigger_changes_nothing(
    client, integration
):
    post(client, pd.resolved())
    incident = only_incident()
    assert (incident.started_at, incident.detected_at, incident.resolved_at) == (CREATED, CREATED, RESOLVED)
    assert incident.acknowledged_at is None

    post(client, pd.acknowledged())
    post(client, pd.triggered())

    incident = only_incident()
    # The late acknowledgement is still before the resolution, so it is recorded; the trigger adds nothing.
    assert incident.acknowledged_at == ACKNOWLEDGED
    assert incident.resolved_at == RESOLVED
    assert set(Delivery.objects.values_list("status", flat=True)) == {"processed"}


@pytest.mark.parametrize("signature", ["", "v1=" + "0" * 64, "sha256=abc", "v0=" + "0" * 64])
def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(client, integration, signature):
    response = post(client, pd.triggered(), signature=signature)

    assert response.status_code == 401
    assert Delivery.objects.count() == 0
    assert Incident.objects.count() == 0


def test_signed_with_another_secret_is_refused(client, integration):
    assert post(client, pd.triggered(), secret="not-the-secret").status_code == 401
    assert Delivery.objects.count() == 0


def test_any_one_of_several_signatures_will_do_during_a_secret_rotation(client, integration):
    body = json.dumps(pd.triggered()).encode()
    header = f"{sign(body, 'the-old-secret')},{sign(body)}"

    assert post(client, body, signature=header).status_code == 202
    assert Incident.objects.count() == 1


def test_other_event_types_are_recorded_and_ignored(client, integration):
    post(client, pd.annotated())

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.IGNORED
    assert delivery.outcome == "PagerDuty incident.annotated events are not recorded."
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        ("created_at", "event.data.created_at"),
        ("title", "event.data.title"),
        ("id", "event.data.id"),
    ],
)
def test_a_missing_field_fails_the_delivery_naming_it(client, integration, remove, field):
    payload = pd.triggered()
    del payload["event"]["data"][remove]

    assert post(client, payload).status_code == 202

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert field in delivery.outcome
    assert Incident.objects.count() == 0


def test_a_missing_occurred_at_fails_an_acknowledgement_naming_it(client, integration):
    payload = pd.acknowledged()
    del payload["event"]["occurred_at"]

    post(client, payload)

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert "event.occurred_at" in delivery.outcome


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"event": "x"}', b'{"event": {"event_type": 3}}'])
def test_a_body_that_is_no_event_fails_the_delivery_without_a_500(client, integration, body):
    response = post(client, body)

    assert response.status_code == 202
    assert Delivery.objects.get().status == Delivery.Status.FAILED


def test_an_unknown_pagerduty_service_leaves_the_incident_without_services(client, integration):
    post(client, pd.triggered(service_summary="Billing (prod)"))

    assert list(only_incident().services.all()) == []


def test_an_acknowledgement_timed_before_the_incident_started_fails_without_stamping(client, integration):
    post(client, pd.triggered())

    post(client, pd.acknowledged(occurred_at="2020-04-09T15:00:00Z"))

    delivery = Delivery.objects.get(event="incident.acknowledged")
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.outcome.startswith("PagerDuty incident PGR0VU2: ")
    assert only_incident().acknowledged_at is None
