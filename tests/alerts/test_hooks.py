"""Alertmanager webhooks through the full path: HTTP POST with the bearer token → stored Delivery →
Celery task (in-process here) → Alert records, and incidents for the alerts a label rule promotes.
Payloads follow Alertmanager's documentation (tests/support/payloads/alertmanager.py)."""

import datetime as dt
import json

import pytest

from alerts.models import Alert
from deploys.factories import ServiceFactory
from incidents.models import Incident
from integrations.factories import IntegrationFactory
from integrations.models import Delivery
from integrations.services import delivery_replay
from tests.support.concurrency import at_once
from tests.support.hooks import SECRET, post_alertmanager
from tests.support.payloads import alertmanager as am

pytestmark = pytest.mark.django_db

UTC = dt.UTC
STARTS = dt.datetime(2024, 1, 15, 10, 0, 0, 123456, tzinfo=UTC)  # 2024-01-15T10:00:00.123456789Z, cut to µs


def only_alert() -> Alert:
    [alert] = Alert.objects.all()
    return alert


def test_a_firing_alert_with_zeroed_ends_at_is_recorded_still_firing(client, integration):
    response = post_alertmanager(client, am.notification([am.alert()]))

    assert response.status_code == 202
    [delivery] = Delivery.objects.all()
    assert response.json() == {"delivery": delivery.pk, "duplicate": False}
    assert delivery.event == "alertmanager"
    assert delivery.delivery_id.startswith("sha256:")  # Alertmanager sends no delivery id
    assert delivery.status == Delivery.Status.PROCESSED
    assert delivery.outcome == "1 alert: 1 created"
    assert "[redacted]" == delivery.headers["Authorization"]
    alert = only_alert()
    assert alert.status == Alert.Status.FIRING
    assert alert.ends_at is None
    assert alert.starts_at == STARTS
    assert alert.fingerprint == "1a30ba71cca2921f"
    assert alert.name == "HighErrorRate"
    assert alert.labels["severity"] == "critical"
    assert alert.annotations["summary"] == "High 5xx rate on web"
    assert alert.generator_url.startswith("http://prometheus.example.org:9090/graph?")
    assert alert.integration == integration
    assert alert.incident is None  # no promote rule


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15T10:00:00.123456789Z", dt.datetime(2024, 1, 15, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-01-15T10:00:00.999999999Z", dt.datetime(2024, 1, 15, 10, 0, 0, 999999, tzinfo=UTC)),  # cut, not rounded
        ("2024-01-15T10:00:00Z", dt.datetime(2024, 1, 15, 10, 0, 0, tzinfo=UTC)),
        ("2024-01-15T10:00:00.5Z", dt.datetime(2024, 1, 15, 10, 0, 0, 500000, tzinfo=UTC)),
        # The documented example's form: an offset, nine digits. 09:52 at +02:00 is 07:52 UTC.
        ("2018-08-03T09:52:26.739266876+02:00", dt.datetime(2018, 8, 3, 7, 52, 26, 739266, tzinfo=UTC)),
    ],
)
def test_timestamps_with_nanoseconds_and_offsets_are_read_exactly(client, integration, text, expected):
    post_alertmanager(client, am.notification([am.alert(starts_at=text)]))

    assert only_alert().starts_at == expected


def test_a_mixed_batch_records_each_alert_with_its_own_status(client, integration):
    firing = am.alert(fingerprint="aaaa000000000001", extra_labels={"instance": "web-1:9100"})
    resolved = am.alert(
        fingerprint="aaaa000000000002",
        extra_labels={"instance": "web-2:9100"},
        status="resolved",
        starts_at="2024-01-15T09:00:00.000000001Z",
        ends_at="2024-01-15T09:12:30.250000000Z",
    )

    post_alertmanager(client, am.notification([firing, resolved]))

    assert Delivery.objects.get().outcome == "2 alerts: 2 created"
    first = Alert.objects.get(fingerprint="aaaa000000000001")
    second = Alert.objects.get(fingerprint="aaaa000000000002")
    assert (first.status, first.ends_at) == (Alert.Status.FIRING, None)
    assert second.status == Alert.Status.RESOLVED
    assert second.starts_at == dt.datetime(2024, 1, 15, 9, 0, 0, tzinfo=UTC)
    assert second.ends_at == dt.datetime(2024, 1, 15, 9, 12, 30, 250000, tzinfo=UTC)
    assert second.firing_seconds == 750.25


