"""CDEvents as their senders post them, written from the CDEvents spec (no package ships its schemas
or examples: neither PyPI nor npm has one). Each builder names the spec release it follows:

- v0.4.1 (github.com/cdevents/spec, tag v0.4.1, schemas/*.json and examples/*.json):
  service.deployed/upgraded/rolledback 0.2.0, incident.detected/reported/resolved 0.2.0,
  change.merged 0.2.0; context: version, id, source, type, timestamp (required), chainId, links,
  schemaUri (optional).
- v0.5.0 (tag v0.5.0, schemas/*.json and conformance/*.json): the same subjects at 0.3.0; the
  context's `version` is named `specversion` and the subject has no `type`.

Subjects: a service event's subject `id` is the service, `content.environment.id` its environment and
`content.artifactId` a package URL of what went live; an incident's `content` has `description`,
`environment`, `service`, `artifactId` and (incident.reported, required) `ticketURI`; change.merged's
`content.repository` names the repository.
"""

import json
import uuid

SPEC = {"0.4.1": "0.2.0", "0.5.0": "0.3.0"}


def cdevent(
    subject_type: str,
    predicate: str,
    *,
    subject_id: str,
    content: dict | None = None,
    spec: str = "0.4.1",
    event_id: str | None = None,
    source: str = "/ci/pipelines",
    timestamp: str = "2026-12-01T10:00:00Z",
    custom_data=None,
) -> dict:
    """The CDEvent (the CloudEvent's data) of `dev.cdevents.<subject_type>.<predicate>` in spec `spec`."""
    event = {
        "context": {
            # v0.5 renamed the context's `version` to `specversion`, and dropped the subject's `type`.
            ("version" if spec.startswith("0.4") else "specversion"): spec,
            "id": event_id or str(uuid.uuid4()),
            "source": source,
            "type": f"dev.cdevents.{subject_type}.{predicate}.{SPEC[spec]}",
            "timestamp": timestamp,
        },
        "subject": {"id": subject_id, "source": source, "content": content or {}},
    }
    if spec.startswith("0.4"):
        event["subject"]["type"] = subject_type
    if custom_data is not None:
        event["customData"] = custom_data
    return event


def deployed(
    service: str = "checkout",
    environment: str = "production",
    version: str = "1.4.2",
    *,
    predicate: str = "deployed",
    **kwargs,
) -> dict:
    return cdevent(
        "service",
        predicate,
        subject_id=f"service/{service}",
        content={
            "environment": {"id": environment, "source": "/clusters/eu-1"},
            "artifactId": f"pkg:oci/{service}@{version}?repository_url=registry.example.com/{service}",
        },
        **kwargs,
    )


def incident(predicate: str, subject_id: str = "incident/123", *, content: dict | None = None, **kwargs) -> dict:
    base = {
        "description": "Checkout answers 500s",
        "environment": {"id": "production", "source": "/clusters/eu-1"},
        "service": {"id": "service/checkout", "source": "/clusters/eu-1"},
        "artifactId": "pkg:oci/checkout@1.4.2",
    }
    if predicate == "reported":
        base["ticketURI"] = "https://tickets.example.com/INC-7"
    return cdevent("incident", predicate, subject_id=subject_id, content={**base, **(content or {})}, **kwargs)


def change_merged(sha: str, repository: str = "checkout", **kwargs) -> dict:
    return cdevent(
        "change",
        "merged",
        subject_id=sha,
        content={"repository": {"id": f"example/{repository}", "source": "https://git.example.com"}},
        **kwargs,
    )


def binary(event: dict, **overrides) -> tuple[dict, bytes]:
    """(headers, body) of `event` in CloudEvents binary mode: the context in ce-* headers."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event["context"].get("id", "no-context-id"),
        "ce-source": event["context"]["source"],
        "ce-type": event["context"]["type"],
        "ce-time": event["context"]["timestamp"],
        "content-type": "application/json",
    }
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v is not None}, json.dumps(event).encode()


def structured(event: dict, **overrides) -> bytes:
    """The body of `event` in CloudEvents structured mode (application/cloudevents+json)."""
    envelope = {
        "specversion": "1.0",
        "id": event["context"]["id"],
        "source": event["context"]["source"],
        "type": event["context"]["type"],
        "time": event["context"]["timestamp"],
        "datacontenttype": "application/json",
        "data": event,
    }
    envelope.update(overrides)
    return json.dumps({k: v for k, v in envelope.items() if v is not None}).encode()
