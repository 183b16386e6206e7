"""The one view every webhook sender posts to: /hooks/<kind>/.

No login (the sender proves itself with its signature or token) and no CSRF token (the sender is a
machine, not a browser holding a session).
"""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from deploys.models import Integration
from deploys.services import delivery_receive
from deploys.webhooks import SENDERS, body_digest, stored_headers


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


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
    try:
        body = request.body
    except RequestDataTooBig:
        return _error(413, "The body is too large.")
    if len(body) > settings.OPSLOG_WEBHOOK_MAX_BYTES:
        return _error(413, f"The body is over {settings.OPSLOG_WEBHOOK_MAX_BYTES} bytes.")

    # Signature first: nothing from an unproven sender is stored or processed.
    integration = next(
        (i for i in Integration.objects.filter(kind=kind, is_active=True) if sender.verify(request, body, i.secret)),
        None,
    )
    if integration is None:
        return _error(401, "The signature or token is missing or does not match any active integration.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "The body is not UTF-8 text.")
    try:
        event, delivery_id = sender.identify(request, body)
    except Exception:
        # A body we can't read still gets stored, so the failure is visible and replayable.
        event, delivery_id = "", ""
    delivery, created = delivery_receive(
        integration=integration, event=event, delivery_id=delivery_id or body_digest(body),
        headers=stored_headers(request), body=text,
    )
    return JsonResponse({"delivery": delivery.pk, "duplicate": not created}, status=202)
