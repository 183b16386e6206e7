"""The deliveries page: every webhook delivery with its outcome, its raw headers and body, and
a Replay button. Admins only: bodies can carry names and emails from the senders' payloads."""

import json

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from config.roles import ADMIN, role_required
from deploys import services
from deploys.models import Delivery, Integration
from plumbing.paging import page_of


class DeliveryFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, choices=[("", "All kinds"), *Integration.Kind.choices])
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Delivery.Status.choices])


def deliveries_newest_first(*, kind: str = "", status: str = "") -> QuerySet[Delivery]:
    """Deliveries for the list, newest first, without their bodies and headers (a body can be megabytes).
    Served by the delivery_kind_status_idx index when filtered."""
    qs = Delivery.objects.select_related("integration").defer("body", "headers").order_by("-received_at", "-id")
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
        deliveries = deliveries_newest_first(kind=data.get("kind", ""), status=data.get("status", ""))
    page, query = page_of(request, deliveries)
    return render(
        request,
        "deploys/integrations/delivery_list.html",
        {"form": form, "page": page, "query": query, "here": request.get_full_path()},
    )


def _pretty(text: str) -> tuple[str, bool]:
    """The body indented when it is JSON (True), else as it arrived (False)."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=False), True
    except (ValueError, RecursionError):
        return text, False


@role_required(ADMIN)
def delivery_detail(request, pk: int):
    delivery = get_object_or_404(Delivery.objects.select_related("integration"), pk=pk)
    body, body_is_json = _pretty(delivery.body)
    return render(
        request,
        "deploys/integrations/delivery_detail.html",
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
