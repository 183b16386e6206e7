"""Celery tasks for deploys: send one outbox message, and the beat task that sends what is due."""

import logging

from celery import shared_task

from deploys import notifications, outbox  # noqa: F401  (notifications registers the deploy senders)
from deploys.models import OutboxMessage
from plumbing.queueing import publish

logger = logging.getLogger(__name__)


# Late acknowledgement: a worker that dies mid-send leaves the message on the broker for the next
# one; outbox.send skips what is sent already, so running it again is safe.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def send_outbox_message(self, message_id: int) -> None:
    attempt = outbox.send(message_id=message_id)
    if attempt is None or attempt.status != OutboxMessage.Status.PENDING:
        return
    # In-process (no broker) there is no worker to retry later; don't hold up the request. The
    # message stays pending: the admin's "send again" or a later sweep sends it.
    if self.request.is_eager:
        return
    # If the retry can't be queued (the broker went away), the message is still pending: beat sends it.
    raise self.retry(eta=attempt.next_attempt_at, max_retries=None)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_due_outbox_messages() -> int:
    """Beat: every pending outbox message whose next try is due is queued again, so a broker or
    receiver outage costs time, never a side effect. Returns how many were queued."""
    queued = 0
    for message_id in outbox.due_ids():
        if not publish(send_outbox_message, message_id):
            break  # the broker is down again: the next run picks these up
        queued += 1
    return queued


def queue_outbox_message(message_id: int) -> None:
    publish(send_outbox_message, message_id)
