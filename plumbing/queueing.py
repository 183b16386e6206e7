"""Queueing a Celery task without letting a broker outage hold up the caller."""

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def publish(task, *args) -> bool:
    """Queue `task(*args)`, waiting for the broker no longer than OPSLOG_BROKER_PUBLISH_TIMEOUT
    seconds (connecting and publishing, no retries); False, and logged, when it could not be queued.
    For tasks whose work is stored first (an outbox message, a webhook delivery) and that a beat
    task queues again when they are still undone.

    The app's pooled connection retries a broker that is down for seconds (about two for a refused
    Redis connection, forever for one that accepts and never answers); a request can't wait that long.
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
        logger.warning("could not queue %s%r (%s); it is stored, and beat queues it later", task.name, args, exc)
        return False
    return True