def test_the_same_fingerprint_and_start_twice_updates_one_alert(client, integration):
    post_alertmanager(client, am.notification([am.alert()]))
    resolved = am.alert(
        status="resolved", ends_at="2024-01-15T10:05:00.123456789Z", summary="High 5xx rate on web (over)"
    )

    post_alertmanager(client, am.notification([resolved]))

    alert = only_alert()
    assert Delivery.objects.count() == 2
    assert Delivery.objects.order_by("id").last().outcome == "1 alert: 1 updated"
    assert alert.status == Alert.Status.RESOLVED
    assert alert.ends_at == dt.datetime(2024, 1, 15, 10, 5, 0, 123456, tzinfo=UTC)
    assert alert.annotations["summary"] == "High 5xx rate on web (over)"
    assert alert.firing_seconds == 300.0


def test_the_same_fingerprint_starting_again_later_is_a_second_alert(client, integration):
    post_alertmanager(client, am.notification([am.alert()]))
    post_alertmanager(client, am.notification([am.alert(starts_at="2024-01-15T11:00:00Z")]))

    assert Alert.objects.filter(fingerprint="1a30ba71cca2921f").count() == 2


def test_a_resolved_notification_overtaken_by_the_firing_one_stays_resolved(client, integration):
    post_alertmanager(client, am.notification([am.alert(status="resolved", ends_at="2024-01-15T10:05:00Z")]))
    post_alertmanager(client, am.notification([am.alert()]))

    alert = only_alert()
    assert alert.status == Alert.Status.RESOLVED
    assert alert.ends_at == dt.datetime(2024, 1, 15, 10, 5, 0, tzinfo=UTC)
    assert Delivery.objects.order_by("id").last().outcome == "1 alert: 1 unchanged"


def test_a_firing_alert_whose_ends_at_is_in_the_future_still_fires(client, integration):
    # Alertmanager may send the time a firing alert would expire; it is no end.
    post_alertmanager(client, am.notification([am.alert(ends_at="2999-01-01T00:00:00Z")]))

    assert only_alert().ends_at is None


def test_the_same_notification_twice_is_one_delivery(client, integration):
    payload = am.notification([am.alert()])

    first = post_alertmanager(client, payload)
    second = post_alertmanager(client, payload)

    assert second.json() == {"delivery": first.json()["delivery"], "duplicate": True}
    assert Delivery.objects.count() == 1
    assert Alert.objects.count() == 1


# --- Promotion by label rule ----------------------------------------------------------------------


def test_the_label_rule_promotes_a_matching_alert_to_an_incident(client, promoting, web):
    critical = am.alert(fingerprint="bbbb000000000001")
    warning = am.alert(fingerprint="bbbb000000000002", severity="warning", extra_labels={"instance": "web-2:9100"})

    post_alertmanager(client, am.notification([critical, warning]))

    incident = Incident.objects.get()
    alert = Alert.objects.get(fingerprint="bbbb000000000001")
    assert alert.incident == incident
    assert Alert.objects.get(fingerprint="bbbb000000000002").incident is None
    assert incident.title == "High 5xx rate on web"
    assert incident.started_at == incident.detected_at == STARTS
    assert incident.detected_by == Incident.DetectedBy.MONITORING
    assert incident.source == "alertmanager"
    assert incident.external_id == "alert:bbbb000000000001:2024-01-15T10:00:00.123456Z"
    assert [s.slug for s in incident.services.all()] == ["web"]
    assert Delivery.objects.get().outcome == f"2 alerts: 2 created; promoted alert {alert.pk} → incident {incident.pk}"


def test_the_rule_promotes_once_however_often_the_alert_is_sent_or_replayed(client, promoting):
    post_alertmanager(client, am.notification([am.alert()]))
    post_alertmanager(client, am.notification([am.alert(summary="High 5xx rate on web, still")]))
    post_alertmanager(client, am.notification([am.alert(status="resolved", ends_at="2024-01-15T10:30:00Z")]))
    for delivery in Delivery.objects.all():
        delivery_replay(delivery=delivery)

    assert Incident.objects.count() == 1
    assert only_alert().incident == Incident.objects.get()


