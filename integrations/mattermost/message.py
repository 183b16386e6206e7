"""What Opslog shows in Mattermost: the incident announcement (a message attachment with
interactive buttons) and the filing dialog, and the signatures that make their callbacks trustworthy.

Mattermost doesn't sign what a button or a dialog posts back: it sends the button's `context` and
the dialog's `state` as Opslog wrote them, from whoever can reach the URL. So Opslog signs both
(HMAC-SHA256 with a key derived from OPSLOG_SECRETS_KEY) and refuses any whose signature doesn't
match: a forged context can't name another incident, action or server.
"""

import base64
import hashlib
import hmac
import json

from django.conf import settings
from django.urls import reverse

from deploys.models import Service
from incidents.models import Incident
from plumbing.markdown import INCIDENT_SUMMARY_MAX_LENGTH

ACK, MITIGATE, RESOLVE = "ack", "mitigate", "resolve"
STAGES = {ACK: "acknowledged", MITIGATE: "mitigated", RESOLVE: "resolved"}
FILE_DIALOG = "opslog_file"
# Mattermost's dialog limits (model/integration_action.go): a title and a label 24 characters, help
# 150, a text element 150, a textarea 3,000. A post's message: 16,383 characters.
DIALOG_TITLE_MAX, LABEL_MAX, TEXTAREA_MAX, MESSAGE_MAX = 24, 24, 3000, 16383


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _key() -> bytes:
    return hashlib.sha256(b"opslog-mattermost-callbacks:" + settings.OPSLOG_SECRETS_KEY.encode()).digest()


def _mac(data: dict) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(_key(), canonical.encode(), hashlib.sha256).hexdigest()


def signed_context(**data) -> dict:
    """A button's context: `data` and its signature."""
    return {**data, "sig": _mac(data)}


def verified_context(context) -> dict | None:
    """The context's data when its signature matches (compared in constant time), else None."""
    if not isinstance(context, dict) or not isinstance(context.get("sig"), str):
        return None
    data = {k: v for k, v in context.items() if k != "sig"}
    return data if hmac.compare_digest(context["sig"], _mac(data)) else None


def signed_state(**data) -> str:
    """A dialog's state (a string Mattermost hands back on submission): data and signature."""
    raw = base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode()).decode()
    return f"{raw}.{_mac(data)}"


def verified_state(state) -> dict | None:
    if not isinstance(state, str) or state.count(".") != 1:
        return None
    raw, sig = state.split(".")
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not hmac.compare_digest(sig, _mac(data)):
        return None
    return data


def actions_url() -> str:
    """Where buttons and dialogs post back: absolute, from OPSLOG_BASE_URL (Mattermost needs a full URL)."""
    base = settings.OPSLOG_BASE_URL.rstrip("/")
    return f"{base}{reverse('integrations:mattermost_actions')}" if base else ""


def incident_url(incident: Incident) -> str:
    base = settings.OPSLOG_BASE_URL.rstrip("/")
    return f"{base}{incident.get_absolute_url()}" if base else ""


def escape(text: str) -> str:
    """Markdown's control characters, so a title can't make links or mentions."""
    for char in "\\`*_[]<>#@~|":
        text = text.replace(char, "\\" + char)
    return text


def _button(label: str, action: str, incident: Incident, server_id: int, style: str, url: str) -> dict:
    return {
        "id": action,
        "type": "button",
        "name": label,
        "style": style,
        "integration": {
            "url": url,
            "context": signed_context(action=action, incident=incident.pk, server=server_id),
        },
    }


def announcement(incident: Incident, *, server_id: int) -> tuple[str, dict]:
    """The announcement's message (notifications, the fallback) and props (one attachment, with
    Acknowledge / Mitigate / Resolve while the incident is open and OPSLOG_BASE_URL is set)."""
    services = ", ".join(s.slug for s in incident.services.all()) or "—"
    status = incident.get_status_display() + (" (archived)" if incident.is_archived else "")
    title = cut(incident.title, 300)
    message = f"Incident #{incident.pk} ({incident.get_severity_display()}, {status}): {escape(title)}"
    url = incident_url(incident)
    attachment = {
        "fallback": message,
        "color": "#2e7d32" if incident.status == Incident.Status.RESOLVED else "#c62828",
        "title": f"#{incident.pk} {title}",
        "fields": [
            {"short": True, "title": "Severity", "value": incident.get_severity_display()},
            {"short": True, "title": "Status", "value": status},
            {"short": True, "title": "Lead", "value": escape(cut(incident.commander, 200)) or "—"},
            {"short": True, "title": "Services", "value": escape(cut(services, 1000))},
        ],
    }
    if url:
        attachment["title_link"] = url
    target = actions_url()
    if target and incident.status != Incident.Status.RESOLVED and not incident.is_archived:
        buttons = []
        if incident.acknowledged_at is None:
            buttons.append(_button("Acknowledge", ACK, incident, server_id, "primary", target))
        if incident.mitigated_at is None:
            buttons.append(_button("Mitigate", MITIGATE, incident, server_id, "default", target))
        buttons.append(_button("Resolve", RESOLVE, incident, server_id, "danger", target))
        attachment["actions"] = buttons
    return cut(message, MESSAGE_MAX), {"attachments": [attachment]}


def file_dialog(*, state: str) -> dict:
    """The dialog `/incident` opens: title, severity with its meaning, services, what is happening."""
    severities = [
        {"text": cut(f"{label} — {Incident.SEVERITY_DESCRIPTIONS[value]}", 150), "value": str(value)}
        for value, label in Incident.Severity.choices
    ]
    services = [{"text": cut(s.display_name, 150), "value": s.slug} for s in Service.objects.active().order_by("slug")]
    elements = [
        {
            "display_name": "Title",
            "name": "title",
            "type": "text",
            "max_length": Incident._meta.get_field("title").max_length,
            "placeholder": "What is broken, for whom",
        },
        {
            "display_name": "Severity",
            "name": "severity",
            "type": "select",
            "options": severities,
            "default": str(Incident.Severity.SEV3.value),
        },
    ]
    if services:
        elements.append(
            {
                "display_name": "Affected services",
                "name": "services",
                "type": "select",
                "multiselect": True,
                "optional": True,
                "options": services,
            }
        )
    elements.append(
        {
            "display_name": "What is happening",
            "name": "summary",
            "type": "textarea",
            "optional": True,
            "max_length": min(INCIDENT_SUMMARY_MAX_LENGTH, TEXTAREA_MAX),
        }
    )
    return {
        "callback_id": FILE_DIALOG,
        "title": "File an incident",
        "submit_label": "File",
        "notify_on_cancel": False,
        "state": state,
        "elements": elements,
    }
