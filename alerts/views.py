"""Pages for alerts: the list, one alert (with its promote button) and the monthly alert review.

Every page needs a login (LoginRequiredMiddleware); promoting is a POST (CSRF-checked), one service
call, then a redirect.
"""

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from alerts import selectors, services
from alerts.forms import AlertFilterForm, AlertReviewMonthForm
from alerts.models import Alert
from config.roles import RESPONDER, role_required
from plumbing.fields import this_month
from plumbing.paging import page_of


@require_safe
def alert_list(request):
    form = AlertFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    alerts = selectors.alert_list(status=filters.get("status", ""), name=filters.get("name", ""))
    if form.is_bound and not form.is_valid():
        alerts = alerts.none()
    page, query = page_of(request, alerts)
    return render(
        request,
        "alerts/alert_list.html",
        {"form": form, "page": page, "query": query, "names": selectors.alert_names()},
    )


@require_safe
def alert_detail(request, pk: int):
    try:
        alert = selectors.alert_detail(pk)
    except Alert.DoesNotExist:
        raise Http404("No such alert.") from None

    # Pairs, not `labels.items` in the template: a label named "items" would shadow the method.
    def pairs(value) -> list[tuple[str, object]]:
        return sorted(value.items()) if isinstance(value, dict) else []

    return render(
        request,
        "alerts/alert_detail.html",
        {"alert": alert, "labels": pairs(alert.labels), "annotations": pairs(alert.annotations)},
    )


@require_POST
@role_required(RESPONDER)
def alert_promote(request, pk: int):
    alert = get_object_or_404(Alert, pk=pk)
    try:
        incident, created = services.alert_promote(alert=alert, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(alert)
    if not created:
        messages.info(request, "This alert was already promoted to this incident.")
    return redirect(incident)


@require_safe
def alert_review(request):
    form = AlertReviewMonthForm(request.GET or None)
    current = this_month()
    # The review is of a month gone by: the one under way would look quiet only for being young.
    last_complete = (current - dt.timedelta(days=1)).replace(day=1)
    if form.is_bound and not form.is_valid():
        month, error = last_complete, " ".join(form.errors["month"])
    else:
        month, error = (form.cleaned_data["month"] if form.is_bound else last_complete), ""
    (review,) = selectors.alert_review(first=month, last=month)
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    following = selectors.next_month(month)
    if following > current:  # no link to a month that hasn't begun
        following = None
    return render(
        request,
        "alerts/alert_review.html",
        {
            "review": review,
            "month": month,
            "error": error,
            "previous": previous,
            "following": following,
            "partial": month == current,
            "current_month": current,
            "time_zone": settings.OPSLOG_REPORT_TIME_ZONE,
        },
    )
