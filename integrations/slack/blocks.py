"""What Opslog shows in Slack, in Block Kit: the incident announcement, the two modals and a
suspect deploy's flag.

Block Kit's limits (a message: 50 blocks; a section's text: 3,000 characters; a field: 2,000; a
header or an option's text: 150 / 75; a select: 100 options) are kept here by cutting, so a long
title or many services never make Slack refuse the message.
"""

from django.conf import settings
from django.utils import timezone

from deploys.models import Deploy, Service
from deploys.notifications import chat_text
from incidents.models import Incident
from incidents.selectors import suspect_deploys
from plumbing.markdown import INCIDENT_SUMMARY_MAX_LENGTH, TIMELINE_NOTE_MAX_LENGTH

ACK, MITIGATE, RESOLVE, NOTE, SUSPECT, LINK_CAUSE = (
    "opslog_ack",
    "opslog_mitigate",
    "opslog_resolve",
    "opslog_note",
    "opslog_suspect",
    "opslog_link_cause",
)
FILE_VIEW, NOTE_VIEW = "opslog_file", "opslog_note"
# Blocks of the filing modal, by the incident field each fills: errors are returned per block.
FILE_BLOCKS = {"title": "title", "severity": "severity", "services": "services", "summary": "summary"}
MAX_OPTIONS = 100


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack's mrkdwn: &, < and > are control characters (links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def incident_url(incident: Incident) -> str:
    base = settings.OPSLOG_BASE_URL.rstrip("/")
    return f"{base}{incident.get_absolute_url()}" if base else ""


def _plain(text: str, limit: int = 75) -> dict:
    return {"type": "plain_text", "text": cut(text, limit)}


def _option(text: str, value: str, description: str = "") -> dict:
    option = {"text": _plain(text), "value": value}
    if description:
        option["description"] = _plain(description)
    return option


def _button(text: str, action_id: str, incident: Incident, style: str = "") -> dict:
    button = {"type": "button", "text": _plain(text), "action_id": action_id, "value": str(incident.pk)}
    if style:
        button["style"] = style
    return button


# The announcement's short names for the three roles (a section's fields sit two to a row).
ROLE_SHORT = {Incident.Role.LEAD: "Lead", Incident.Role.COMMS: "Comms", Incident.Role.SCRIBE: "Scribe"}


def role_fields(incident: Incident) -> list[dict]:
    """One field per role with its holder ("—" for nobody); a section takes 10 fields, so with
    severity, status and services there is room."""
    return [
        {"type": "mrkdwn", "text": cut(f"*{ROLE_SHORT[role]}*\n{escape(holder) or '—'}", 2000)}
        for role, _, holder in incident.role_holders
    ]


def roles_line(incident: Incident) -> str:
    """`Lead: ana · Comms: bob · Scribe: nobody yet`, for plain-text answers (`status`)."""
    return " · ".join(f"{ROLE_SHORT[role]}: {holder or 'nobody yet'}" for role, _, holder in incident.role_holders)


def announcement(incident: Incident) -> tuple[str, list[dict]]:
    """The announcement's fallback text (notifications, screen readers) and blocks."""
    services = ", ".join(s.slug for s in incident.services.all()) or "—"
    status = incident.get_status_display()
    text = f"Incident #{incident.pk} ({incident.get_severity_display()}, {status}): {incident.title}"
    url = incident_url(incident)
    blocks: list[dict] = [
        {"type": "header", "text": _plain(f"#{incident.pk} {incident.title}", 150)},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": cut(f"*Severity*\n{incident.get_severity_display()}", 2000)},
                {"type": "mrkdwn", "text": f"*Status*\n{status}" + (" (archived)" if incident.is_archived else "")},
                *role_fields(incident),
                {"type": "mrkdwn", "text": cut(f"*Services*\n{escape(services)}", 2000)},
            ],
        },
    ]
    if url:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{url}|Open incident #{incident.pk} in Opslog>"}}
        )
    if incident.status != Incident.Status.RESOLVED and not incident.is_archived:
        elements = []
        if incident.acknowledged_at is None:
            elements.append(_button("Acknowledge", ACK, incident, "primary"))
        if incident.mitigated_at is None:
            elements.append(_button("Mitigate", MITIGATE, incident))
        elements.append(_button("Resolve", RESOLVE, incident, "danger"))
        elements.append(_button("Add note", NOTE, incident))
        suspects = [
            _option(f"{d.service.slug} {d.version} ({timezone.localtime(d.deployed_at):%H:%M})", str(d.pk))
            for d in suspect_deploys(incident)[:MAX_OPTIONS]
        ]
        if suspects:
            elements.append(
                {
                    "type": "static_select",
                    "action_id": SUSPECT,
                    "placeholder": _plain("Link suspect deploy"),
                    "options": suspects,
                }
            )
        blocks.append({"type": "actions", "block_id": f"incident-{incident.pk}", "elements": elements})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Updated {timezone.localtime():%Y-%m-%d %H:%M %Z} by Opslog"}],
        }
    )
    return text, blocks


