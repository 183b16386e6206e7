"""/api/insights/: every insight as JSON, or as CSV (one row per figure and group) with `format=csv`."""

import csv
import io

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from reports.forms import InsightsForm
from reports.insights import insights

CSV_COLUMNS = ["figure", "factor", "service", "team", "severity", "kind", "responder", "month", "value", "link"]


def csv_rows(data: dict) -> list[dict]:
    """The JSON answer as long rows: `figure` names the number, the other columns its group; empty
    where a column doesn't apply. Seconds and fractions unrounded; an empty value for null."""
    rows: list[dict] = []

    def add(figure: str, value, link=None, **group):
        rows.append({"figure": figure, **group, "value": value, "link": link})

    add("incidents", data["incidents"]["count"], data["incidents"]["link"])
    for f in data["factors"]:
        add("factor_incidents", f["total"]["count"], f["total"]["link"], factor=f["slug"])
        for m in f["months"]:
            add("factor_incidents", m["count"], m["link"], factor=f["slug"], month=m["month"])
        for s in f["services"]:
            add("factor_incidents", s["count"], s["link"], factor=f["slug"], service=s["service"])
        for t in f["teams"]:
            add("factor_incidents", t["count"], t["link"], factor=f["slug"], team=t["team"])
    for key, group in (("by_service", "service"), ("by_team", "team")):
        for row in data[key]:
            add("incidents", row["count"], row["link"], **{group: row[group]})
            for s in row["severities"]:
                add("incidents", s["count"], s["link"], severity=s["severity"], **{group: row[group]})
    add("repeat_incidents", data["repeats"]["count"], data["repeats"]["link"])
    for row in data["repeats"]["by_service"]:
        add("repeat_incidents", row["count"], row["link"], service=row["service"])
    for row in data["stages"]:
        for stage in ("detect", "acknowledge", "mitigate", "resolve"):
            figure = row[stage]
            severity = row["severity"] or ""
            add(f"{stage}_median_seconds", figure["median_seconds"], figure["link"], severity=severity)
            add(f"{stage}_incidents", figure["count"], figure["link"], severity=severity)
    for kind, figures in data["remediations"].items():
        kind = "" if kind == "all" else kind
        for name in ("opened", "done", "wont_do", "overdue"):
            add(f"remediations_{name}", figures[name]["count"], figures[name]["link"], kind=kind)
        add("remediation_median_seconds_to_done", figures["median_seconds_to_done"], kind=kind)
        add("remediations_done_by_due_date", figures["done_by_due_date"], kind=kind)
        add("remediation_share_done_by_due_date", figures["share_done_by_due_date"], kind=kind)
    reviews = data["reviews"]
    add("postmortems_published", reviews["published"]["count"], reviews["published"]["link"])
    add("review_median_seconds_to_published", reviews["median_seconds_to_published"], reviews["published"]["link"])
    add("sev12_reviews_due", reviews["sev12_due"], reviews["sev12_link"])
    add("sev12_reviews_on_time", reviews["sev12_on_time"], reviews["sev12_link"])
    add("sev12_share_reviewed_on_time", reviews["sev12_share_on_time"], reviews["sev12_link"])
    for person in data["on_call"]["responders"]:
        add("responder_incidents", person["total"]["count"], person["total"]["link"], responder=person["responder"])
        for m in person["months"]:
            add("responder_incidents", m["count"], m["link"], responder=person["responder"], month=m["month"])
    outside = data["on_call"]["outside_hours"]
    add("outside_hours_incidents", outside["count"], outside["link"])
    for m in outside["months"]:
        add("outside_hours_incidents", m["count"], m["link"], month=m["month"])
    return rows


class InsightsCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        # Anything but the insights (an OPTIONS answer, say) has no rows to give.
        rows = csv_rows(data) if isinstance(data, dict) and "incidents" in data else []
        for row in rows:
            writer.writerow(["" if row.get(name) is None else row.get(name) for name in CSV_COLUMNS])
        return out.getvalue().encode(self.charset)


def _many(name: str, what: str, example: str) -> OpenApiParameter:
    first, second = example.split(",")
    return OpenApiParameter(
        name,
        OpenApiTypes.STR,
        many=True,
        explode=True,
        description=f"Only {what}. Repeat it (`{name}={first}&{name}={second}`) or comma-separate (`{name}={example}`).",
    )


class InsightsView(APIView):
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, InsightsCSVRenderer]

    @extend_schema(
        summary="Insights across incidents",
        description=(
            "Contributing factors per month and the services and teams they hit; incidents by service and team "
            "with their severity mix; repeat incidents; median detect, acknowledge, mitigate and resolve stages "
            "per severity; remediation health (dev, ops, all); review cadence; on-call load. Every figure has a "
            '`link` to the list of its rows. Defined in docs/reports/insights.md ("how we count"). Durations '
            "are seconds, shares fractions, null where nothing qualifies."
        ),
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (YYYY-MM-DD), reporting time zone."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, included. Default: today."),
            _many("service", "incidents affecting these services (slugs)", "web,api"),
            _many("team", "incidents affecting these dev teams' services", "Storefront,Platform"),
            _many("severity", "these severities (1–4)", "1,2"),
            _many(
                "factor", "incidents whose post-mortem names these contributing factors (slugs)", "capacity,dependency"
            ),
            _many("tag", "incidents with these tags (name or slug)", "dns,black-friday"),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"], description="`csv`: long rows."),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="Every figure."),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description=f"Columns {', '.join(CSV_COLUMNS)}; one row per figure and group."
            ),
            (400, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="A list of messages per parameter at fault.",
                examples=[
                    OpenApiExample("Bad values", value={"start": ["Enter a day as YYYY-MM-DD, e.g. 2026-03-31."]})
                ],
            ),
        },
    )
    def get(self, request):
        form = InsightsForm(request.query_params)
        if not form.is_valid():
            return Response(form.errors_by_parameter(), status=400)
        data = insights(start=form.cleaned_data["start"], end=form.cleaned_data["end"], filters=form.filters)
        response = Response(data)
        if isinstance(request.accepted_renderer, InsightsCSVRenderer):
            response["Content-Disposition"] = (
                f'attachment; filename="opslog-insights-{data["start"]}-to-{data["end"]}.csv"'
            )
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors (400, 401) are JSON whatever format was asked for, as the report API's.
        if response.status_code >= 400 and isinstance(getattr(request, "accepted_renderer", None), InsightsCSVRenderer):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
