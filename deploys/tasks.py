"""Celery tasks for deploys: send one outbox message, and the beat task that sends what is due."""

import logging

from celery import shared_task
from django.conf import settings

from deploys import notifications, outbox  # noqa: F401  (notifications registers the deploy senders)
from deploys.models import OutboxMessage

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
    try:
        raise self.retry(eta=attempt.next_attempt_at, max_retries=None)
    except self.MaxRetriesExceededError:  # pragma: no cover (max_retries=None: never)
        return


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


def publish(task, *args) -> bool:
    """Queue `task(*args)`, waiting for the broker no longer than OPSLOG_BROKER_PUBLISH_TIMEOUT
    seconds (connecting and publishing, no retries). False (and logged) when it could not be queued.

    The app's pooled connection retries a broker that is down for seconds; a request (or a
    sweep) can't wait that long, and what could not be queued is in the outbox for the beat task.
    """
    if task.app.conf.task_always_eager:
        task.apply(args)  # the embedded mode: in-process, now
        return True
    timeout = settings.OPSLOG_BROKER_PUBLISH_TIMEOUT
    options = {"socket_connect_timeout": timeout, "socket_timeout": timeout, "max_retries": 0}
    try:
        with task.app.connection_for_write(connect_timeout=timeout, transport_options=options) as connection:
            task.apply_async(args, connection=connection, retry=False)
    except Exception as exc:
        logger.warning("could not queue %s%r (%s); the beat task queues it later", task.name, args, exc)
        return False
    return True


def queue_outbox_message(message_id: int) -> None:
    publish(send_outbox_message, message_id)
