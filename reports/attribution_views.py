"""Attribution on the dashboard (which rule, its switch, both rules side by side) and the page
behind the failed-deploys and deploy-related counts under a rule (/reports/attributed/)."""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_safe

from plumbing.paging import page_of
from reports import selectors
from reports.forms import AttributedForm, ReportForm
from reports.selectors import Filters, Report
from reports.templatetags.reports import for_people


def _with_params(query, **changes: str) -> str:
    """The query string `query` (a QueryDict) with `changes` set."""
    query = query.copy()
    for name, value in changes.items():
        query[name] = value
    return query.urlencode()


ATTRIBUTION_TEXT = {
    "linked": "linked causes only",
    "inferred": "linked causes, else inferred (the latest production deploy of an affected service within {window})",
    "both": "linked causes only, and inferred beside it (within {window})",
}


@dataclass(frozen=True)
class RuleFigures:
    """One rule's change failure rate and levels over the rated months, for "both"."""

    rule: str
    change_failure_rate: str
    level: str | None
    overall: str | None


@dataclass(frozen=True)
class AttributionSummary:
    rule: str  # linked, inferred or both
    text: str  # "linked causes only", …
    window: str  # "4 hours"
    switch: list[tuple[str, str, str, bool]]  # (rule, label, query string, current)
    side_by_side: list[RuleFigures]  # with "both": linked, then inferred


def attribution_summary(
    query, form: ReportForm, report: Report, report_under: Callable[[Filters], Report]
) -> AttributionSummary:
    """Which rule the dashboard uses, in words; the links switching it (keeping every other
    filter: no JS needed); with "both", the two rules' change failure rates side by side, the
    inferred one from `report_under(filters)` (the dashboard's report, under other filters)."""
    rule = form.attribution_rule
    inferred = report_under(form.for_rule("inferred").filters) if rule == "both" else None
    window = for_people(form.for_rule("inferred").filters.window.total_seconds())
    switch = [
        (value, label, _with_params(query, attribution=value), value == rule)
        for value, label in (("linked", "Linked"), ("inferred", "Inferred"), ("both", "Both"))
    ]
    side_by_side = []
    if inferred is not None:
        for name, r in (("linked", report), ("inferred", inferred)):
            rated = r.rated
            rate = rated.change_failure_rate if rated is not None else None
            side_by_side.append(
                RuleFigures(
                    rule=name,
                    change_failure_rate="—" if rate is None else f"{rate * 100:.1f} %",
                    level=rated.dora.change_failure_rate if rated is not None else None,
                    overall=r.totals.dora.overall if rated is not None else None,
                )
            )
    return AttributionSummary(
        rule=rule,
        text=ATTRIBUTION_TEXT[rule].format(window=window),
        window=window,
        switch=switch,
        side_by_side=side_by_side,
    )


@require_safe
def attributed(request):
    """The rows behind a report's failed deploys or deploy-related incidents under an attribution
    rule, each with its causes, the inferred ones marked: where those counts lead under `inferred`."""
    form = AttributedForm(request.GET)
    if not form.is_valid():
        return render(request, "reports/attributed.html", {"form": form, "rows": []}, status=400)
    what, since, until = form.cleaned_data["what"], form.cleaned_data["since"], form.cleaned_data["until"]
    filters = form.filters
    if what == "failed_deploys":
        rows, attribute = selectors.failed_deploys, selectors.attributed_deploys
    else:
        rows, attribute = selectors.deploy_related_incidents, selectors.attributed_incidents
    # A page at a time: ten years of failed deploys is thousands of rows.
    page, query = page_of(request, rows(since=since, until=until, filters=filters))
    return render(
        request,
        "reports/attributed.html",
        {
            "form": form,
            "what": what,
            "since": since,
            "until": until,
            "filters": filters,
            "window": for_people(filters.window.total_seconds()),
            "rows": attribute(page.object_list, since=since, until=until, filters=filters),
            "page": page,
            "query": query,
            "time_zone": settings.OPSLOG_REPORT_TIME_ZONE,
        },
    )
