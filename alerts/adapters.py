"""Prometheus Alertmanager webhook sender → alerts (and, by the integration's label rule, incidents)."""

import json
from collections import Counter

from django.core.exceptions import ValidationError
from django.utils import timezone

from alerts import services
from alerts.models import Alert
from incidents.adapters import parse_time, required_text
from plumbing.fields import FUTURE_SLACK
from plumbing.webhooks import DeliveryIgnored, DeliveryRejected, Sender, register, same


def _alertmanager_verify(request, body: bytes, secret: str) -> bool:
    if not secret:
        return False
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and same(token.strip(), secret)


def _alertmanager_identify(request, body: bytes) -> tuple[str, str]:
    # No delivery id: "" makes the hook view name it by a digest of the body.
    return "alertmanager", ""


def _alert_input(item, index: int, group_status) -> services.AlertInput:
    name = f"alerts[{index}]"
    if not isinstance(item, dict):
        raise DeliveryRejected(f"{name} is not an object.")
    status = item.get("status") or group_status
    if status not in Alert.Status.values:
        raise DeliveryRejected(f"{name}.status is missing or not firing/resolved.")
    labels = item.get("labels")
    if not isinstance(labels, dict):
        raise DeliveryRejected(f"{name}.labels is missing or not an object.")
    annotations = item.get("annotations")
    if annotations is None:
        annotations = {}
    if not isinstance(annotations, dict):
        raise DeliveryRejected(f"{name}.annotations is not an object.")
    fingerprint = required_text(item, "fingerprint", f"{name}.fingerprint")
    if len(fingerprint) > Alert._meta.get_field("fingerprint").max_length:
        raise DeliveryRejected(f"{name}.fingerprint is too long.")
    generator_url = item.get("generatorURL")
    starts_at = parse_time(item.get("startsAt"), f"{name}.startsAt")
    # The deploys' rule (plumbing.fields.FUTURE_SLACK): a little ahead is the sender's clock drift.
    if starts_at > timezone.now() + FUTURE_SLACK:
        raise DeliveryRejected(f"{name}.startsAt is in the future: {item['startsAt']}.")
    ends_at = parse_time(item.get("endsAt", "0001-01-01T00:00:00Z"), f"{name}.endsAt", zero_ok=True)
    if ends_at is not None and ends_at < starts_at:
        raise DeliveryRejected(f"{name}.endsAt ({item['endsAt']}) is before {name}.startsAt ({item['startsAt']}).")
    return services.AlertInput(
        fingerprint=fingerprint,
        starts_at=starts_at,
        status=status,
        ends_at=ends_at,
        labels=labels,
        annotations=annotations,
        generator_url=generator_url if isinstance(generator_url, str) else "",
    )


def _alertmanager_process(delivery, payload) -> str:
    if not isinstance(payload, dict):
        raise DeliveryRejected("The body is not a JSON object.")
    version = payload.get("version")
    if version is not None and str(version) != "4":
        raise DeliveryRejected(f"version is {json.dumps(version)[:20]}; only webhook payload version 4 is understood.")
    items = payload.get("alerts")
    if not isinstance(items, list):
        raise DeliveryRejected("alerts is missing or not a list.")
    if not items:
        raise DeliveryIgnored("The notification has no alerts.")
    # All parsed before anything is written: one malformed alert fails the whole delivery, visibly.
    alerts = [_alert_input(item, index, payload.get("status")) for index, item in enumerate(items)]
    options = delivery.integration.options if isinstance(delivery.integration.options, dict) else {}
    rule = options.get("promote_labels")
    counts: Counter = Counter()
    promoted, not_promoted = [], []
    for data in alerts:
        alert, what = services.alert_record(data=data, integration=delivery.integration)
        counts[what] += 1
        # Only while it fires: one already over when Opslog hears of it is a person's call, and an
        # incident promoted from it would sit open with nobody to resolve it.
        if (
            alert.incident_id is None
            and alert.status == Alert.Status.FIRING
            and services.promote_rule_matches(alert.labels, rule)
        ):
            try:
                incident, _ = services.alert_promote(alert=alert)
            except ValidationError as error:
                # The alert stays recorded; a person can promote it from its page.
                not_promoted.append(f"alert {alert.pk} not promoted: {' '.join(error.messages)}")
            else:
                promoted.append(f"alert {alert.pk} → incident {incident.pk}")
    outcome = f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}: " + ", ".join(
        f"{counts[what]} {what}" for what in ("created", "updated", "unchanged") if counts[what]
    )
    if promoted:
        outcome += "; promoted " + ", ".join(promoted)
    if not_promoted:
        outcome += "; " + "; ".join(not_promoted)
    return outcome[:1000]


register(Sender("alertmanager", _alertmanager_verify, _alertmanager_identify, _alertmanager_process))
