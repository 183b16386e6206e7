"""CDEvents in (docs/integrations/cdevents.md): CloudEvents carrying CDEvents spec v0.4 and v0.5
events, turned into deploys, incidents and pushed commits through the same services every other
path uses (deploys.services.deploy_record, incidents.services.incident_create / incident_stamp,
deploys.services.pushed_commits_record).

Parsing is strict and happens before anything is stored: a CloudEvent or CDEvent missing a required
field, with a wrong `specversion`, or with a time that isn't RFC 3339 is a ValidationError naming the
field (the API answers it 400), and nothing is written.
"""

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import unquote

from cloudevents.exceptions import GenericException
from cloudevents.http import from_http
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import PermissionDenied

from deploys import services as deploy_services
from deploys.adapters import slug_from
from deploys.contract import GIT_SHA, CommitInput, DeployInput
from deploys.models import IngestToken, Service
from incidents import services as incident_services
from incidents.models import Incident
from plumbing import jsoninput

CLOUDEVENTS_SPECVERSION = "1.0"
# The CDEvents spec releases whose event versions we read: v0.4.x and v0.5.x. Their `context.version`.
SPEC_VERSIONS = re.compile(r"\A0\.[45]\.\d+(-draft)?\Z")
# `dev.cdevents.<subject>.<predicate>.<major.minor.patch>`: the event versions those releases carry
# (service.* 0.1.x to 0.3.0, incident.* 0.1.x to 0.3.0, change.merged 0.1.x to 0.3.0).
TYPE = re.compile(r"\Adev\.cdevents\.(?P<subject>[a-z]+)\.(?P<predicate>[a-z]+)\.(?P<version>\d+\.\d+\.\d+(-draft)?)\Z")
SUPPORTED_EVENT_VERSIONS = re.compile(r"\A0\.(1\.\d+|2\.\d+|3\.0)(-draft)?\Z")
DEPLOY_PREDICATES = {"deployed", "upgraded", "rolledback"}
INCIDENT_PREDICATES = {"detected", "reported", "resolved"}
SUPPORTED = sorted(
    [f"dev.cdevents.service.{p}" for p in DEPLOY_PREDICATES]
    + [f"dev.cdevents.incident.{p}" for p in INCIDENT_PREDICATES]
    + ["dev.cdevents.change.merged"]
)
SOURCE = "cdevents"
DEPLOYER = "cdevents"
TEXT_MAX = 1000


class Ignored(Exception):
    """A well-formed CloudEvent of a type Opslog doesn't record: answered 202, nothing stored."""


def _invalid(name: str, message: str) -> ValidationError:
    return ValidationError({name: [message]})


@dataclass(frozen=True)
class CDEvent:
    """One CDEvent, its context checked: `kind` e.g. "service", `predicate` e.g. "deployed"."""

    id: str
    source: str
    kind: str
    predicate: str
    timestamp: dt.datetime
    subject: dict
    content: dict
    custom_data: object

    @property
    def key(self) -> str:
        # The event's identity across retries: CloudEvents makes source + id unique.
        return "cdevents:" + hashlib.sha256(f"{self.source}\n{self.id}".encode()).hexdigest()


def _text(container: dict, name: str, where: str, *, required: bool = True) -> str:
    value = container.get(name)
    if value is None or value == "":
        if required:
            raise _invalid(where, "This field is required.")
        return ""
    if not isinstance(value, str):
        raise _invalid(where, "Not a valid string.")
    value = value.strip()
    if "\x00" in value:
        raise _invalid(where, "Null characters are not allowed.")
    if len(value) > TEXT_MAX:
        raise _invalid(where, f"Ensure this field has no more than {TEXT_MAX} characters.")
    return value


def _object(container: dict, name: str, where: str, *, required: bool = True) -> dict:
    value = container.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _invalid(
            where, "This field is required and must be an object." if value is None else "Must be an object."
        )
    return value


def _time(value: object, where: str) -> dt.datetime:
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed, out of range: month 13
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise _invalid(where, "Enter an RFC 3339 time with its offset, e.g. 2026-12-06T10:00:00Z.")
    return parsed


