"""Writes for CDEvents sinks: record each event once per sink that wants it (an outgoing Delivery),
then send a record's events to a sink in the order recorded, each once."""

import hashlib
import hmac
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from deploys.models import Deploy
from incidents.models import Incident
from integrations.cdevents_out import events as cdevents
from integrations.models import CDEventSink, CDEventSinkHost, Delivery
from plumbing.queueing import publish

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Opslog-Signature"
KIND = "cdevents"


def allowed_hosts() -> list[str]:
    """The hosts (or host:port) sinks may be at: the operator's OPSLOG_CDEVENTS_SINK_HOSTS and those
    admins list (CDEventSinkHost). Both empty: none."""
    return sorted({*settings.OPSLOG_CDEVENTS_SINK_HOSTS, *CDEventSinkHost.objects.values_list("host", flat=True)})


def host_allowed(url: str) -> bool:
    """Whether a sink may be sent to at `url`: http(s) only, and its host (or host:port) allowed
    (`allowed_hosts`)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    allowed = allowed_hosts()
    return host in allowed or (port is not None and f"{host}:{port}" in allowed)


def _record(sinks: list[CDEventSink], events: list[cdevents.Event]) -> set[tuple[int, str]]:
    """One outgoing delivery per sink and event it wants, in the events' order; the (sink, ordering
    key) pairs with new ones. The unique constraint decides between racers (ON CONFLICT DO NOTHING):
    both may queue a send for the same record, which sends each event once anyway."""
    wanted = [(sink, event) for event in events for sink in sinks if sink.wants(event.choice)]
    if not wanted:
        return set()
    known = set(
        Delivery.objects.filter(sink__in=sinks, delivery_id__in={event.id for _, event in wanted}).values_list(
            "sink_id", "delivery_id"
        )
    )
    rows = []
    for sink, event in wanted:
        if (sink.pk, event.id) in known:
            continue
        headers, body = cdevents.binary(event)
        rows.append(
            Delivery(
                direction=Delivery.Direction.OUT,
                sink=sink,
                kind=KIND,
                delivery_id=event.id,
                event=event.type,
                ordering_key=event.ordering_key,
                headers=headers,
                body=body,
            )
        )
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    return {(row.sink_id, row.ordering_key) for row in rows}


def _active_sinks() -> list[CDEventSink]:
    return list(CDEventSink.objects.filter(is_active=True))


def record_deploys(*, deploy_ids: list[int]) -> int:
    """Record the events of newly stored deploys for every sink that wants them, and queue them."""
    sinks = _active_sinks()
    if not sinks:
        return 0
    deploys = list(
        Deploy.objects.filter(pk__in=deploy_ids).select_related("service", "environment").order_by("deployed_at", "id")
    )
    # A service's first deploy to an environment is "deployed", later ones "upgraded": the earliest
    # live deploy of each pair in the batch, in one query.
    rows = (
        Deploy.objects.filter(
            service_id__in={d.service_id for d in deploys}, environment_id__in={d.environment_id for d in deploys}
        )
        .exclude(status=Deploy.Status.FAILED)
        .order_by()
        .values("service_id", "environment_id")
        .annotate(first=Min("deployed_at"))
    )
    earliest = {(row["service_id"], row["environment_id"]): row["first"] for row in rows}
    events = []
    for deploy in deploys:
        first = earliest.get((deploy.service_id, deploy.environment_id)) == deploy.deployed_at
        event = cdevents.deploy_event(deploy, first=first)
        if event is not None:
            events.append(event)
    fresh = _record(sinks, events)
    for sink_id, key in sorted(fresh):
        send_queue(sink_id, key)
    return len(fresh)


def record_incident(*, incident_id: int) -> int:
    """Record the events of the incident's stages reached so far that no sink has had yet, and queue them."""
    sinks = _active_sinks()
    if not sinks:
        return 0
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        return 0
    fresh = _record(sinks, cdevents.incident_events(incident))
    for sink_id, key in sorted(fresh):
        send_queue(sink_id, key)
    return len(fresh)


def send_queue(sink_id: int, ordering_key: str) -> None:
    # Celery's service ↔ task idiom: the task module imports this one.
    from integrations import tasks

    publish(tasks.send_cdevents, sink_id, ordering_key)


@dataclass(frozen=True)
class Sent:
    """What posting one delivery did; `retry` when trying again may help, after `retry_after` seconds if the sink said."""

    status: str
    outcome: str
    retry: bool = False
    retry_after: float = 0.0


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), 3600.0)
    except ValueError:
        return 0.0  # an HTTP date, or nonsense: our own backoff


