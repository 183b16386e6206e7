"""The one view every webhook sender posts to: /hooks/<kind>/.

No login (the sender proves itself with its signature or token) and no CSRF token (the sender is a
machine, not a browser holding a session).
"""

import json
import logging

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.roles import ADMIN, role_required
from integrations import services
from integrations.models import Delivery, Integration
from integrations.services import delivery_queue, delivery_receive
from integrations.webhooks import body_digest, stored_headers
from plumbing import jsoninput
from plumbing.paging import page_of
from plumbing.webhooks import SENDERS

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
    # Taken from the body by the sender's own code: nothing UTF-8 can't encode may reach the database.
    event, delivery_id = jsoninput.printable(event), jsoninput.printable(delivery_id)
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


class DeliveryFilterForm(forms.Form):
    direction = forms.ChoiceField(required=False, choices=[("", "Both ways"), *Delivery.Direction.choices])
    kind = forms.ChoiceField(required=False, choices=[("", "All kinds"), *Delivery._meta.get_field("kind").choices])
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Delivery.Status.choices])


def deliveries_newest_first(*, kind: str = "", status: str = "", direction: str = "") -> QuerySet[Delivery]:
    """Deliveries for the list, newest first, without their bodies and headers (a body can be megabytes).
    Served by the delivery_kind_status_idx index when filtered."""
    qs = (
        Delivery.objects.select_related("integration", "sink")
        .defer("body", "headers", "sink__secret_encrypted")
        .order_by("-received_at", "-id")
    )
    if direction:
        qs = qs.filter(direction=direction)
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs


@role_required(ADMIN)
def delivery_list(request):
    form = DeliveryFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        deliveries = Delivery.objects.none()
    else:
        data = form.cleaned_data if form.is_bound else {}
        deliveries = deliveries_newest_first(
            kind=data.get("kind", ""), status=data.get("status", ""), direction=data.get("direction", "")
        )
    page, query = page_of(request, deliveries)
    return render(
        request,
        "integrations/delivery_list.html",
        {"form": form, "page": page, "query": query, "here": request.get_full_path()},
    )


def _pretty(text: str) -> tuple[str, bool]:
    """The body indented when it is JSON (True), else as it arrived (False). A lone surrogate
    escape (`\\ud800`) is shown as that escape: UTF-8 has no character for it."""
    if jsoninput.too_deep(text):
        return text, False
    try:
        pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=False)
    except (ValueError, RecursionError):
        return text, False
    return jsoninput.printable(pretty), True


@role_required(ADMIN)
def delivery_detail(request, pk: int):
    delivery = get_object_or_404(Delivery.objects.select_related("integration", "sink"), pk=pk)
    body, body_is_json = _pretty(delivery.body)
    return render(
        request,
        "integrations/delivery_detail.html",
        {
            "delivery": delivery,
            "body": body,
            "body_is_json": body_is_json,
            "headers": sorted(delivery.headers.items()) if isinstance(delivery.headers, dict) else [],
            "here": request.get_full_path(),
        },
    )


@require_POST
@role_required(ADMIN)
def delivery_replay(request, pk: int):
    delivery = get_object_or_404(Delivery, pk=pk)
    result = services.delivery_replay(delivery=delivery)
    if result is None:
        messages.error(request, f"Delivery {pk} no longer exists.")
        return redirect("integrations:deliveries")
    text = f"Replayed delivery {pk}: {result.status}" + (f" — {result.outcome}" if result.outcome else ".")
    level = {
        Delivery.Status.PROCESSED: messages.SUCCESS,
        Delivery.Status.IGNORED: messages.INFO,
    }.get(result.status, messages.ERROR)
    messages.add_message(request, level, text)
    # Back where the button was (the list keeps its filters and page), never to another site.
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    if back and safe:
        return redirect(back)
    return redirect("integrations:delivery", pk=pk)
