"""Talking to Slack: the Web API client (slack-sdk) for a workspace, and answers to a response_url."""

import logging

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

logger = logging.getLogger(__name__)


def web_client(workspace) -> WebClient:
    """The workspace's bot client. A `ratelimited` answer (429) is waited out for its Retry-After
    and the call made again, so nothing is lost to a burst (an incident channel's busy minute);
    OPSLOG_SLACK_API_URL points it at a local fake in tests."""
    return WebClient(
        token=workspace.bot_token,
        base_url=settings.OPSLOG_SLACK_API_URL,
        timeout=settings.OPSLOG_SLACK_TIMEOUT,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=settings.OPSLOG_SLACK_RATE_LIMIT_RETRIES),
        ],
    )


def respond(response_url: str, text: str, *, ephemeral: bool = True) -> None:
    """Answer a slash command or a button through its response_url (valid 30 minutes, 5 uses):
    privately to the person by default. A failure is logged; the work already done stands."""
    if not response_url:
        return
    client = WebhookClient(response_url, timeout=settings.OPSLOG_SLACK_TIMEOUT)
    try:
        response = client.send(text=text, response_type="ephemeral" if ephemeral else "in_channel")
    except Exception:
        logger.exception("Slack response_url answer failed")
        return
    if response.status_code != 200:
        logger.error("Slack response_url answered %s: %s", response.status_code, response.body[:200])
