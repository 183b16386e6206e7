import logging

from celery import shared_task
from django.conf import settings

from deploys import notifications
from deploys.models import Deploy

logger = logging.getLogger(__name__)


@shared_task
def notify_deploy(deploy_id: int) -> None:
    """Fan out one deploy's announcement; each channel retries on its own."""
    if settings.OPSLOG_CHAT_WEBHOOK_URL:
        send_deploy_chat.delay(deploy_id)
    if settings.OPSLOG_DEPLOY_EMAILS:
        send_deploy_email.delay(deploy_id)


def _deliver(task, deploy_id: int, channel: str, send) -> None:
    deploy = Deploy.objects.select_related("service", "environment").filter(pk=deploy_id).first()
    if deploy is None:
        logger.warning("deploy %s is gone; no %s notification sent", deploy_id, channel)
        return
    try:
        send(deploy)
    except Exception as exc:
        attempt = task.request.retries + 1
        logger.warning("%s notification for deploy %s failed (attempt %s): %s", channel, deploy_id, attempt, exc)
        # In-process (no broker) there is no worker to retry later; don't hold up the request.
        if task.request.is_eager or task.request.retries >= settings.OPSLOG_NOTIFY_MAX_RETRIES:
            logger.error("giving up on %s notification for deploy %s", channel, deploy_id)
            return
        countdown = settings.OPSLOG_NOTIFY_RETRY_DELAY * (2**task.request.retries)
        raise task.retry(exc=exc, countdown=countdown, max_retries=settings.OPSLOG_NOTIFY_MAX_RETRIES)


@shared_task(bind=True)
def send_deploy_chat(self, deploy_id: int) -> None:
    _deliver(self, deploy_id, "chat", notifications.send_chat)


@shared_task(bind=True)
def send_deploy_email(self, deploy_id: int) -> None:
    _deliver(self, deploy_id, "email", notifications.send_email)