def parse(headers: dict[str, str], body: bytes) -> CDEvent:
    """The CDEvent of an HTTP request in binary or structured CloudEvents mode. ValidationError names
    what is wrong; Ignored for a CloudEvent that is no CDEvent Opslog records."""
    try:
        # Depth and lone surrogates checked before the SDK parses it (plumbing.jsoninput).
        parsed = jsoninput.loads(body)
    except ValueError as exc:
        raise _invalid("data", f"The body is not JSON: {exc}") from None
    lowered = {name.lower(): value for name, value in headers.items()}
    # As the SDK tells them apart: binary mode carries ce-specversion as a header; anything else is
    # structured (application/cloudevents+json, or a plain JSON envelope from a lenient sender).
    mode_structured = "ce-specversion" not in lowered
    if not mode_structured:
        # Checked here: the SDK would take any ce-specversion it knows (0.3) or fall back silently.
        for name in ("specversion", "id", "source", "type"):
            if not lowered.get(f"ce-{name}", "").strip():
                raise _invalid(name, f"The ce-{name} header is required in binary mode.")
        if lowered["ce-specversion"].strip() != CLOUDEVENTS_SPECVERSION:
            raise _invalid("specversion", f"Only CloudEvents {CLOUDEVENTS_SPECVERSION} is accepted.")
    else:
        envelope = parsed
        if not isinstance(envelope, dict):
            raise _invalid("data", "A structured CloudEvent is a JSON object.")
        for name in ("specversion", "id", "source", "type"):
            if not isinstance(envelope.get(name), str) or not envelope[name].strip():
                raise _invalid(name, "This field is required.")
        if envelope["specversion"] != CLOUDEVENTS_SPECVERSION:
            raise _invalid("specversion", f"Only CloudEvents {CLOUDEVENTS_SPECVERSION} is accepted.")
        if "time" in envelope:
            _time(envelope["time"], "time")
    if not mode_structured and "ce-time" in lowered:
        _time(lowered["ce-time"], "time")
    try:
        event = from_http(headers, body)
    except (GenericException, ValueError, TypeError) as exc:
        raise _invalid("cloudevent", f"Not a CloudEvent: {exc}") from None
    match = TYPE.match(str(event["type"]))
    if match is None or f"dev.cdevents.{match['subject']}.{match['predicate']}" not in SUPPORTED:
        raise Ignored(str(event["type"]))
    if not SUPPORTED_EVENT_VERSIONS.match(match["version"]):
        raise Ignored(str(event["type"]))
    data = event.data
    if not isinstance(data, dict):
        raise _invalid("data", "The CloudEvent's data must be a CDEvent: a JSON object.")
    context = _object(data, "context", "context")
    # The spec's version is `context.version` in v0.4 and `context.specversion` from v0.5 on.
    version_field = "specversion" if "specversion" in context or "version" not in context else "version"
    version = _text(context, version_field, f"context.{version_field}")
    if not SPEC_VERSIONS.match(version):
        raise _invalid(f"context.{version_field}", "Only CDEvents spec 0.4.x and 0.5.x are accepted.")
    context_type = _text(context, "type", "context.type")
    if context_type != event["type"]:
        raise _invalid("context.type", "Must be the CloudEvent's type.")
    subject = _object(data, "subject", "subject")
    _text(subject, "id", "subject.id")
    return CDEvent(
        id=_text(context, "id", "context.id"),
        source=_text(context, "source", "context.source"),
        kind=match["subject"],
        predicate=match["predicate"],
        timestamp=_time(context.get("timestamp"), "context.timestamp"),
        subject=subject,
        content=_object(subject, "content", "subject.content", required=match["subject"] != "change"),
        custom_data=data.get("customData"),
    )


def _last_segment(identifier: str) -> str:
    return identifier.rstrip("/").rsplit("/", 1)[-1]


def _slug(identifier: str, where: str) -> str:
    slug = slug_from(_last_segment(identifier))
    if not slug:
        raise _invalid(where, "Can't make a service or environment name of it: use letters and digits.")
    return slug


@dataclass(frozen=True)
class Artifact:
    name: str
    version: str


