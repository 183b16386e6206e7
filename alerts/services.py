"""Writes for alerts: recording what Alertmanager reports, and promoting an alert to an incident."""

import datetime as dt
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Alert
from deploys.models import Service
from incidents.models import Incident
from incidents.services import (
    ALERTMANAGER_SOURCE,
    DETECTION_SOURCE_MAX,
    TITLE_MAX,
    IncidentInput,
    incident_create,
    json_value,
)
from plumbing.markdown import INCIDENT_SUMMARY_MAX_LENGTH
from plumbing.webhooks import SenderIntegration


@dataclass(frozen=True)
class AlertInput:
    """One alert of an Alertmanager notification, its times already parsed (aware)."""

    fingerprint: str
    starts_at: dt.datetime
    status: str  # Alert.Status
    ends_at: dt.datetime | None = None
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    generator_url: str = ""


# Cut, not refused: the alert is real and must become an incident, and its description's first
# 20,000 characters say what it is; the note says where the rest is.
SUMMARY_CUT_NOTE = "\n\n… (cut: the alert's description is longer than {limit:,} characters; see the alert)"


def _summary_from(description) -> str:
    text = str(description or "")
    if len(text) <= INCIDENT_SUMMARY_MAX_LENGTH:
        return text
    note = SUMMARY_CUT_NOTE.format(limit=INCIDENT_SUMMARY_MAX_LENGTH)
    return text[: INCIDENT_SUMMARY_MAX_LENGTH - len(note)] + note


@transaction.atomic
def alert_record(
    *, data: AlertInput, integration: SenderIntegration | None = None, now: dt.datetime | None = None
) -> tuple[Alert, str]:
    """Upsert one alert by (fingerprint, starts_at). Returns (alert, "created" | "updated" | "unchanged").

    A firing alert has no end, whatever `ends_at` says (Alertmanager sends Go's zero time, or the
    time it would expire if never resolved). Resolved is final for one firing: a firing notification
    that arrives after the resolved one — they can overtake each other, each is retried on its own —
    changes nothing. The same alert from two Alertmanager replicas, even at once, is one row.
    """
    now = now or timezone.now()
    resolved = data.status == Alert.Status.RESOLVED
    values = {
        "name": str(data.labels.get("alertname", ""))[:200],
        "labels": data.labels,
        "annotations": data.annotations,
        "status": data.status,
        "ends_at": data.ends_at if resolved else None,
        "generator_url": data.generator_url,
    }
    key = {"fingerprint": data.fingerprint, "starts_at": data.starts_at}
    alert = Alert.objects.select_for_update().filter(**key).first()
    if alert is None:
        try:
            with transaction.atomic():
                alert = Alert.objects.create(**key, **values, integration=integration, created_at=now, updated_at=now)
            return alert, "created"
        except IntegrityError:
            # Created by a concurrent delivery since we looked: update that row instead.
            alert = Alert.objects.select_for_update().get(**key)
    if alert.status == Alert.Status.RESOLVED and not resolved:
        return alert, "unchanged"
    changed = [name for name, value in values.items() if getattr(alert, name) != value]
    if not changed:
        return alert, "unchanged"
    for name in changed:
        setattr(alert, name, values[name])
    alert.updated_at = now
    alert.save(update_fields=[*changed, "updated_at"])
    return alert, "updated"


def promote_rule_matches(labels: dict, rule) -> bool:
    """Whether an alert's labels satisfy an integration's `promote_labels` rule: every label the rule
    lists is present with that exact value. An empty or malformed rule matches nothing."""
    if not isinstance(rule, dict) or not rule or not isinstance(labels, dict):
        return False
    return all(name in labels and str(labels[name]) == str(value) for name, value in rule.items())


def alert_external_id(alert: Alert) -> str:
    """The promoted incident's idempotency key: one incident per firing of an alert."""
    return f"alert:{alert.fingerprint}:{json_value(alert.starts_at)}"


def _alert_services(alert: Alert) -> list[Service]:
    # The `service` label, through the integration's mapping; only a service Opslog knows.
    label = alert.labels.get("service") if isinstance(alert.labels, dict) else None
    if not label:
        return []
    slug = alert.integration.map_service(str(label)) if alert.integration_id else str(label)
    return list(Service.objects.filter(slug=slug))


@transaction.atomic
def alert_promote(*, alert: Alert, by=None, now: dt.datetime | None = None) -> tuple[Incident, bool]:
    """Promote an alert to an incident. Returns (incident, created).

    Once per alert, also when a person and the label rule do it at the same moment: the alert's row
    is locked, and the incident is idempotent on (alertmanager, alert:<fingerprint>:<starts_at>).
    The incident started, and was detected (by monitoring), when the alert started firing. Raises
    ValidationError when that time is in the future (a sender's clock far ahead of ours).
    """
    # Only the alert's row is locked (PostgreSQL can't lock the nullable side of the joins).
    locked = Alert.objects.select_for_update(of=("self",)).select_related("integration", "incident").get(pk=alert.pk)
    if locked.incident_id is not None:
        alert.incident = locked.incident
        return locked.incident, False
    annotations = locked.annotations if isinstance(locked.annotations, dict) else {}
    title = str(annotations.get("summary") or "").strip() or locked.name or f"Alert {locked.fingerprint}"
    incident, created = incident_create(
        data=IncidentInput(
            title=" ".join(title.split())[:TITLE_MAX],
            started_at=locked.starts_at,
            detected_at=locked.starts_at,
            services=_alert_services(locked),
            detected_by=Incident.DetectedBy.MONITORING,
            detection_source=f"Alertmanager alert {locked.name or locked.fingerprint}"[:DETECTION_SOURCE_MAX],
            summary=_summary_from(annotations.get("description")),
            source=ALERTMANAGER_SOURCE,
            external_id=alert_external_id(locked),
        ),
        by=by,
        now=now,
    )
    locked.incident = incident
    locked.updated_at = now or timezone.now()
    locked.save(update_fields=["incident", "updated_at"])
    alert.incident = incident
    return incident, created