def test_every_label_of_the_rule_must_match(client, web):
    IntegrationFactory(kind="alertmanager", options={"promote_labels": {"severity": "critical", "team": "payments"}})

    post_alertmanager(client, am.notification([am.alert()]))

    assert Incident.objects.count() == 0
    assert only_alert().incident is None


def test_the_service_label_goes_through_the_integration_mapping(client):
    ServiceFactory(slug="storefront")
    IntegrationFactory(
        kind="alertmanager",
        options={"promote_labels": {"severity": "critical"}},
        service_mapping={"web": "storefront"},
    )

    post_alertmanager(client, am.notification([am.alert()]))

    assert [s.slug for s in Incident.objects.get().services.all()] == ["storefront"]


def test_an_unknown_service_label_promotes_without_a_service(client, promoting):
    post_alertmanager(client, am.notification([am.alert(service="no-such-service")]))

    assert list(Incident.objects.get().services.all()) == []


def test_without_a_summary_the_incident_is_titled_by_the_alert_name(client, promoting):
    payload = am.notification([am.alert()])
    del payload["alerts"][0]["annotations"]["summary"]

    post_alertmanager(client, payload)

    assert Incident.objects.get().title == "HighErrorRate"


# --- Refused and failed ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer wrong-token", f"Token {SECRET}", f"Basic {SECRET}", SECRET]
)
def test_a_missing_or_wrong_token_is_refused_and_nothing_is_stored(client, integration, authorization):
    response = post_alertmanager(client, am.notification([am.alert()]), authorization=authorization)

    assert response.status_code == 401
    assert Delivery.objects.count() == 0
    assert Alert.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p["alerts"][0].pop("fingerprint"), "alerts[0].fingerprint"),
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(startsAt=am.ZERO), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(endsAt="2024-13-45T99:00:00Z", status="resolved"), "alerts[0].endsAt"),
        (lambda p: p["alerts"][0].update(labels=None), "alerts[0].labels"),
        (lambda p: p["alerts"][0].update(status="pending") or p.update(status="pending"), "alerts[0].status"),
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p.update(version="3"), "version"),
    ],
)
def test_a_malformed_notification_fails_naming_the_field_and_records_nothing(client, integration, change, field):
    payload = am.notification([am.alert(), am.alert(fingerprint="cccc000000000002")])
    change(payload)

    assert post_alertmanager(client, payload).status_code == 202

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert field in delivery.outcome
    assert Alert.objects.count() == 0


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b'{"alerts": [1]}', b'{"alerts": []}'])
def test_garbage_never_makes_a_500(client, integration, body):
    assert post_alertmanager(client, body).status_code == 202
    assert Delivery.objects.get().status in (Delivery.Status.FAILED, Delivery.Status.IGNORED)
    assert Alert.objects.count() == 0


# --- Replicas at once (PostgreSQL) ----------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_replicas_sending_the_same_alert_at_once_make_one_alert_and_one_incident(live_server, web):
    import requests

    IntegrationFactory(kind="alertmanager", options={"promote_labels": {"severity": "critical"}})
    replicas = 8
    # Each replica of an Alertmanager cluster names itself in externalURL: eight different deliveries.
    bodies = []
    for n in range(replicas):
        payload = am.notification([am.alert()])
        payload["externalURL"] = f"http://alertmanager-{n}.example.org:9093"
        bodies.append(json.dumps(payload).encode())

    def send(index):
        session = requests.Session()
        response = session.post(
            f"{live_server.url}/hooks/alertmanager/",
            data=bodies[index],
            timeout=30,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"},
        )
        return response.status_code

    statuses = at_once(replicas, send)

    assert statuses == [202] * replicas
    assert sorted(Delivery.objects.values_list("status", flat=True)) == ["processed"] * replicas
    outcomes = list(Delivery.objects.values_list("outcome", flat=True))
    assert sum(outcome.startswith("1 alert: 1 created") for outcome in outcomes) == 1, outcomes
    alert = only_alert()
    assert Incident.objects.count() == 1
    assert alert.incident == Incident.objects.get()
