"""What Opslog's deploys and incident stages look like as CDEvents, spec v0.4.1 (its schemas/*.json:
service.deployed/upgraded/rolledback 0.2.0, incident.detected/reported/resolved 0.2.0).

Each event's id is stable (a uuid5 of the record and its stage), so recording it again finds the
delivery already made and a receiver can drop a resend.
"""

import uuid
from dataclasses import dataclass
from urllib.parse import quote

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from django.conf import settings

from deploys.models import Deploy
from incidents.models import Incident, IncidentDeploy

SPEC_VERSION = "0.4.1"
TYPE_VERSION = "0.2.0"
# The customData of an incident event: Opslog's stages, acknowledged and mitigated among them,
# which CDEvents has no event for. The schema is served as a static file (docs/integrations/cdevents-out.md).
INCIDENT_SCHEMA_PATH = "opslog/cdevents/opslog-incident-0.1.0.json"
DEPLOY_SCHEMA_PATH = "opslog/cdevents/opslog-deploy-0.1.0.json"
# CDEvents incidents need an environment and Opslog's have none: an incident is about production
# (only production counts in the figures).
INCIDENT_ENVIRONMENT = "production"
# Opslog's incident stages, in the order they happen and are sent; the CDEvents type each is sent
# as (acknowledged and mitigated: a re-report of the ticket, the stage in customData).
INCIDENT_STAGES = [
    ("detected", "detected_at", "incident.detected"),
    ("reported", "created_at", "incident.reported"),
    ("acknowledged", "acknowledged_at", "incident.reported"),
    ("mitigated", "mitigated_at", "incident.reported"),
    ("resolved", "resolved_at", "incident.resolved"),
]


@dataclass(frozen=True)
class Event:
    """One CDEvent: `choice` is the sink's event choice it falls under (CDEventSink.Event)."""

    choice: str
    ordering_key: str
    cdevent: dict

    @property
    def id(self) -> str:
        return self.cdevent["context"]["id"]

    @property
    def type(self) -> str:
        return self.cdevent["context"]["type"]


def source() -> str:
    """The events' source: this Opslog's address (a URI reference; "/opslog" when OPSLOG_BASE_URL is unset)."""
    return settings.OPSLOG_BASE_URL.rstrip("/") or "/opslog"


def absolute(path: str) -> str:
    base = settings.OPSLOG_BASE_URL.rstrip("/")
    return f"{base}{path}" if base else ""


def event_id(record: str, stage: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source()}#{record}/{stage}"))


def purl(service: str, version: str) -> str:
    """The artifact as a package URL (pkg:generic/<service>@<version>), its version percent-encoded."""
    return f"pkg:generic/{quote(service, safe='.-_')}@{quote(version, safe='.-_~')}"


