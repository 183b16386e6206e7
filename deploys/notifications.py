"""What a deploy announcement says, and how it is sent."""

import requests
from django.conf import settings
from django.core.mail import send_mail

from deploys.models import Deploy


def chat_line(deploy: Deploy) -> str:
    """Deployinator's chat line, e.g.
    `[web] PRODUCTION deployed by ekastner build: 36790 took: 34.9 seconds diff: <url>`."""
    parts = [
        f"[{deploy.service.slug}] {deploy.environment.slug.upper()} deployed by {deploy.deployer}",
        f"build: {deploy.version}",
    ]
    if deploy.previous_version:
        parts.append(f"(was {deploy.previous_version})")
    if deploy.duration_seconds is not None:
        parts.append(f"took: {deploy.duration_seconds:g} seconds")
    if deploy.status != Deploy.Status.SUCCEEDED:
        parts.append(f"status: {deploy.get_status_display().lower()}")
    if deploy.diff_url:
        parts.append(f"diff: {deploy.diff_url}")
    return " ".join(parts)


def slack_escape(text: str) -> str:
    """Slack's escaping: a deployer named `<!channel>` must not page everyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_chat(deploy: Deploy) -> None:
    """Post to a Slack-compatible incoming webhook. Raises on any failure so the task retries."""
    response = requests.post(
        settings.OPSLOG_CHAT_WEBHOOK_URL, json={"text": slack_escape(chat_line(deploy))}, timeout=10
    )
    response.raise_for_status()


def send_email(deploy: Deploy) -> None:
    subject = (
        f"[Opslog] {deploy.service.slug} {deploy.version} deployed to {deploy.environment.slug} by {deploy.deployer}"
    )
    body = [chat_line(deploy), ""]
    if deploy.message:
        body += [deploy.message, ""]
    if settings.OPSLOG_BASE_URL:
        body.append(settings.OPSLOG_BASE_URL.rstrip("/") + deploy.get_absolute_url())
    send_mail(subject, "\n".join(body), None, settings.OPSLOG_DEPLOY_EMAILS)
