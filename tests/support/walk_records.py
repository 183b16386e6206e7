"""Records every page walk needs beside its own: alerts (one firing, one promoted to an incident)
and a webhook delivery, so the alert and delivery pages have something to show."""

import datetime as dt

from django.utils import timezone

from alerts.models import Alert
from integrations.factories import DeliveryFactory, IntegrationFactory


def alerts_and_delivery(promoted_to) -> dict:
    """Ids of a firing alert, a resolved one promoted to the incident `promoted_to`, and a delivery."""
    integration = IntegrationFactory(kind="alertmanager")
    now = timezone.now()
    alert = Alert.objects.create(
        integration=integration,
        fingerprint="a1",
        name="HighErrorRate",
        labels={"alertname": "HighErrorRate"},
        annotations={"summary": "errors"},
        starts_at=now - dt.timedelta(hours=1),
    )
    promoted_alert = Alert.objects.create(
        integration=integration,
        fingerprint="a2",
        name="HighLatency",
        labels={"alertname": "HighLatency"},
        starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=2),
        status=Alert.Status.RESOLVED,
        incident=promoted_to,
    )
    delivery = DeliveryFactory(integration=IntegrationFactory())
    return {"alert": alert.pk, "promoted_alert": promoted_alert.pk, "delivery": delivery.pk}
