"""PagerDuty webhook v3 payloads, as PagerDuty documents them.

Followed exactly: developer.pagerduty.com, "Webhooks" → "Overview" (V3 webhooks; the source is
github.com/PagerDuty/developer-docs, docs/webhooks/01-Overview.md): the webhook payload (one `event`
object: id, event_type, resource_type, occurred_at, agent, client, data) and its example, and the
"incident" event data type (id, type, self, html_url, number, status, incident_key, created_at,
title, service, assignees, escalation_policy, teams, priority, urgency, conference_bridge,
resolve_reason). The field values are the documented example's ("A little bump in the road",
PGR0VU2, API Service / PF9KMXH, P1, high); only what differs between the three events we record
(event_type, the event id, occurred_at, status) is varied. Signing is documented in "Verifying
Signatures" (docs/webhooks/04-Signatures.md): `X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the
raw body>`, comma-separated when several secrets are active.

Two variants issue #6 asks us to cover, built from the documented example: `priority=None` (an
incident with no priority: the field is sent as null) and `without_incident_key` (the field left
out). Both change only that one field.
"""

import copy

INCIDENT_ID = "PGR0VU2"
CREATED_AT = "2020-04-09T15:16:27Z"

_AGENT = {
    "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
    "id": "PLH1HKV",
    "self": "https://api.pagerduty.com/users/PLH1HKV",
    "summary": "Tenex Engineer",
    "type": "user_reference",
}

P1 = {
    "html_url": "https://acme.pagerduty.com/account/incident_priorities",
    "id": "PSO75BM",
    "self": "https://api.pagerduty.com/priorities/PSO75BM",
    "summary": "P1",
    "type": "priority_reference",
}


def incident_data(
    *,
    incident_id: str = INCIDENT_ID,
    status: str = "triggered",
    created_at: str = CREATED_AT,
    title: str = "A little bump in the road",
    priority: dict | None = P1,
    urgency: str = "high",
    service_summary: str = "API Service",
) -> dict:
    """The documented "incident" event data type."""
    return {
        "id": incident_id,
        "type": "incident",
        "self": f"https://api.pagerduty.com/incidents/{incident_id}",
        "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
        "number": 2,
        "status": status,
        "incident_key": "d3640fbd41094207a1c11e58e46b1662",
        "created_at": created_at,
        "title": title,
        "service": {
            "html_url": "https://acme.pagerduty.com/services/PF9KMXH",
            "id": "PF9KMXH",
            "self": "https://api.pagerduty.com/services/PF9KMXH",
            "summary": service_summary,
            "type": "service_reference",
        },
        "assignees": [
            {
                "html_url": "https://acme.pagerduty.com/users/PTUXL6G",
                "id": "PTUXL6G",
                "self": "https://api.pagerduty.com/users/PTUXL6G",
                "summary": "User 123",
                "type": "user_reference",
            }
        ],
        "escalation_policy": {
            "html_url": "https://acme.pagerduty.com/escalation_policies/PUS0KTE",
            "id": "PUS0KTE",
            "self": "https://api.pagerduty.com/escalation_policies/PUS0KTE",
            "summary": "Default",
            "type": "escalation_policy_reference",
        },
        "teams": [
            {
                "html_url": "https://acme.pagerduty.com/teams/PFCVPS0",
                "id": "PFCVPS0",
                "self": "https://api.pagerduty.com/teams/PFCVPS0",
                "summary": "Engineering",
                "type": "team_reference",
            }
        ],
        "priority": copy.deepcopy(priority),
        "urgency": urgency,
        "conference_bridge": {
            "conference_number": "+1 1234123412,,987654321#",
            "conference_url": "https://example.com",
        },
        "resolve_reason": None,
    }


def event(event_type: str, *, event_id: str, occurred_at: str, **data) -> dict:
    """One webhook payload: the documented `event` envelope around an incident."""
    return {
        "event": {
            "id": event_id,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": occurred_at,
            "agent": copy.deepcopy(_AGENT),
            "client": {"name": "PagerDuty"},
            "data": incident_data(**data),
        }
    }


def triggered(**data) -> dict:
    data.setdefault("event_id", "01BZX6T3XNQ7V8G6H6QFS6CYEK")
    data.setdefault("occurred_at", "2020-04-09T15:16:27.516Z")
    return event("incident.triggered", status="triggered", **data)


def acknowledged(**data) -> dict:
    data.setdefault("event_id", "01BZX6VPR7HK5NWGH8X9WE3B6N")
    data.setdefault("occurred_at", "2020-04-09T15:20:02.369Z")
    return event("incident.acknowledged", status="acknowledged", **data)


def resolved(**data) -> dict:
    data.setdefault("event_id", "01BZX6XC8W6AQ3V5J0YMQ0E9WT")
    data.setdefault("occurred_at", "2020-04-09T16:01:45.128Z")
    return event("incident.resolved", status="resolved", **data)


def annotated() -> dict:
    """An `incident.annotated` event: its data is the documented "incident_note" type."""
    return {
        "event": {
            "id": "01BZX6YGX7MS0Z1KBH5T2V3T2F",
            "event_type": "incident.annotated",
            "resource_type": "incident",
            "occurred_at": "2020-04-09T15:30:00.000Z",
            "agent": copy.deepcopy(_AGENT),
            "client": None,
            "data": {
                "incident": {
                    "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                    "id": "PGR0VU2",
                    "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                    "summary": "A little bump in the road",
                    "type": "incident_reference",
                },
                "id": "P2LA89X",
                "content": "I sure am glad we are using PagerDuty!",
                "trimmed": False,
                "type": "incident_note",
            },
        }
    }


def without_incident_key(payload: dict) -> dict:
    payload = copy.deepcopy(payload)
    del payload["event"]["data"]["incident_key"]
    return payload
