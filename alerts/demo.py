"""Demo alerts for the monthly alert review."""

import datetime as dt
import hashlib
import random
import re

from django.utils import timezone

from alerts.models import Alert
from incidents.demo import SOURCE
from incidents.models import Incident

# (alertname, severity label, service, firings a week, how long each fires in minutes): the noisy
# ones a monthly alert review should catch, and the few that mean something.
NOISY_ALERTS = [
    ("DiskSpaceLow", "warning", "images", 5, (5, 40)),
    ("HighLatencyP99", "warning", "web", 3, (2, 15)),
    ("CertificateExpiresSoon", "info", "api", 1, (600, 1440)),
    ("QueueBacklogHigh", "warning", "search", 2, (3, 30)),
]


def seed_alerts(*, days: int = 730, now: dt.datetime | None = None) -> int:
    """Alerts for the monthly alert review: each demo incident detected by monitoring was promoted
    from one (signal), and a few rules fire regularly without ever leading anywhere (noise).
    Deterministic and safe to run twice (the alert's fingerprint and start time are its key)."""
    now = now or timezone.now()
    first = now - dt.timedelta(days=days)
    alerts = []
    for incident in Incident.objects.filter(
        source=SOURCE, detected_by=Incident.DetectedBy.MONITORING, started_at__gte=first
    ).prefetch_related("services"):
        service = next(iter(incident.services.all()), None)
        name = alert_name(incident.detection_source or incident.title)
        fired = incident.detected_at or incident.started_at
        ended = incident.mitigated_at or incident.resolved_at
        alerts.append(
            Alert(
                fingerprint=_fingerprint(name, service.slug if service else ""),
                name=name[:200],
                labels={"alertname": name, "severity": "critical", "service": service.slug if service else ""},
                annotations={"summary": incident.title},
                starts_at=fired,
                ends_at=ended,
                status=Alert.Status.RESOLVED if ended else Alert.Status.FIRING,
                incident=incident,
            )
        )
    day = first.date()
    while day <= now.date():
        rng = random.Random(f"opslog-demo-alerts-{day.isoformat()}")
        for name, severity, service, per_week, (shortest, longest) in NOISY_ALERTS:
            if rng.random() >= per_week / 7:
                continue
            starts = dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=dt.UTC)
            ends = starts + dt.timedelta(minutes=rng.randint(shortest, longest))
            if ends > now:
                continue
            alerts.append(
                Alert(
                    fingerprint=_fingerprint(name, service),
                    name=name,
                    labels={"alertname": name, "severity": severity, "service": service},
                    annotations={"summary": f"{name} on {service}"},
                    starts_at=starts,
                    ends_at=ends,
                    status=Alert.Status.RESOLVED,
                )
            )
        day += dt.timedelta(days=1)
    before = Alert.objects.count()
    Alert.objects.bulk_create(alerts, batch_size=500, ignore_conflicts=True)
    return Alert.objects.count() - before


def alert_name(source: str) -> str:
    """An alertname as Prometheus rules spell them, from the first three words of `source` that
    aren't a bare number or one letter: "p99 latency > 2 s" → "P99Latency", "cache-staleness
    check" → "CacheStalenessCheck"."""
    words = [word for word in re.findall(r"[A-Za-z0-9]+", source) if len(word) > 1 and not word.isdigit()]
    return "".join(word[0].upper() + word[1:].lower() for word in words[:3]) or "DemoAlert"


def _fingerprint(name: str, service: str) -> str:
    return hashlib.sha256(f"{name}|{service}".encode()).hexdigest()[:16]
