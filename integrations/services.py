"""Writes for webhook deliveries: store as they arrive, process once through the sender's adapter, replay, purge."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import TimelineEntry, entries_from
from integrations.models import Delivery, Integration
from plumbing import jsoninput
from plumbing.queueing import publish
from plumbing.webhooks import SENDERS, DeliveryIgnored, DeliveryRejected

logger = logging.getLogger(__name__)


def delivery_receive(
    *, integration: Integration, event: str, delivery_id: str, headers: dict, body: str
) -> tuple[Delivery, bool]:
    """Store a delivery as it arrived. Returns (delivery, created); the same delivery id again,
    even sent many times at once, returns the first row (the unique constraint decides)."""
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(
                integration=integration,
                kind=integration.kind,
                event=event[:100],
                delivery_id=delivery_id[:200],
                headers=headers,
                body=body,
            )
    except IntegrityError:
        existing = Delivery.objects.filter(integration=integration, delivery_id=delivery_id[:200]).first()
        if existing is None:
            raise
        return existing, False
    transaction.on_commit(lambda: delivery_queue(delivery.pk))
    return delivery, True


def delivery_queue(delivery_id: int) -> None:
    # Celery's service ↔ task idiom: the task module imports this one.
    from integrations import tasks

    outgoing = (
        Delivery.objects.filter(pk=delivery_id, direction=Delivery.Direction.OUT)
        .values_list("sink_id", "ordering_key")
        .first()
    )
    if outgoing is not None:
        # An event for a sink: its record's waiting events are sent together, in order.
        from integrations.cdevents_out.services import send_queue

        send_queue(*outgoing)
        return

    # Within OPSLOG_BROKER_PUBLISH_TIMEOUT, or not at all: a delivery that could not be queued is
    # stored and listed as "received", and beat's requeue_stale_deliveries queues it later.
    publish(tasks.process_delivery, delivery_id)


@dataclass(frozen=True)
class ProcessResult:
    status: str
    outcome: str
    retry: bool = False


def delivery_process(*, delivery_id: int, replay: bool = False) -> ProcessResult | None:
    """Process a stored delivery once: concurrent tasks for the same delivery take turns on its
    row, and a delivery already processed is left alone unless replayed. Records made by the
    sender's adapter are idempotent on the sender's ids, so a replay changes nothing already there.
    Nothing the adapter wrote survives a failure (a savepoint)."""
    with transaction.atomic():
        # Only this row is locked: its integration is a nullable join (outgoing ones have none), which
        # PostgreSQL can't lock.
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("integration")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return None
        if delivery.outgoing:
            # Sent by integrations.cdevents_out; only a replay comes here (below).
            return ProcessResult(delivery.status, delivery.outcome)
        if not replay and delivery.status in (Delivery.Status.PROCESSED, Delivery.Status.IGNORED):
            return ProcessResult(delivery.status, delivery.outcome)
        retry = False
        try:
            try:
                payload = jsoninput.loads(delivery.body)
            except jsoninput.JSONInputError as exc:
                # Too deep, or a lone surrogate: no adapter could store it, now or on a retry.
                raise DeliveryRejected(f"The body is refused: {exc}"[:300]) from None
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                # Only here: a ValueError from inside an adapter is a bug to retry, not a bad body.
                raise DeliveryRejected(f"The body is not valid JSON: {exc}"[:300]) from None
            if _has_nul(payload):
                raise DeliveryRejected(
                    "The body has a NUL character (\\u0000) in a string; the database can't store it."
                )
            with transaction.atomic(), entries_from(TimelineEntry.Source.HOOK):
                outcome = SENDERS[delivery.kind].process(delivery, payload)
            status = Delivery.Status.PROCESSED
        except DeliveryIgnored as exc:
            status, outcome = Delivery.Status.IGNORED, str(exc)
        except DeliveryRejected as exc:
            status, outcome = Delivery.Status.FAILED, str(exc)
        except Exception as exc:
            logger.exception("processing delivery %s failed", delivery_id)
            status, outcome, retry = Delivery.Status.FAILED, f"{type(exc).__name__}: {exc}"[:1000], True
        # An outcome quoting the body can't hold what UTF-8 can't encode: it could not be saved.
        delivery.status, delivery.outcome = status, jsoninput.printable(outcome)
        delivery.attempts += 1
        delivery.processed_at = timezone.now()
        delivery.save(update_fields=["status", "outcome", "attempts", "processed_at"])
        return ProcessResult(status, outcome, retry)


def _has_nul(payload) -> bool:
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def delivery_requeue_stale(*, older_than: timedelta) -> int:
    """Queue again the deliveries still waiting to be processed after `older_than`: their task was
    never queued (the broker was down when they arrived) or was lost. Processing is idempotent, so a
    delivery whose task is merely slow is safe to queue twice."""
    stale = list(
        Delivery.objects.filter(status=Delivery.Status.RECEIVED, received_at__lt=timezone.now() - older_than)
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )
    for delivery_id in stale:
        delivery_queue(delivery_id)
    return len(stale)


def delivery_purge(*, older_than: timedelta) -> int:
    """Delete the deliveries received more than `older_than` ago that are done with (processed,
    ignored or failed): their bodies can be megabytes and carry senders' names and emails. The
    records they made (deploys, incidents, alerts) stay. One still waiting is kept, whatever its age."""
    finished = [Delivery.Status.PROCESSED, Delivery.Status.IGNORED, Delivery.Status.FAILED]
    deleted, _ = Delivery.objects.filter(status__in=finished, received_at__lt=timezone.now() - older_than).delete()
    return deleted


def delivery_replay(*, delivery: Delivery) -> ProcessResult | None:
    """Run a stored delivery through its adapter again (from the staff page), now; an outgoing one
    is posted to its sink again."""
    if delivery.outgoing:
        from integrations.cdevents_out.services import resend

        sent = resend(delivery_id=delivery.pk)
        return None if sent is None else ProcessResult(sent.status, sent.outcome)
    return delivery_process(delivery_id=delivery.pk, replay=True)
