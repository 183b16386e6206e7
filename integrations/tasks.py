"""Celery tasks for webhook deliveries: process one, queue again the stale, purge the old."""

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings

from integrations import services

logger = logging.getLogger(__name__)


# Late acknowledgement: a worker that dies mid-delivery leaves the message on the broker for the
# next one; delivery_process is idempotent, so running it again is safe.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def process_delivery(self, delivery_id: int) -> None:
    result = services.delivery_process(delivery_id=delivery_id)
    if result is None or not result.retry:
        return
    if self.request.is_eager or self.request.retries >= settings.OPSLOG_WEBHOOK_MAX_RETRIES:
        logger.error("giving up on delivery %s: %s", delivery_id, result.outcome)
        return
    countdown = settings.OPSLOG_WEBHOOK_RETRY_DELAY * (2**self.request.retries)
    raise self.retry(countdown=countdown, max_retries=settings.OPSLOG_WEBHOOK_MAX_RETRIES)


@shared_task
def requeue_stale_deliveries() -> int:
    """Beat: deliveries still unprocessed after a while (their task was never queued or was lost)
    are queued again, so a broker outage costs time, never a delivery."""
    return services.delivery_requeue_stale(older_than=dt.timedelta(minutes=10))


@shared_task
def purge_old_deliveries() -> int:
    """Beat, daily: finished webhook deliveries older than OPSLOG_DELIVERY_RETENTION_DAYS go."""
    days = settings.OPSLOG_DELIVERY_RETENTION_DAYS
    return services.delivery_purge(older_than=dt.timedelta(days=days)) if days else 0


# --- Slack ----------------------------------------------------------------------------------------


@shared_task(acks_late=True, reject_on_worker_lost=True)
def slack_request(request_id: int) -> None:
    """Work one stored Slack request (a command, a button, an event); done once, whatever retries."""
    from integrations.slack import services as slack

    slack.request_process(request_id)


@shared_task
def slack_announce(incident_id: int) -> None:
    """Post or update the incident's announcement in Slack, as the incident is now."""
    from integrations.slack import services as slack

    slack.announce(incident_id)


@shared_task
def purge_old_slack_requests() -> int:
    """Beat, daily: Slack requests received more than OPSLOG_SLACK_REQUEST_RETENTION_DAYS ago go."""
    from integrations.slack import services as slack

    days = settings.OPSLOG_SLACK_REQUEST_RETENTION_DAYS
    return slack.request_purge(older_than=dt.timedelta(days=days)) if days else 0


# --- Mattermost -----------------------------------------------------------------------------------


@shared_task(acks_late=True, reject_on_worker_lost=True)
def mattermost_request(request_id: int) -> None:
    """Work one stored Mattermost request (a command, a button); done once, whatever resends."""
    from integrations.mattermost import services as mattermost

    mattermost.request_process(request_id)


@shared_task
def mattermost_announce(incident_id: int) -> None:
    """Post or update the incident's announcement in Mattermost, as the incident is now."""
    from integrations.mattermost import services as mattermost

    mattermost.announce(incident_id)


@shared_task
def purge_old_mattermost_requests() -> int:
    """Beat, daily: Mattermost requests older than OPSLOG_DELIVERY_RETENTION_DAYS go (they only
    guard against the same request being worked twice)."""
    from integrations.mattermost import services as mattermost

    days = settings.OPSLOG_DELIVERY_RETENTION_DAYS
    return mattermost.request_purge(older_than=dt.timedelta(days=days)) if days else 0


# --- Trackers -------------------------------------------------------------------------------------

# An hour at most between attempts, whatever a tracker's Retry-After says.
TRACKER_MAX_WAIT = 3600.0


def tracker_countdown(retries: int, retry_after: float | None) -> float:
    """Seconds before the next attempt: the tracker's Retry-After when it gave one, else
    OPSLOG_TRACKER_RETRY_DELAY doubling with each retry."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), TRACKER_MAX_WAIT)
    return min(settings.OPSLOG_TRACKER_RETRY_DELAY * (2**retries), TRACKER_MAX_WAIT)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def tracker_create_issue(self, link_id: int) -> None:
    """Create the remediation's issue in its tracker; retried with backoff on 429 (after its
    Retry-After), 5xx and no answer, up to OPSLOG_TRACKER_MAX_RETRIES. Safe to run twice: the link
    is locked, and a retry searches for the issue's marker before creating."""
    from integrations.trackers import services as trackers

    # Eager (make run, tests) can't wait between attempts: one attempt, then the link says why.
    last_chance = self.request.is_eager or self.request.retries >= settings.OPSLOG_TRACKER_MAX_RETRIES
    attempt = trackers.tracker_create_attempt(link_id=link_id, last_chance=last_chance)
    if attempt.retry:
        countdown = tracker_countdown(self.request.retries, attempt.retry_after)
        raise self.retry(countdown=countdown, max_retries=settings.OPSLOG_TRACKER_MAX_RETRIES)


@shared_task
def requeue_stale_tracker_links() -> int:
    """Beat: links still pending after longer than any wait between attempts are queued again, so
    a broker outage delays an issue, never loses it."""
    from integrations.trackers import services as trackers

    return trackers.tracker_requeue_stale(older_than=dt.timedelta(seconds=TRACKER_MAX_WAIT + 600))


# --- CDEvents sinks -------------------------------------------------------------------------------


def cdevents_retry_countdown(retries: int, retry_after: float = 0.0) -> float:
    """Seconds before retry number `retries` + 1: OPSLOG_CDEVENTS_RETRY_DELAY doubling each time, or
    the sink's Retry-After when that is longer."""
    return max(settings.OPSLOG_CDEVENTS_RETRY_DELAY * (2**retries), retry_after)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def send_cdevents(self, sink_id: int, ordering_key: str) -> None:
    """Send one record's waiting events to one sink, in order; retried with backoff while the sink
    fails (5xx, 429, a timeout). Safe twice: a sent event is never sent again."""
    from integrations.cdevents_out import services as cdevents_out

    sent = cdevents_out.send_pending(sink_id=sink_id, ordering_key=ordering_key)
    if sent is None:
        return
    if self.request.retries >= settings.OPSLOG_CDEVENTS_MAX_RETRIES:
        logger.error("giving up on a CDEvent for sink %s (%s): %s", sink_id, ordering_key, sent.outcome)
        cdevents_out.give_up(
            sink_id=sink_id,
            ordering_key=ordering_key,
            reason=f"{sent.outcome.rstrip('.')} after {self.request.retries + 1} tries.",
        )
        # The record's later events are not held back for ever by one the sink never took.
        cdevents_out.send_queue(sink_id, ordering_key)
        return
    countdown = cdevents_retry_countdown(self.request.retries, sent.retry_after)
    raise self.retry(countdown=countdown, max_retries=settings.OPSLOG_CDEVENTS_MAX_RETRIES)