def parse_purl(value: str, where: str) -> Artifact:
    """A package URL's name and version (`pkg:oci/checkout@1.4.2?repository_url=…` → checkout, 1.4.2),
    the version percent-decoded (`sha256%3Aabc` → `sha256:abc`)."""
    if not value.startswith("pkg:"):
        raise _invalid(where, "Enter a package URL (pkg:type/name@version).")
    path = re.split(r"[?#]", value[4:], maxsplit=1)[0]
    name, at, version = path.rpartition("@")
    if not at or not version or not name:
        raise _invalid(where, "The package URL has no version (…@version).")
    return Artifact(name=unquote(_last_segment(name)), version=unquote(version))


# --- Recording -------------------------------------------------------------------------------------


def _check_scope(token: IngestToken | None, *services: str) -> None:
    """An ingest token's services, as the deploy API checks them (PermissionDenied is the caller's 403)."""
    if token is None:
        return
    refused = token.refused_services(services)
    if refused:
        raise PermissionDenied(
            f"This ingest token may not post deploys of {', '.join(refused)}; it is for "
            f"{', '.join(sorted(s.slug for s in token.services.all()))}."
        )
    unknown = token.uncreatable_services(services)
    if unknown:
        raise _invalid("subject.id", deploy_services.UNKNOWN_SERVICE_MESSAGE.format(slug=", ".join(sorted(unknown))))


def _record_deploy(event: CDEvent, token: IngestToken | None) -> dict:
    environment = _object(event.content, "environment", "subject.content.environment")
    artifact = parse_purl(
        _text(event.content, "artifactId", "subject.content.artifactId"), "subject.content.artifactId"
    )
    service = _slug(_text(event.subject, "id", "subject.id"), "subject.id")
    _check_scope(token, service)
    rollback = event.predicate == "rolledback"
    data = DeployInput(
        service=service,
        environment=_slug(_text(environment, "id", "subject.content.environment.id"), "subject.content.environment.id"),
        version=artifact.version,
        deployer=DEPLOYER,
        deployed_at=event.timestamp,
        message=f"CDEvents service.{event.predicate} from {event.source}"[:TEXT_MAX],
        # No external_id: it is unique per service alone, while an event is unique by source and id
        # (two CI systems may both number their events 42); the delivery key carries both.
    )
    try:
        with transaction.atomic():
            deploy, created = deploy_services.deploy_record(
                data=data, rules=deploy_services.contract.HOOKS, delivery_key=event.key
            )
            if created and rollback:
                deploy_services.deploy_rollback_mark(deploy=deploy)
    except ValidationError as error:
        # The deploy contract's field names, as this event names them.
        raise ValidationError({_DEPLOY_FIELDS.get(k, k): v for k, v in error.message_dict.items()}) from None
    return {"recorded": "deploy", "deploy": deploy.pk, "created": created, "rollback": rollback}


_DEPLOY_FIELDS = {
    "service": "subject.id",
    "environment": "subject.content.environment.id",
    "version": "subject.content.artifactId",
    "deployed_at": "context.timestamp",
}


def _incident_services(event: CDEvent, artifact: Artifact | None) -> list[Service]:
    """The services Opslog knows of the event's `service` and its artifact: with them the artifact's
    deploys show among the incident's suspects (incidents.selectors.suspect_deploys)."""
    names = []
    service = _object(event.content, "service", "subject.content.service", required=False)
    if service:
        names.append(slug_from(_last_segment(_text(service, "id", "subject.content.service.id"))))
    if artifact is not None:
        names.append(slug_from(artifact.name))
    return list(Service.objects.filter(slug__in=[n for n in names if n]))


_INCIDENT_FIELDS = {
    "started_at": "context.timestamp",
    "detected_at": "context.timestamp",
    "resolved_at": "context.timestamp",
    "title": "subject.content.description",
    "external_id": "subject.id",
}


def _record_incident(event: CDEvent, token: IngestToken | None) -> dict:
    try:
        return _incident(event, token)
    except ValidationError as error:
        if not hasattr(error, "error_dict"):
            raise
        # The incident's field names, as this event names them.
        raise ValidationError({_INCIDENT_FIELDS.get(k, k): v for k, v in error.message_dict.items()}) from None