def post(delivery: Delivery) -> Sent:
    """Post one stored event to its sink, now. Redirects are not followed (the allowlist is about
    where events go, and a redirect could lead anywhere)."""
    sink = delivery.sink
    if not sink.is_active:
        return Sent(Delivery.Status.IGNORED, "Not sent: the sink is disabled.")
    if not host_allowed(sink.url):
        return Sent(
            Delivery.Status.FAILED,
            "Not sent: the sink's URL is not http(s) to an allowed host (the admin's CDEvents sink hosts, OPSLOG_CDEVENTS_SINK_HOSTS).",
        )
    body = delivery.body.encode("utf-8")
    headers = dict(delivery.headers) if isinstance(delivery.headers, dict) else {}
    if sink.secret_encrypted:
        try:
            secret = sink.secret
        except ImproperlyConfigured:
            return Sent(
                Delivery.Status.FAILED, "Not sent: the sink's secret can't be decrypted; set it again in the admin."
            )
        headers[SIGNATURE_HEADER] = signature(secret, body)
    try:
        response = requests.post(
            sink.url, data=body, headers=headers, timeout=settings.OPSLOG_CDEVENTS_TIMEOUT, allow_redirects=False
        )
    except requests.Timeout:
        return Sent(Delivery.Status.FAILED, f"No answer within {settings.OPSLOG_CDEVENTS_TIMEOUT:g} s.", retry=True)
    except requests.RequestException as exc:
        # Not the exception's text: it can quote the URL, and a sink's URL may carry a token.
        return Sent(Delivery.Status.FAILED, f"Could not connect: {type(exc).__name__}.", retry=True)
    code = response.status_code
    if 200 <= code < 300:
        return Sent(Delivery.Status.PROCESSED, f"HTTP {code}.")
    if 300 <= code < 400:
        return Sent(Delivery.Status.FAILED, f"HTTP {code}: a redirect, not followed; give the sink its final URL.")
    if code == 429:
        return Sent(Delivery.Status.FAILED, "HTTP 429: rate limited.", retry=True, retry_after=_retry_after(response))
    if code >= 500 or code == 408:
        return Sent(Delivery.Status.FAILED, f"HTTP {code}.", retry=True, retry_after=_retry_after(response))
    # Any other 4xx: the sink refuses this event, and would again.
    return Sent(Delivery.Status.FAILED, f"HTTP {code}: refused by the sink.")


def _mark(delivery: Delivery, sent: Sent, *, pending: bool) -> None:
    delivery.status = Delivery.Status.RECEIVED if pending else sent.status
    delivery.outcome = sent.outcome + (" Will be retried." if pending else "")
    delivery.attempts += 1
    delivery.processed_at = timezone.now()
    delivery.save(update_fields=["status", "outcome", "attempts", "processed_at"])


def send_pending(*, sink_id: int, ordering_key: str) -> Sent | None:
    """Send the record's events still waiting for this sink, oldest first, each once. Stops at the
    first that may succeed later (it stays waiting, so nothing recorded after it overtakes it) and
    returns what happened to it, for the task to retry; None when all are done.

    Each is posted while its row is locked (on PostgreSQL): a second worker for the same record
    waits, then finds it sent and goes on to the next."""
    while True:
        pending = Delivery.objects.filter(
            sink_id=sink_id,
            ordering_key=ordering_key,
            direction=Delivery.Direction.OUT,
            status=Delivery.Status.RECEIVED,
        ).order_by("id")
        with transaction.atomic():
            delivery = pending.select_for_update(of=("self",)).select_related("sink").first()
            if delivery is None:
                # On PostgreSQL a row sent by another worker while we waited for its lock is
                # skipped, not replaced by the next: look again.
                if pending.exists():
                    continue
                return None
            sent = post(delivery)
            _mark(delivery, sent, pending=sent.retry)
        if sent.retry:
            return sent


def give_up(*, sink_id: int, ordering_key: str, reason: str) -> None:
    """After the last retry: the waiting event that kept failing is given up (replayable from the
    deliveries page); the record's later ones are then sent."""
    head = (
        Delivery.objects.filter(
            sink_id=sink_id,
            ordering_key=ordering_key,
            direction=Delivery.Direction.OUT,
            status=Delivery.Status.RECEIVED,
        )
        .order_by("id")
        .first()
    )
    if head is not None:
        Delivery.objects.filter(pk=head.pk).update(status=Delivery.Status.FAILED, outcome=f"Given up: {reason}"[:1000])


def resend(*, delivery_id: int) -> Sent | None:
    """Post one outgoing delivery again, now, whatever its status (the staff page's replay)."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",)).select_related("sink").filter(pk=delivery_id).first()
        )
        if delivery is None or not delivery.outgoing:
            return None
        sent = post(delivery)
        _mark(delivery, sent, pending=False)
        return sent
