"""Inbound webhooks: the registry of senders and what every sender shares.

Each sender (GitHub and GitLab here, PagerDuty and Alertmanager in incidents.adapters) registers a
`Sender`: how to check its signature, how to name a delivery, and how to turn a stored delivery
into records. The path is always the same (deploys.views.hook_receive, deploys.services.delivery_*):
check the sender → store the raw delivery → answer 202 → a Celery task processes it.
"""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest


class DeliveryIgnored(Exception):
    """The delivery is valid but asks for nothing (a `pending` deployment status, a push to
    another branch): recorded as ignored, never retried."""


class DeliveryRejected(Exception):
    """The delivery can never be processed (a required field is missing or malformed): recorded as
    failed with this reason, never retried. Any other exception is retried with backoff."""


@dataclass(frozen=True)
class Sender:
    kind: str
    # (request, raw body, the integration's secret) → whether the request comes from the sender.
    verify: Callable[[HttpRequest, bytes, str], bool]
    # (request, raw body) → (event name, the sender's delivery id or "" to use a digest of the body).
    identify: Callable[[HttpRequest, bytes], tuple[str, str]]
    # (delivery, parsed JSON body) → a one-line outcome such as "deploy 42 created".
    process: Callable[["Delivery", object], str]  # noqa: F821


SENDERS: dict[str, Sender] = {}

# Headers stored as "[redacted]": they carry the integration's secret, or (signatures) enough to
# guess it offline from the stored body. A replay doesn't check signatures again: it needs none.
SECRET_HEADERS = {
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-gitlab-token",
    "cookie",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-pagerduty-signature",
}


def register(sender: Sender) -> Sender:
    SENDERS[sender.kind] = sender
    return sender


def hmac_sha256(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def same(given: str, expected: str) -> bool:
    """Constant-time comparison, so response timing leaks nothing about the secret."""
    return hmac.compare_digest(given.encode(), expected.encode())


def body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def stored_headers(request: HttpRequest) -> dict[str, str]:
    return {
        name: ("[redacted]" if name.lower() in SECRET_HEADERS else value) for name, value in request.headers.items()
    }