def _minutes(delta) -> str:
    minutes = round(abs(delta.total_seconds()) / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def suspect_flag(incident: Incident, deploy: Deploy, *, linked_by: str = "") -> tuple[str, list[dict]]:
    """A production deploy the incident's page lists among its suspects: the deploy's chat line
    (mention-safe, as the deploy channel shows it), when it went live against the impact, and a
    "Link as cause" button whose value carries both ids (`incident:deploy`); once linked from it,
    who linked it instead of the button."""
    line = chat_text(deploy)
    before = incident.started_at - deploy.deployed_at
    when = f"{_minutes(before)} {'before' if before.total_seconds() >= 0 else 'after'} the impact began"
    text = f"Suspect deploy for incident #{incident.pk}: {line}"
    button = {
        "type": "button",
        "text": _plain("Link as cause"),
        "action_id": LINK_CAUSE,
        "value": f"{incident.pk}:{deploy.pk}",
        "style": "primary",
    }
    elements: list[dict] = [button]
    url = settings.OPSLOG_BASE_URL.rstrip("/")
    if url:
        elements.append(
            {
                "type": "button",
                "text": _plain("Open the deploy"),
                "action_id": "opslog_open_deploy",
                "url": url + deploy.get_absolute_url(),
            }
        )
    message_blocks = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": cut(f":mag: *Suspect deploy* for incident #{incident.pk}, live {when}:\n{line}", 3000),
            },
        },
        {"type": "actions", "block_id": f"incident-{incident.pk}", "elements": elements},
    ]
    if linked_by:
        message_blocks[1] = {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": cut(f"Linked as a cause by {escape(linked_by)}.", 3000)}],
        }
    return text, message_blocks


def file_modal(*, channel_id: str = "") -> dict:
    """The modal `/incident` opens: title, severity with its meaning, services, what is happening."""
    severities = [
        _option(label, str(value), Incident.SEVERITY_DESCRIPTIONS[value]) for value, label in Incident.Severity.choices
    ]
    services = [_option(s.display_name, s.slug) for s in Service.objects.active().order_by("slug")[:MAX_OPTIONS]]
    blocks = [
        {
            "type": "input",
            "block_id": "title",
            "label": _plain("Title"),
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "max_length": Incident._meta.get_field("title").max_length,
                "placeholder": _plain("What is broken, for whom"),
            },
        },
        {
            "type": "input",
            "block_id": "severity",
            "label": _plain("Severity"),
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": severities,
                "initial_option": severities[Incident.Severity.SEV3 - 1],
            },
        },
    ]
    if services:
        blocks.append(
            {
                "type": "input",
                "block_id": "services",
                "optional": True,
                "label": _plain("Affected services"),
                "element": {"type": "multi_static_select", "action_id": "value", "options": services},
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": "summary",
            "optional": True,
            "label": _plain("What is happening"),
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "multiline": True,
                "max_length": min(INCIDENT_SUMMARY_MAX_LENGTH, 3000),
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": FILE_VIEW,
        "private_metadata": channel_id,
        "title": _plain("File an incident", 24),
        "submit": _plain("File", 24),
        "close": _plain("Cancel", 24),
        "blocks": blocks,
    }


def note_modal(incident: Incident) -> dict:
    return {
        "type": "modal",
        "callback_id": NOTE_VIEW,
        "private_metadata": str(incident.pk),
        "title": _plain(cut(f"Note on #{incident.pk}", 24), 24),
        "submit": _plain("Add", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            {
                "type": "input",
                "block_id": "text",
                "label": _plain("Note (Markdown)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": min(TIMELINE_NOTE_MAX_LENGTH, 3000),
                },
            }
        ],
    }


def view_value(view: dict, block_id: str):
    """A submitted modal's value for one block: a string, a selected option's value, or a list of
    them (multi-selects); None when the block is missing or left empty."""
    state = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    element = state.get("value") or {}
    if not isinstance(element, dict):
        return None
    if "selected_options" in element:
        return [o.get("value") for o in element.get("selected_options") or [] if isinstance(o, dict)]
    if "selected_option" in element:
        option = element.get("selected_option")
        return option.get("value") if isinstance(option, dict) else None
    return element.get("value")
