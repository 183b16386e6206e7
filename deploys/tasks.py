import logging

import requests
from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from deploys import notifications
from deploys.models import Deploy, DeployNotification

logger = logging.getLogger(__name__)


@shared_task
def notify_deploy(deploy_id: int) -> None:
    """Fan out one deploy's announcement; each channel retries on its own."""
    if settings.OPSLOG_CHAT_WEBHOOK_URL:
        send_deploy_chat.delay(deploy_id)
    if settings.OPSLOG_DEPLOY_EMAILS:
        send_deploy_email.delay(deploy_id)


def _describe(exc: Exception) -> str:
    # Never the exception's text for HTTP errors: it carries the webhook URL, which is a secret.
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} from the chat webhook"
    if isinstance(exc, requests.RequestException):
        return f"{type(exc).__name__} reaching the chat webhook"
    return f"{type(exc).__name__}: {exc}"[:500]


def _deliver(task, deploy_id: int, channel: str, send) -> None:
    deploy = Deploy.objects.select_related("service", "environment").filter(pk=deploy_id).first()
    if deploy is None:
        logger.warning("deploy %s is gone; no %s notification sent", deploy_id, channel)
        return
    record, _ = DeployNotification.objects.get_or_create(deploy=deploy, channel=channel)
    if record.sent_at is not None:
        return  # a redelivered task: it went out already
    records = DeployNotification.objects.filter(pk=record.pk)
    try:
        send(deploy)
    except Exception as exc:
        reason = _describe(exc)
        records.update(attempts=F("attempts") + 1, last_error=reason, updated_at=timezone.now())
        attempt = task.request.retries + 1
        logger.warning("%s notification for deploy %s failed (attempt %s): %s", channel, deploy_id, attempt, reason)
        # In-process (no broker) there is no worker to retry later; don't hold up the request.
        if task.request.is_eager or task.request.retries >= settings.OPSLOG_NOTIFY_MAX_RETRIES:
            logger.error("giving up on %s notification for deploy %s", channel, deploy_id)
            return
        countdown = settings.OPSLOG_NOTIFY_RETRY_DELAY * (2**task.request.retries)
        raise task.retry(countdown=countdown, max_retries=settings.OPSLOG_NOTIFY_MAX_RETRIES) from None
    records.update(sent_at=timezone.now(), attempts=F("attempts") + 1, last_error="", updated_at=timezone.now())


@shared_task(bind=True)
def send_deploy_chat(self, deploy_id: int) -> None:
    _deliver(self, deploy_id, DeployNotification.Channel.CHAT, notifications.send_chat)


@shared_task(bind=True)
def send_deploy_email(self, deploy_id: int) -> None:
    _deliver(self, deploy_id, DeployNotification.Channel.EMAIL, notifications.send_email)
