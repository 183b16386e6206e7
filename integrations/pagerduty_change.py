"""PagerDuty Change Events in (docs/integrations/pagerduty-change-events.md).

`POST /hooks/pagerduty/v2/change/enqueue` takes the body of PagerDuty's Events API v2
`/v2/change/enqueue`, so a CI tool already set up to send change events needs only Opslog's URL: its
`routing_key` is an Opslog ingest token (`oli_…`), and the event becomes a deploy through the deploy
contract (deploys.services.deploy_record). Answered as PagerDuty's published Events API v2 OpenAPI
file words it: 202 `{"status": "success", "message": "Event processed"}`, errors 400
`{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`.
"""

import hashlib

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from deploys import contract
from deploys import services as deploy_services
from deploys.adapters import slug_from
from deploys.auth import key_digest
from deploys.contract import DeployInput
from deploys.models import IngestToken
from plumbing import jsoninput

INVALID = "Event object is invalid"
SUMMARY_MAX = 1024  # PagerDuty's own limit on payload.summary
DEFAULT_DEPLOYER = "pagerduty-change-event"
# The deploy contract's fields, as the change event names the paths they were read from.
FIELDS = ("service", "environment", "version", "deployer")


def _invalid(*errors: str, status: int = 400, message: str = INVALID, kind: str = "invalid event") -> JsonResponse:
    return JsonResponse({"status": kind, "message": message, "errors": list(errors)}, status=status)


def _paths(field: str) -> list[str]:
    raw = getattr(settings, f"OPSLOG_PAGERDUTY_CHANGE_{field.upper()}")
    return [path.strip() for path in raw.split(",") if path.strip()]


def _read(payload: dict, path: str):
    """`source` → payload.source; `custom_details.service` → payload.custom_details.service."""
    value: object = payload
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def mapped(payload: dict, field: str) -> tuple[str, str]:
    """(value, the path it came from) of a deploy field, by the configured paths; ("", "") if none."""
    for path in _paths(field):
        value = _read(payload, path)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            return value.strip(), f"payload.{path}"
    return "", ""


def _token(routing_key: str) -> IngestToken | None:
    if not routing_key.startswith(IngestToken.KEY_PREFIX):
        return None
    # By digest, as the API's authentication: the database never compares the key itself.
    return IngestToken.objects.filter(key_digest=key_digest(routing_key), revoked_at__isnull=True).first()


@csrf_exempt
@login_not_required
@require_POST
def change_enqueue(request):
    length = request.META.get("CONTENT_LENGTH") or "0"
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if not length.isdigit() or int(length) > limit:
        return _invalid(f"The request body is over {limit} bytes.", status=413, message="Request too large")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _invalid(f"The request body is over {limit} bytes.", status=413, message="Request too large")
    try:
        event = jsoninput.loads(body)
    except ValueError as exc:
        # PagerDuty's published answer to a body that isn't JSON (its Events API v2 OpenAPI file's
        # error example), with the parser's words after it.
        return _invalid(
            "JSON parse error", str(exc), message="Event object format is unrecognized", kind="Unrecognized object"
        )
    if not isinstance(event, dict):
        return _invalid("The body must be a JSON object.")

    routing_key = event.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key.strip():
        return _invalid("'routing_key' is missing or blank")
    token = _token(routing_key.strip())
    if token is None:
        return _invalid("Invalid routing key")

    payload = event.get("payload")
    if not isinstance(payload, dict):
        return _invalid("'payload' is missing or not an object")
    errors = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > SUMMARY_MAX:
        errors.append(f"'payload.summary' is longer than {SUMMARY_MAX} characters")
    deployed_at = None
    timestamp = payload.get("timestamp")
    if timestamp is not None:
        try:
            deployed_at = parse_datetime(timestamp) if isinstance(timestamp, str) else None
        except ValueError:  # well formed, out of range: month 13
            deployed_at = None
        if deployed_at is None or deployed_at.tzinfo is None:
            errors.append("'payload.timestamp' is not a valid ISO 8601 time with an offset")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        errors.append("'payload.custom_details' must be an object")
    links = event.get("links", [])
    if not isinstance(links, list) or not all(isinstance(link, dict) for link in links):
        errors.append("'links' must be a list of objects")
        links = []
    values, where = {}, {}
    for field in FIELDS:
        values[field], where[field] = mapped(payload, field)
    if not values["service"]:
        errors.append(f"No service: set one of {', '.join('payload.' + p for p in _paths('service'))}")
    if not values["version"]:
        errors.append(f"No version: set one of {', '.join('payload.' + p for p in _paths('version'))}")
    if errors:
        return _invalid(*errors)

    service = slug_from(values["service"])
    environment = slug_from(values["environment"] or settings.OPSLOG_PAGERDUTY_CHANGE_DEFAULT_ENVIRONMENT)
    refused = token.refused_services([service])
    if refused:
        return _invalid(
            f"This routing key (an Opslog ingest token) may not post deploys of {service}.",
            status=403,
            message="Forbidden",
        )
    if token.uncreatable_services([service]):
        return _invalid(f"{where['service']}: " + deploy_services.UNKNOWN_SERVICE_MESSAGE.format(slug=service))
    link_lines = [
        f"{link.get('text') or link.get('href')}: {link.get('href')}"
        for link in links
        if isinstance(link.get("href"), str) and link["href"].lower().startswith(("https://", "http://"))
    ]
    data = DeployInput(
        service=service,
        environment=environment,
        version=values["version"],
        deployer=values["deployer"] or DEFAULT_DEPLOYER,
        deployed_at=deployed_at or timezone.now(),
        message="\n".join([summary.strip(), *link_lines])[: contract.MAX_DEPLOY_MESSAGE_LENGTH],
    )
    # Change events carry no id of their own: the same body sent again by the same token (a retry)
    # is the same deploy. Without a timestamp a retry is one only within the same second.
    identity = body if timestamp is not None else body + data.deployed_at.replace(microsecond=0).isoformat().encode()
    key = "pdchange:" + hashlib.sha256(f"{token.pk}\n".encode() + identity).hexdigest()
    try:
        deploy_services.deploy_record(data=data, rules=contract.API, delivery_key=key)
    except ValidationError as error:
        names = {"service": where["service"], "environment": where["environment"] or "environment"}
        names |= {"version": where["version"], "deployer": where["deployer"] or "deployer"}
        names |= {"deployed_at": "payload.timestamp", "message": "payload.summary"}
        return _invalid(
            *(f"'{names.get(name, name)}': {' '.join(messages)}" for name, messages in error.message_dict.items())
        )
    return JsonResponse({"status": "success", "message": "Event processed"}, status=202)
