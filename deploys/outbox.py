"""The outbox: every outbound side effect (a deploy's chat line and email today; a tracker sync or
an event sink's post later) is a row written in the same transaction as the record that causes it,
and sent by a worker after commit. A broker or receiver outage delays a side effect; it never
loses one, and none goes out twice.

A higher app adds its own kind with `@sender("kind")` (registered when its module is imported,
e.g. from its AppConfig.ready) and records rows with deploys.services.outbox_record.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deploys.models import OutboxMessage

logger = logging.getLogger(__name__)

# kind -> the function that sends one message of that kind from its payload; it raises on failure.
SENDERS: dict[str, Callable[[dict], None]] = {}


class Failed(Exception):
    """A failure whose message is safe to show as it is (in the admin and the logs): a sender raises
    it instead of an exception whose text carries a secret, such as a webhook's URL."""


class Undeliverable(Exception):
    """Raised by a sender when trying again can't help (the record is gone, the receiver is no
    longer configured): the message is given up at once, with this as its last error."""


def sender(kind: str):
    """Registers the decorated function as the sender of messages of `kind`."""

    def register(send: Callable[[dict], None]) -> Callable[[dict], None]:
        SENDERS[kind] = send
        return send

    return register


def max_attempts() -> int:
    """The first try and OPSLOG_NOTIFY_MAX_RETRIES more; then the message is given up."""
    return settings.OPSLOG_NOTIFY_MAX_RETRIES + 1


def retry_delay(attempts: int) -> dt.timedelta:
    """Seconds before the next try after `attempts` failed ones: OPSLOG_NOTIFY_RETRY_DELAY, doubling."""
    return dt.timedelta(seconds=settings.OPSLOG_NOTIFY_RETRY_DELAY * (2 ** max(attempts - 1, 0)))


@dataclass(frozen=True)
class Attempt:
    """What one try did: the message's status after it, and for a pending one when it is next due."""

    message_id: int
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    error: str = ""


def describe(exc: BaseException) -> str:
    """A failure as the admin and the logs show it."""
    if isinstance(exc, Failed | Undeliverable):
        return str(exc)[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def send(*, message_id: int) -> Attempt | None:
    """Try to send one pending message that is due. None when there is nothing to do: it is sent,
    given up, not due yet, gone, or another worker is sending it right now.

    The row stays locked (SELECT … FOR UPDATE SKIP LOCKED) while it is sent and until it is marked:
    a second worker skips it, and a worker that dies mid-send releases the lock with its database
    session, leaving the row pending for the next try. SQLite has no row locks; there (the embedded
    mode: one process, tasks in-process after commit) nothing else sends the same row at once.
    """
    now = timezone.now()
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if message is None:
            return None
        rows = OutboxMessage.objects.filter(pk=message.pk)
        attempts = message.attempts + 1
        send_one = SENDERS.get(message.kind)
        try:
            if send_one is None:
                # Retried, not given up: a worker still running older code during an upgrade.
                raise Failed(f"this worker has no sender for {message.kind!r} messages")
            send_one(message.payload)
        except Exception as exc:
            error = describe(exc)
            done = isinstance(exc, Undeliverable) or attempts >= max_attempts()
            status = OutboxMessage.Status.GAVE_UP if done else OutboxMessage.Status.PENDING
            next_attempt_at = timezone.now() + retry_delay(attempts)
            rows.update(
                status=status,
                attempts=F("attempts") + 1,
                last_error=error,
                next_attempt_at=next_attempt_at,
                updated_at=timezone.now(),
            )
            logger.warning("%s %s failed (attempt %s): %s", message.kind, message.key, attempts, error)
            if done:
                logger.error("giving up on %s %s after %s attempt(s)", message.kind, message.key, attempts)
            return Attempt(message.pk, status, attempts, next_attempt_at, error)
        sent_at = timezone.now()
        rows.update(
            status=OutboxMessage.Status.SENT,
            attempts=F("attempts") + 1,
            last_error="",
            sent_at=sent_at,
            updated_at=sent_at,
        )
        return Attempt(message.pk, OutboxMessage.Status.SENT, attempts, sent_at)


def due_ids(*, limit: int = 1000) -> list[int]:
    """Pending messages whose next try is due, oldest first."""
    return list(
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def send_again(*, message_ids) -> list[int]:
    """Given-up or pending messages among `message_ids` are pending and due now, with a fresh count
    of attempts; returns their ids (the caller queues them). Sent ones are left alone."""
    again = OutboxMessage.objects.filter(
        pk__in=list(message_ids), status__in=[OutboxMessage.Status.GAVE_UP, OutboxMessage.Status.PENDING]
    )
    ids = list(again.values_list("pk", flat=True))
    now = timezone.now()
    again.filter(pk__in=ids).update(
        status=OutboxMessage.Status.PENDING, attempts=0, next_attempt_at=now, updated_at=now
    )
    return ids
