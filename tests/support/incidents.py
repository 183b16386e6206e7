"""Shared by the incident page tests."""

import html as html_lib
import re

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
        "tags": ", ".join(incident.tag_names),
    }
    data.update(overrides)
    return data


def edit_data_from_page(response, **overrides):
    """The edit form as the browser would submit it, untouched except for `overrides`."""
    html = response.content.decode()
    data = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        if name not in ("csrfmiddlewaretoken",):
            data[name] = html_lib.unescape(value)
    form = response.context["form"]
    for name in ("severity", "detected_by"):
        data[name] = str(form.initial.get(name) or form[name].value())
    data["services"] = [s.slug for s in form.initial.get("services", [])]
    data["summary"] = form.initial.get("summary") or ""
    for name in ("acknowledged_at", "mitigated_at", "resolved_at", "detected_at", "started_at"):
        value = form[name].value()
        data[name] = form.fields[name].widget.format_value(value) if value else ""
    data.update(overrides)
    return data
