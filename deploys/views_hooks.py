"""The one view every webhook sender posts to: /hooks/<kind>/.

No login (the sender proves itself with its signature or token) and no CSRF token (the sender is a
machine, not a browser holding a session).
"""

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from deploys.models import Delivery, Integration
from deploys.services import delivery_queue, delivery_receive
from deploys.webhooks import SENDERS, body_digest, stored_headers

logger = logging.getLogger(__name__)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _signed_by(sender, request, body: bytes, integration: Integration) -> bool:
    try:
        secret = integration.secret
    except ImproperlyConfigured:
        # One integration whose secret can't be decrypted (OPSLOG_SECRETS_KEY changed) must not
        # turn every delivery of its kind into an error: skip it, loudly.
        logger.error(
            "integration %s (%s): its secret can't be decrypted; set it again in the admin",
            integration.pk,
            integration.name,
        )
        return False
    return sender.verify(request, body, secret)


@csrf_exempt
@login_not_required
@require_POST
def hook_receive(request, kind: str):
    sender = SENDERS.get(kind)
    if sender is None:
        raise Http404(f"No webhook for {kind!r}.")
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > settings.OPSLOG_WEBHOOK_MAX_BYTES:
        return _error(413, f"The body is over {settings.OPSLOG_WEBHOOK_MAX_BYTES} bytes.")
    # From the stream, not request.body: that one stops at DATA_UPLOAD_MAX_MEMORY_SIZE, which is
    # meant for forms, while a webhook's own limit is OPSLOG_WEBHOOK_MAX_BYTES.
    body = request.read(settings.OPSLOG_WEBHOOK_MAX_BYTES + 1)
    if len(body) > settings.OPSLOG_WEBHOOK_MAX_BYTES:
        return _error(413, f"The body is over {settings.OPSLOG_WEBHOOK_MAX_BYTES} bytes.")

    # Signature first: nothing from an unproven sender is stored or processed.
    integration = next(
        (i for i in Integration.objects.filter(kind=kind, is_active=True) if _signed_by(sender, request, body, i)),
        None,
    )
    if integration is None:
        return _error(401, "The signature or token is missing or does not match any active integration.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "The body is not UTF-8 text.")
    if "\x00" in text:
        return _error(400, "The body has a NUL character, which no JSON sender sends.")
    try:
        event, delivery_id = sender.identify(request, body)
    except Exception:
        # A body we can't read still gets stored, so the failure is visible and replayable.
        event, delivery_id = "", ""
    delivery, created = delivery_receive(
        integration=integration,
        event=event,
        delivery_id=delivery_id or body_digest(body),
        headers=stored_headers(request),
        body=text,
    )
    if not created and delivery.status == Delivery.Status.RECEIVED:
        # The sender retries because it saw no success, or the first task was never queued (the
        # broker was down): queue it again. Processing takes turns on the row and is idempotent.
        transaction.on_commit(lambda: delivery_queue(delivery.pk))
    return JsonResponse({"delivery": delivery.pk, "duplicate": not created}, status=202)