def _context(*, record: str, stage: str, kind: str, timestamp, schema_path: str) -> dict:
    context = {
        "version": SPEC_VERSION,
        "id": event_id(record, stage),
        "source": source(),
        "type": f"dev.cdevents.{kind}.{TYPE_VERSION}",
        "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
    }
    # STATIC_URL and the file's own name, not static(): a hashed name would change the URI with its content.
    schema_uri = (
        absolute(settings.STATIC_URL.rstrip("/") + "/" + schema_path) if settings.STATIC_URL.startswith("/") else ""
    )
    if schema_uri:  # an absolute URI or none (the spec's rule)
        context["schemaUri"] = schema_uri
    return context


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def deploy_event(deploy: Deploy, *, first: bool) -> Event | None:
    """The event of a deploy: service.deployed when it is the service's first in that environment
    (`first`), service.upgraded after that, service.rolledback for one rolled back (its artifact is
    then the version running again, the previous one). None for a failed deploy: nothing changed."""
    if deploy.status == Deploy.Status.FAILED:
        return None
    if deploy.status == Deploy.Status.ROLLED_BACK:
        kind, version = "service.rolledback", deploy.previous_version or deploy.version
    else:
        kind, version = ("service.deployed" if first else "service.upgraded"), deploy.version
    service, environment = deploy.service.slug, deploy.environment.slug
    cdevent = {
        "context": _context(
            record=f"deploy/{deploy.pk}",
            stage=kind,
            kind=kind,
            timestamp=deploy.deployed_at,
            schema_path=DEPLOY_SCHEMA_PATH,
        ),
        "subject": {
            "id": service,
            "source": source(),
            "type": "service",
            "content": {"environment": {"id": environment, "source": source()}, "artifactId": purl(service, version)},
        },
        "customDataContentType": "application/json",
        "customData": {
            "opslog": {
                "deploy": deploy.pk,
                "url": absolute(deploy.get_absolute_url()) or deploy.get_absolute_url(),
                "version": deploy.version,
                "previous_version": deploy.previous_version,
                "deployer": deploy.deployer,
                "status": deploy.status,
                "deployed_at": _iso(deploy.deployed_at),
            }
        },
    }
    return Event(choice=kind, ordering_key=f"deploy:{deploy.service_id}:{deploy.environment_id}", cdevent=cdevent)


def incident_events(incident: Incident) -> list[Event]:
    """The events of the incident's stages reached so far, in the order they happen."""
    services = sorted(s.slug for s in incident.services.all())
    cause = (
        IncidentDeploy.objects.filter(incident=incident, relation=IncidentDeploy.Relation.CAUSE)
        .select_related("deploy__service")
        .order_by("-deploy__deployed_at", "-id")
        .first()
    )
    url = absolute(incident.get_absolute_url())
    stages = {
        stage: getattr(incident, field) for stage, field, _ in INCIDENT_STAGES if getattr(incident, field) is not None
    }
    events = []
    for stage, _field, kind in INCIDENT_STAGES:
        if stage not in stages:
            continue
        content = {
            "description": incident.title,
            "environment": {"id": INCIDENT_ENVIRONMENT, "source": source()},
        }
        if services:
            content["service"] = {"id": services[0], "source": source()}
        if cause is not None:
            content["artifactId"] = purl(cause.deploy.service.slug, cause.deploy.version)
        if kind == "incident.reported":
            # An absolute URI is required: the incident's page, or its URN without OPSLOG_BASE_URL.
            content["ticketURI"] = url or f"urn:opslog:incident:{incident.pk}"
        cdevent = {
            "context": _context(
                record=f"incident/{incident.pk}",
                stage=stage,
                kind=kind,
                timestamp=stages[stage],
                schema_path=INCIDENT_SCHEMA_PATH,
            ),
            "subject": {"id": str(incident.pk), "source": source(), "type": "incident", "content": content},
            "customDataContentType": "application/json",
            "customData": {
                "opslog": {
                    "stage": stage,
                    "status": incident.status,
                    "severity": incident.severity,
                    "url": url or incident.get_absolute_url(),
                    "services": services,
                    **{f"{name}_at": _iso(value) for name, value in stages.items() if name != "reported"},
                    "started_at": _iso(incident.started_at),
                }
            },
        }
        choice = kind if stage not in ("acknowledged", "mitigated") else f"incident.{stage}"
        events.append(Event(choice=choice, ordering_key=f"incident:{incident.pk}", cdevent=cdevent))
    return events


def binary(event: Event) -> tuple[dict[str, str], str]:
    """The event as a binary-mode CloudEvent (ce-* headers, the CDEvent as the body), by the SDK."""
    context = event.cdevent["context"]
    cloudevent = CloudEvent(
        {
            "type": context["type"],
            "source": context["source"],
            "id": context["id"],
            "time": context["timestamp"],
            "datacontenttype": "application/json",
        },
        event.cdevent,
    )
    headers, body = to_binary(cloudevent)
    return dict(headers), body.decode("utf-8")
