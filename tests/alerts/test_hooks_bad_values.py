"""Alert values a signed Alertmanager may still send wrong, and labels named like dict methods."""

import pytest

from alerts.models import Alert
from incidents.models import Incident
from integrations.models import Delivery
from tests.support.hooks import post_alertmanager
from tests.support.payloads import alertmanager as am

pytestmark = pytest.mark.django_db


def test_a_start_time_past_year_9999_fails_the_delivery_with_the_reason(client, integration):
    post_alertmanager(client, am.notification([am.alert(starts_at="9999-12-31T23:59:59-14:00")]))

    [delivery] = Delivery.objects.all()
    assert delivery.status == Delivery.Status.FAILED
    assert "not between 1970 and 2999" in delivery.outcome
    assert not Alert.objects.exists()


def test_the_rule_does_not_promote_an_alert_first_heard_of_as_resolved(client, promoting):
    post_alertmanager(client, am.notification([am.alert(status="resolved", ends_at="2024-01-15T10:30:00Z")]))

    [alert] = Alert.objects.all()
    assert alert.status == Alert.Status.RESOLVED
    assert alert.incident is None
    assert not Incident.objects.exists()


def test_an_alert_with_labels_named_like_dict_methods_shows(admin_client, integration):
    post_alertmanager(admin_client, am.notification([am.alert(extra_labels={"items": "x", "keys": "y"})]))
    alert = Alert.objects.get()

    response = admin_client.get(f"/alerts/{alert.pk}/")

    assert response.status_code == 200
    assert b"<dt>items</dt>" in response.content
