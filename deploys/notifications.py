"""What a deploy announcement says, where it goes and how it is sent (as outbox messages: deploys.outbox).

Each place a production deploy is announced is a *channel* (`register_channel`): the chat webhook
and email here; an app above this one adds its own (the Slack app, from integrations' AppConfig.ready)
without this app knowing it. deploys.services records one outbox message per configured channel.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.mail import send_mail

from deploys import outbox
from deploys.models import Deploy

CHAT = "deploy.chat"
EMAIL = "deploy.email"


@dataclass(frozen=True)
class Channel:
    """A place production deploys are announced. `name` ends each deploy's outbox key
    (`deploy:<id>:<name>`, so a channel is recorded once per deploy); `kind` names the outbox sender;
    `configured(deploy)` says, when the deploy is recorded, whether it goes there at all."""

    name: str
    kind: str
    configured: Callable[[Deploy], bool]


# name -> channel, in the order registered (the chat webhook and email first).
CHANNELS: dict[str, Channel] = {}


def register_channel(name: str, kind: str, configured: Callable[[Deploy], bool]) -> Channel:
    """Add (or replace, registering twice being harmless) a channel; its sender is registered with
    deploys.outbox.sender(kind) by whoever registers it."""
    channel = Channel(name=name, kind=kind, configured=configured)
    CHANNELS[name] = channel
    return channel


def channels_for(deploy: Deploy) -> list[Channel]:
    """The channels this deploy is announced in: every registered one configured for it."""
    return [channel for channel in CHANNELS.values() if channel.configured(deploy)]


def _same(text: str) -> str:
    return text


def chat_line(deploy: Deploy, *, text: Callable[[str], str] = _same, url: Callable[[str], str] = _same) -> str:
    """Deployinator's chat line, e.g.
    `[web] PRODUCTION deployed by ekastner build: 36790 took: 34.9 seconds diff: <url>`.
    `text` and `url` are applied to every value a sender supplied (chat_text neutralises them)."""
    parts = [
        f"[{text(deploy.service.slug)}] {text(deploy.environment.slug.upper())} deployed by {text(deploy.deployer)}",
        f"build: {text(deploy.version)}",
    ]
    if deploy.previous_version:
        parts.append(f"(was {text(deploy.previous_version)})")
    if deploy.duration_seconds is not None:
        parts.append(f"took: {deploy.duration_seconds:g} seconds")
    if deploy.status != Deploy.Status.SUCCEEDED:
        parts.append(f"status: {deploy.get_status_display().lower()}")
    if deploy.diff_url:
        parts.append(f"diff: {url(deploy.diff_url)}")
    return " ".join(parts)


def slack_escape(text: str) -> str:
    """Slack's escaping of `&`, `<` and `>`: a deployer named `<!channel>`, `<!here>`,
    `<!subteam^ID>` or `<@U123>` (Slack's, and Mattermost's Slack-compatible, mention forms) is
    shown as written and pages nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# U+2060 WORD JOINER: invisible and not a space, so `@channel` still reads as written, but an `@`
# followed by it starts no mention in Mattermost or Rocket.Chat (which page the whole channel on a
# plain `@channel`, `@here`, `@all`, and Rocket.Chat `@everyone` too), nor in Slack with link_names.
WORD_JOINER = "\u2060"
_MENTION = re.compile(r"[@＠﹫]")


def mention_safe(text: str) -> str:
    """User-supplied text made harmless for chat: no `@…` mention and no Slack `<…>` control form."""
    return slack_escape(_MENTION.sub(lambda match: match.group() + WORD_JOINER, text))


def url_mention_safe(value: str) -> str:
    # In a link an invisible character would break it; `%40` is the same `@` to the server.
    return slack_escape(value.replace("@", "%40"))


def chat_text(deploy: Deploy) -> str:
    """The chat line as it is posted: every value a sender supplied neutralised."""
    return chat_line(deploy, text=mention_safe, url=url_mention_safe)


def payload_deploy(payload: dict) -> Deploy:
    """The deploy an outbox message is about, read again; Undeliverable when it is gone."""
    deploy = Deploy.objects.select_related("service", "environment").filter(pk=payload.get("deploy_id")).first()
    if deploy is None:
        raise outbox.Undeliverable(f"deploy {payload.get('deploy_id')} is gone")
    return deploy


@outbox.sender(CHAT)
def send_chat(payload: dict) -> None:
    """Post to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat)."""
    if not settings.OPSLOG_CHAT_WEBHOOK_URL:
        raise outbox.Undeliverable("no chat webhook is configured (OPSLOG_CHAT_WEBHOOK_URL)")
    deploy = payload_deploy(payload)
    try:
        response = requests.post(settings.OPSLOG_CHAT_WEBHOOK_URL, json={"text": chat_text(deploy)}, timeout=10)
        response.raise_for_status()
    # Never the exception's text: it carries the webhook URL, which is a secret.
    except requests.HTTPError as exc:
        raise outbox.Failed(f"HTTP {exc.response.status_code} from the chat webhook") from None
    except requests.RequestException as exc:
        raise outbox.Failed(f"{type(exc).__name__} reaching the chat webhook") from None


@outbox.sender(EMAIL)
def send_email(payload: dict) -> None:
    if not settings.OPSLOG_DEPLOY_EMAILS:
        raise outbox.Undeliverable("no deploy email addresses are configured (OPSLOG_DEPLOY_EMAILS)")
    deploy = payload_deploy(payload)
    subject = (
        f"[Opslog] {deploy.service.slug} {deploy.version} deployed to {deploy.environment.slug} by {deploy.deployer}"
    )
    body = [chat_line(deploy), ""]
    if deploy.message:
        body += [deploy.message, ""]
    if settings.OPSLOG_BASE_URL:
        body.append(settings.OPSLOG_BASE_URL.rstrip("/") + deploy.get_absolute_url())
    send_mail(subject, "\n".join(body), None, settings.OPSLOG_DEPLOY_EMAILS)


register_channel("chat", CHAT, lambda deploy: bool(settings.OPSLOG_CHAT_WEBHOOK_URL))
register_channel("email", EMAIL, lambda deploy: bool(settings.OPSLOG_DEPLOY_EMAILS))
