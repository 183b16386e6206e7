"""Shared by the incident page tests."""

from django.utils import timezone

from incidents.models import Incident


def incident_edit_data(incident: Incident, **overrides) -> dict:
    """What the incident edit form posts back when nothing is touched, plus `overrides`."""

    def local(value):
        return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M:%S") if value else ""

    data = {
        "title": incident.title,
        "severity": str(incident.severity),
        "services": [s.slug for s in incident.services.all()],
        "summary": incident.summary,
        "started_at": local(incident.started_at),
        "detected_by": incident.detected_by,
        "detection_source": incident.detection_source,
        "detected_at": local(incident.detected_at),
        "acknowledged_at": local(incident.acknowledged_at),
        "mitigated_at": local(incident.mitigated_at),
        "resolved_at": local(incident.resolved_at),
        "commander": incident.commander,
        "participants": ", ".join(incident.participants),
    }
    data.update(overrides)
    return data
