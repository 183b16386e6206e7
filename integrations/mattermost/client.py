"""Talking to Mattermost: its REST API v4 as the Opslog bot, and answers to a slash command's response_url.

Mattermost has no official Python client, so this is `requests` with the bot's personal access
token as a bearer token, the few calls Opslog makes, a timeout on each, and 429s waited out: for
Retry-After, else X-Ratelimit-Reset (seconds to wait; a value that looks like epoch seconds is read
as a moment), at most OPSLOG_MATTERMOST_MAX_WAIT seconds a time and
OPSLOG_MATTERMOST_RATE_LIMIT_RETRIES times. Anything else that isn't a 2xx is a MattermostError.
"""

import logging
import time

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

# X-Ratelimit-Reset above this is a Unix time, not a number of seconds to wait.
_EPOCH_SECONDS = 1_000_000_000


class MattermostError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


def _wait_for(response: requests.Response) -> float | None:
    """Seconds the 429 asks for, or None when it says nothing readable."""
    for header in ("Retry-After", "X-Ratelimit-Reset"):
        raw = (response.headers.get(header) or "").strip()
        try:
            value = float(raw)
        except ValueError:
            continue
        if value > _EPOCH_SECONDS:
            value -= time.time()
        return max(value, 0.0)
    return None


class MattermostClient:
    def __init__(self, server):
        self.base = server.url.rstrip("/") + "/api/v4"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {server.bot_token}"

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        retries = settings.OPSLOG_MATTERMOST_RATE_LIMIT_RETRIES
        for attempt in range(retries + 1):
            try:
                response = self.session.request(
                    method, self.base + path, json=payload, timeout=settings.OPSLOG_MATTERMOST_TIMEOUT
                )
            except requests.RequestException as exc:
                raise MattermostError(0, f"{method} {path}: {type(exc).__name__}") from exc
            if response.status_code != 429:
                break
            wait = _wait_for(response)
            if attempt == retries or wait is None or wait > settings.OPSLOG_MATTERMOST_MAX_WAIT:
                raise MattermostError(429, f"{method} {path}: rate limited (asked to wait {wait} s)")
            logger.warning("Mattermost %s %s rate limited: waiting %.1f s", method, path, wait)
            time.sleep(wait)
        if not 200 <= response.status_code < 300:
            try:
                message = response.json().get("message") or response.reason
            except ValueError:
                message = response.reason
            raise MattermostError(response.status_code, f"{method} {path}: {message}")
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def create_post(self, *, channel_id: str, message: str, props: dict | None = None) -> dict:
        return self._call("POST", "/posts", {"channel_id": channel_id, "message": message, "props": props or {}})

    def update_post(self, *, post_id: str, message: str, props: dict | None = None) -> dict:
        """PUT replaces the post's message and props, so buttons no longer wanted are gone."""
        return self._call("PUT", f"/posts/{post_id}", {"id": post_id, "message": message, "props": props or {}})

    def ephemeral(self, *, user_id: str, channel_id: str, message: str) -> dict:
        """A post only `user_id` sees: the private answer to a button."""
        return self._call(
            "POST", "/posts/ephemeral", {"user_id": user_id, "post": {"channel_id": channel_id, "message": message}}
        )

    def get_user(self, user_id: str) -> dict:
        return self._call("GET", f"/users/{user_id}")

    def open_dialog(self, *, trigger_id: str, url: str, dialog: dict) -> dict:
        return self._call("POST", "/actions/dialogs/open", {"trigger_id": trigger_id, "url": url, "dialog": dialog})


def respond(response_url: str, text: str) -> None:
    """Answer a slash command through its response_url, privately to the person. A failure is
    logged; the work already done stands."""
    if not response_url:
        return
    try:
        response = requests.post(
            response_url,
            json={"response_type": "ephemeral", "text": text},
            timeout=settings.OPSLOG_MATTERMOST_TIMEOUT,
        )
    except requests.RequestException:
        logger.exception("Mattermost response_url answer failed")
        return
    if not 200 <= response.status_code < 300:
        logger.error("Mattermost response_url answered %s: %s", response.status_code, response.text[:200])
