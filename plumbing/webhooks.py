"""Inbound webhooks: the contract every sender's adapter keeps, and the registry of senders.

Each domain app registers a `Sender` for the senders whose records it makes (GitHub and GitLab in
deploys.adapters, PagerDuty in incidents.adapters, Alertmanager in alerts.adapters): how to check
its signature, how to name a delivery, and how to turn a stored delivery into records. The
integrations app serves them all the same way (integrations.views.hook_receive,
integrations.services.delivery_*): check the sender → store the raw delivery → answer 202 → a
Celery task processes it. It lives here, below every app, so that the domain apps can register
without importing the integrations app above them.
"""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.http import HttpRequest


class DeliveryIgnored(Exception):
    """The delivery is valid but asks for nothing (a `pending` deployment status, a push to
    another branch): recorded as ignored, never retried."""


class DeliveryRejected(Exception):
    """The delivery can never be processed (a required field is missing or malformed): recorded as
    failed with this reason, never retried. Any other exception is retried with backoff."""


class SenderIntegration(Protocol):
    """What an adapter reads of the integration a delivery came through (integrations.models.
    Integration, which the domain apps don't import)."""

    pk: int
    kind: str
    name: str
    service_mapping: dict
    options: dict

    def map_service(self, name: str) -> str: ...


@dataclass(frozen=True)
class Sender:
    kind: str
    # (request, raw body, the integration's secret) → whether the request comes from the sender.
    verify: Callable[[HttpRequest, bytes, str], bool]
    # (request, raw body) → (event name, the sender's delivery id or "" to use a digest of the body).
    identify: Callable[[HttpRequest, bytes], tuple[str, str]]
    # (delivery, parsed JSON body) → a one-line outcome such as "deploy 42 created".
    process: Callable[[Any, object], str]  # (integrations.models.Delivery, payload)
    # Headers that carry the integration's secret, or (signatures) enough to guess it offline from
    # the stored body: stored as "[redacted]" (integrations.webhooks.stored_headers).
    secret_headers: frozenset[str] = frozenset()


SENDERS: dict[str, Sender] = {}


def register(sender: Sender) -> Sender:
    SENDERS[sender.kind] = sender
    return sender


def hmac_sha256(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def same(given: str, expected: str) -> bool:
    """Constant-time comparison, so response timing leaks nothing about the secret."""
    return hmac.compare_digest(given.encode(), expected.encode())
