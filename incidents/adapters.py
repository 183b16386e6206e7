"""PagerDuty and Alertmanager webhook senders → incidents and alerts.

Each sender checks its request (plumbing.webhooks: nothing unproven is stored), names the delivery,
and turns a stored delivery's JSON into calls to incidents.services. A field the sender's
documentation promises but the payload lacks makes a DeliveryRejected naming it (recorded as failed,
never retried); an event we don't record is a DeliveryIgnored.

- PagerDuty webhooks v3 (developer.pagerduty.com, "Webhooks v3 overview" and "Verifying
  Signatures"): `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 of the raw body; the
  delivery is named by `event.id`.
- Prometheus Alertmanager (prometheus.io/docs/alerting/latest/configuration/#webhook_config,
  payload version 4): `Authorization: Bearer <token>` (http_config.authorization.credentials).
  Alertmanager sends no delivery id, so a digest of the body names the delivery: the same
  notification sent again (Alertmanager retries) is the same delivery.
"""

import datetime as dt
import json
import re

from django.core.exceptions import ValidationError

from deploys.models import Service
from incidents import services
from incidents.models import Incident
from plumbing import jsoninput
from plumbing.fields import is_plausible
from plumbing.webhooks import DeliveryIgnored, DeliveryRejected, Sender, hmac_sha256, register, same

# RFC 3339 as Go writes it (time.RFC3339Nano): up to nine fraction digits, `Z` or an offset.
RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)


def parse_time(value, name: str, *, zero_ok: bool = False) -> dt.datetime | None:
    """An RFC 3339 time from a payload, aware, exact to the microsecond (nanoseconds are cut, not
    rounded: Python's datetime holds microseconds, and some Pythons' fromisoformat refuse nine digits).

    Go's zero time (`0001-01-01T00:00:00Z`, Alertmanager's "no end yet") is None when `zero_ok`.
    Anything else that isn't such a time raises DeliveryRejected naming the field.
    """
    match = RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        raise DeliveryRejected(f"{name} is missing or not an RFC 3339 time: {json.dumps(value)[:100]}.")
    if match["date"].startswith("0001-"):
        # Checked before parsing: year 1 with an offset would overflow when converted.
        if zero_ok:
            return None
        raise DeliveryRejected(f"{name} is the zero time ({value}).")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    zone = "+00:00" if match["zone"] in "Zz" else match["zone"]
    try:
        parsed = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{zone}")
    except ValueError:
        raise DeliveryRejected(f"{name} is not a valid time: {value}.") from None
    if not is_plausible(parsed):
        # Also keeps year-9999 times, which overflow once converted to UTC, out.
        raise DeliveryRejected(f"{name} is not between 1970 and 2999: {value}.")
    return parsed


def _object(container: dict, key: str, name: str) -> dict:
    value = container.get(key)
    if not isinstance(value, dict):
        raise DeliveryRejected(f"{name} is missing or not an object.")
    return value


def required_text(container: dict, key: str, name: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DeliveryRejected(f"{name} is missing or empty.")
    return value.strip()


def _rejected(prefix: str, error: ValidationError) -> DeliveryRejected:
    return DeliveryRejected(f"{prefix}: {' '.join(error.messages)}")


# --- PagerDuty ------------------------------------------------------------------------------------

PAGERDUTY_EVENTS = ("incident.triggered", *services.PAGERDUTY_STAGES)

# PagerDuty's default priorities P1 (highest) … P5 → our four severities; P5 is as low as SEV4 goes.
PRIORITY_SEVERITY = {
    "P1": Incident.Severity.SEV1,
    "P2": Incident.Severity.SEV2,
    "P3": Incident.Severity.SEV3,
    "P4": Incident.Severity.SEV4,
    "P5": Incident.Severity.SEV4,
}
# Without a priority (priorities are off, or not set yet: `priority` is null) or with a custom one:
# high urgency pages someone now — a core feature broken, SEV2; low urgency waits for working
# hours — degraded with a workaround, SEV3 (also our default for anything else).
URGENCY_SEVERITY = {"high": Incident.Severity.SEV2, "low": Incident.Severity.SEV3}


def pagerduty_severity(priority, urgency) -> int:
    if isinstance(priority, dict):
        summary = str(priority.get("summary") or "").strip().upper()
        if summary in PRIORITY_SEVERITY:
            return PRIORITY_SEVERITY[summary]
    return URGENCY_SEVERITY.get(str(urgency or "").lower(), Incident.Severity.SEV3)


def _pagerduty_verify(request, body: bytes, secret: str) -> bool:
    if not secret:
        return False
    expected = "v1=" + hmac_sha256(secret, body)
    # Several signatures during a secret rotation; any one matching will do. Every one is compared,
    # in constant time.
    given = [part.strip() for part in request.headers.get("X-PagerDuty-Signature", "").split(",")]
    return any(same(part, expected) for part in given if part)


def _pagerduty_identify(request, body: bytes) -> tuple[str, str]:
    # Checked like the processing reads it: a lone surrogate in the id could not be stored as its name.
    event = jsoninput.loads(body)["event"]
    return str(event.get("event_type") or ""), str(event.get("id") or "")


def _pagerduty_services(integration, service) -> list:
    """The PagerDuty service (by name, else id) through the integration's mapping; only a service
    Opslog knows: PagerDuty's names ("Checkout API (prod)") are no slugs to create services from."""
    if not isinstance(service, dict):
        return []
    for key in ("summary", "id"):
        name = service.get(key)
        if isinstance(name, str) and name:
            found = list(Service.objects.filter(slug=integration.map_service(name)))
            if found:
                return found
    return []


def _pagerduty_process(delivery, payload) -> str:
    if not isinstance(payload, dict):
        raise DeliveryRejected("The body is not a JSON object.")
    event = _object(payload, "event", "event")
    event_type = required_text(event, "event_type", "event.event_type")
    if event_type not in PAGERDUTY_EVENTS:
        raise DeliveryIgnored(f"PagerDuty {event_type} events are not recorded.")
    data = _object(event, "data", "event.data")
    stage = services.PAGERDUTY_STAGES.get(event_type)
    at = parse_time(event.get("occurred_at"), "event.occurred_at") if stage else None
    number = data.get("number")
    url = data.get("html_url")
    incident_data = services.PagerDutyIncidentInput(
        id=required_text(data, "id", "event.data.id"),
        title=required_text(data, "title", "event.data.title"),
        created_at=parse_time(data.get("created_at"), "event.data.created_at"),
        severity=pagerduty_severity(data.get("priority"), data.get("urgency")),
        services=_pagerduty_services(delivery.integration, data.get("service")),
        number=number if isinstance(number, int) else None,
        url=url if isinstance(url, str) else "",
    )
    try:
        incident, created = services.pagerduty_incident_event(data=incident_data, stage=stage, at=at)
    except ValidationError as error:
        raise _rejected(f"PagerDuty incident {incident_data.id}", error) from None
    filed = "filed" if created else "found"
    return f"incident {incident.pk} {filed}" + (f", {stage}" if stage else "") + f" (PagerDuty {incident_data.id})"


register(
    Sender(
        "pagerduty",
        _pagerduty_verify,
        _pagerduty_identify,
        _pagerduty_process,
        secret_headers=frozenset({"x-pagerduty-signature"}),
    )
)