def _incident(event: CDEvent, token: IngestToken | None) -> dict:
    subject_id = _text(event.subject, "id", "subject.id")
    description = _text(event.content, "description", "subject.content.description", required=False)
    ticket = _text(event.content, "ticketURI", "subject.content.ticketURI", required=event.predicate == "reported")
    artifact_id = _text(event.content, "artifactId", "subject.content.artifactId", required=False)
    artifact = parse_purl(artifact_id, "subject.content.artifactId") if artifact_id else None
    # Required by the spec (incident.* 0.2.0 and 0.3.0), though Opslog's incidents keep no environment.
    _text(_object(event.content, "environment", "subject.content.environment"), "id", "subject.content.environment.id")
    services = _incident_services(event, artifact)
    if token is not None and token.services.exists():
        # A token limited to services files incidents of those only, as it posts their deploys; an
        # incident of no service Opslog knows is none of its services'.
        refused = token.refused_services([s.slug for s in services]) if services else ["an unknown service"]
        if refused:
            raise PermissionDenied(
                f"This ingest token may not report incidents of {', '.join(refused)}; it is for "
                f"{', '.join(sorted(s.slug for s in token.services.all()))}."
            )
    found = None
    if ticket:
        # The same incident reported under its ticket by another tool, with another subject id.
        found = Incident.objects.filter(source=SOURCE, summary__contains=f"<{ticket}>").first()
    summary_lines = [f"Reported through CDEvents ({event.source})."]
    if ticket:
        summary_lines.append(f"Ticket: <{ticket}>")
    if artifact_id:
        summary_lines.append(f"Artifact: `{artifact_id}`")
    with transaction.atomic():
        if found is None:
            found, created = incident_services.incident_create(
                data=incident_services.IncidentInput(
                    title=" ".join((description or f"CDEvents incident {subject_id}").split())[
                        : incident_services.TITLE_MAX
                    ],
                    started_at=event.timestamp,
                    detected_at=event.timestamp,
                    services=services,
                    detected_by=Incident.DetectedBy.MONITORING,
                    detection_source=f"CDEvents incident {subject_id}"[: incident_services.DETECTION_SOURCE_MAX],
                    summary="\n\n".join(summary_lines),
                    source=SOURCE,
                    external_id=subject_id[:200],
                )
            )
        else:
            created = False
        if event.predicate == "resolved":
            found = incident_services.incident_stamp(incident=found, stage="resolved", at=event.timestamp)
    return {"recorded": "incident", "incident": found.pk, "created": created, "stage": event.predicate}


def _record_change(event: CDEvent, token: IngestToken | None) -> dict:
    repository = _object(event.content, "repository", "subject.content.repository", required=False)
    custom = event.custom_data if isinstance(event.custom_data, dict) else {}
    sha = custom.get("sha") or custom.get("commit") or _last_segment(_text(event.subject, "id", "subject.id"))
    where = "customData.sha" if custom.get("sha") or custom.get("commit") else "subject.id"
    if not isinstance(sha, str) or not GIT_SHA.fullmatch(sha.strip().lower()):
        raise _invalid(where, "Name the merged commit: a git sha, 7 to 64 hex digits (or customData.sha).")
    name = repository.get("id") if repository else None
    if not name:
        raise _invalid("subject.content.repository.id", "This field is required: the repository names the service.")
    if not isinstance(name, str):
        raise _invalid("subject.content.repository.id", "Not a valid string.")
    service = _slug(name, "subject.content.repository.id")
    _check_scope(token, service)
    new = deploy_services.pushed_commits_record(
        service=service, commits=[CommitInput(sha=sha, authored_at=event.timestamp)]
    )
    return {"recorded": "commit", "service": service, "created": bool(new)}


def record(event: CDEvent, *, token: IngestToken | None = None) -> dict:
    """Store what `event` says. Returns what was recorded, for the answer. ValidationError (a 400) and
    PermissionDenied (a 403) leave nothing stored."""
    if event.kind == "service":
        return _record_deploy(event, token)
    if event.kind == "incident":
        return _record_incident(event, token)
    return _record_change(event, token)
