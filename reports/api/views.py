"""The report API: the weekly, monthly, quarterly and yearly figures as JSON, or as CSV with `format=csv`."""

import csv
import io

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from reports import selectors
from reports.api.serializers import (
    MonthlyReportSerializer,
    QuarterlyReportSerializer,
    ReportErrorSerializer,
    WeeklyReportSerializer,
    YearlyReportSerializer,
    flat_period_row,
)
from reports.forms import QuarterlyReportForm, ReportForm, WeeklyReportForm, YearlyReportForm
from reports.periods import DEFAULT_QUARTERS, DEFAULT_WEEKS, MAX_QUARTERS, MAX_WEEKS


class ReportCSVRenderer(BaseRenderer):
    """One flat row per period: month (or week, quarter, year), deploys, …, mttd_seconds_mean, …,
    dora_overall (and a week's or quarter's start and end last).

    Empty cells for nulls; seconds and fractions unrounded. The totals are in the JSON answer only.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        periods = next((data[name] for name in ("months", "years", "weeks", "quarters") if name in data), [])
        rows = [flat_period_row(period) for period in periods]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if rows:
            writer.writerow(rows[0].keys())
        for row in rows:
            writer.writerow(["" if value is None else value for value in row.values()])
        return out.getvalue().encode(self.charset)


# The weekly and quarterly reports' `from` and `to`, and their default ranges.
_PERIOD_WORDS = {
    "week": (
        "An ISO week, YYYY-Www (e.g. 2026-W05), or a day YYYY-MM-DD standing for its week, in the reporting time "
        "zone. `2026-W54`, or W53 in a year with 52 weeks, is a 400.",
        f"At most {MAX_WEEKS} weeks (20 years) from `from` to `to`.",
        f"Default: {DEFAULT_WEEKS - 1} weeks before `to`, so {DEFAULT_WEEKS} weeks in all.",
        "Default: this week.",
    ),
    "quarter": (
        "A calendar quarter, YYYY-Qn (e.g. 2026-Q1), or a month YYYY-MM or a day YYYY-MM-DD standing for its "
        "quarter, in the reporting time zone. `2026-Q5` is a 400.",
        f"At most {MAX_QUARTERS} quarters (20 years) from `from` to `to`.",
        f"Default: {DEFAULT_QUARTERS - 1} quarters before `to`, so {DEFAULT_QUARTERS} quarters in all.",
        "Default: this quarter.",
    ),
}


def _parameters(*, yearly: bool = False, period: str = "") -> list[OpenApiParameter]:
    if period:
        when, span, from_default, to_default = _PERIOD_WORDS[period]
    elif yearly:
        when = "A year (YYYY) or a month (YYYY-MM, standing for its year), in the reporting time zone."
        span = "The report covers every calendar year from `from`'s to `to`'s, at most 20."
        from_default = "Default: the year of the month 11 months before `to`."
        to_default = "Default: this year."
    else:
        when = "A month, YYYY-MM, in the reporting time zone."
        span = "At most 240 months from `from` to `to`."
        from_default = "Default: 11 months before `to`, so 12 months in all."
        to_default = "Default: this month."

    def many(name: str, example: str) -> str:
        return (
            f"Repeat the parameter (`{name}={example.split(',')[0]}&{name}={example.split(',')[1]}`) or separate "
            f"values with commas (`{name}={example}`); an unknown one is a 400."
        )

    return [
        OpenApiParameter("from", OpenApiTypes.STR, description=f"The first period. {when} {span} {from_default}"),
        OpenApiParameter("to", OpenApiTypes.STR, description=f"The last period, included. {when} {to_default}"),
        OpenApiParameter(
            "service",
            OpenApiTypes.STR,
            many=True,
            explode=True,
            description=f"Only these services (slugs), for deploys and incidents. {many('service', 'web,api')}",
        ),
        OpenApiParameter(
            "team",
            OpenApiTypes.STR,
            many=True,
            explode=True,
            description=f"Only the services of these dev teams. {many('team', 'Storefront,Platform')}",
        ),
        OpenApiParameter(
            "environment",
            OpenApiTypes.STR,
            many=True,
            explode=True,
            description=(
                "Only deploys to these production environments (slugs); lead time counts each commit from its first "
                "delivery to one of them. Incidents are not filtered. "
                f"{many('environment', 'production,production-eu')}"
            ),
        ),
        OpenApiParameter(
            "severity",
            OpenApiTypes.STR,
            many=True,
            explode=True,
            description=(
                f"Only incidents of these severities (1–4); deploys are not filtered. {many('severity', '1,2')}"
            ),
        ),
        OpenApiParameter(
            "include_partial",
            OpenApiTypes.STR,
            enum=["1", "true", "0", "false"],
            description=(
                "A period that hasn't ended yet (this month, this year) is `partial: true` and left out of the "
                "totals' DORA level; `1` or `true` counts it in. Default: left out."
            ),
        ),
        OpenApiParameter(
            "attribution",
            OpenApiTypes.STR,
            enum=["linked", "inferred", "both"],
            description=(
                "Which incidents count against which deploys (failed deploys, deploy-related incidents and the "
                "rates and levels from them). `linked` (default): only the causes someone linked. `inferred`: "
                "those, plus, for an incident without one, the latest production deploy (succeeded or rolled "
                "back) of one of its services at most `window` before its impact began. `both`: the figures "
                "are the linked rule's, and each period and the totals add an `inferred` object with the "
                "inferred rule's. Inferred causes are never stored."
            ),
        ),
        OpenApiParameter(
            "window",
            OpenApiTypes.STR,
            description=(
                "The inferred rule's window: `4h`, `90m`, `2h30m`, `1d`, or hours as a number (`1.5`); more than 0, "
                "at most 7 days. Default: OPSLOG_ATTRIBUTION_WINDOW_HOURS (4)."
            ),
        ),
        OpenApiParameter(
            "format",
            OpenApiTypes.STR,
            enum=["json", "csv"],
            description="`csv`: text/csv, one flat row per period (mttd_seconds_mean, dora_overall, …), no totals.",
        ),
    ]


_BAD_EXAMPLES = {
    "week": ("ISO week or day", "2026 has no week W54: its ISO weeks are W01 to W53."),
    "quarter": ("quarter, month or day", "A year has quarters Q1 to Q4, not Q5."),
}


def _responses(serializer, *, yearly: bool = False, period: str = "") -> dict:
    if period:
        bad_period, bad_example = _BAD_EXAMPLES[period]
    else:
        period = "year" if yearly else "month"
        bad_period = "year or month" if yearly else "month"
        bad_example = (
            "Enter a year as YYYY (e.g. 2010) or a month as YYYY-MM."
            if yearly
            else "Enter a month as YYYY-MM, e.g. 2010-05."
        )
    return {
        (200, "application/json"): OpenApiResponse(
            serializer, description=f"Every {period} of the range, including empty ones, and totals over the range."
        ),
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=f"With format=csv: one row per {period}."),
        (400, "application/json"): OpenApiResponse(
            ReportErrorSerializer,
            description=(
                f"A bad {bad_period}, `from` after `to`, a range too long, an unknown service, team, environment, severity or "
                "format."
            ),
            examples=[
                OpenApiExample(
                    "Bad values",
                    value={
                        "from": [bad_example],
                        "service": ["Unknown service: “serach”."],
                    },
                )
            ],
        ),
        (401, "application/json"): OpenApiResponse(description="No token, or an unknown one."),
    }


class _ReportView(APIView):
    form_class = ReportForm
    serializer_class = MonthlyReportSerializer
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, ReportCSVRenderer]
    name = "monthly"

    # The selector's entry point for this period: monthly_report, weekly_report, …
    report_function = staticmethod(selectors.monthly_report)

    def report(self, form):
        return self.report_function(
            first=form.first, last=form.last, filters=form.filters, include_partial=form.partial_in_level
        )

    def get(self, request):
        form = self.form_class(request.query_params)
        if not form.is_valid():
            return Response(form.errors_by_parameter(), status=400)
        report = self.report(form)
        # attribution=both: the report again under the inferred rule, side by side (inferred_figures).
        inferred = self.report(form.for_rule("inferred")) if form.attribution_rule == "both" else None
        context = {"attribution": form.attribution_rule, "window_seconds": form.window_seconds, "inferred": inferred}
        data = self.serializer_class(report, context=context).data
        response = Response(data)
        if isinstance(request.accepted_renderer, ReportCSVRenderer):
            filename = f"opslog-{self.name}-{data['from']}-to-{data['to']}.csv"
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors (400, 401) are JSON whatever format was asked for: a CSV of an error says nothing.
        if response.status_code >= 400 and isinstance(getattr(request, "accepted_renderer", None), ReportCSVRenderer):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class MonthlyReportView(_ReportView):
    @extend_schema(
        summary="The monthly numbers",
        description=(
            "Deploys, deployers, incidents, rates, MTTD, MTTR, time to restore, lead time and DORA levels for "
            "each month of the range, and over the whole range, exactly as /reports/how-we-count/ defines them. "
            "Months are in the reporting time zone; rates are fractions; durations are seconds, unrounded; "
            "a rate or duration is null where nothing qualifies."
        ),
        parameters=_parameters(yearly=False),
        responses=_responses(MonthlyReportSerializer, yearly=False),
    )
    def get(self, request):
        return super().get(request)


class YearlyReportView(_ReportView):
    form_class = YearlyReportForm
    serializer_class = YearlyReportSerializer
    name = "yearly"

    report_function = staticmethod(selectors.yearly_report)

    @extend_schema(
        summary="The yearly numbers",
        description=(
            "The same figures as the monthly report, per calendar year (in the reporting time zone), and over "
            "the whole range."
        ),
        parameters=_parameters(yearly=True),
        responses=_responses(YearlyReportSerializer, yearly=True),
    )
    def get(self, request):
        return super().get(request)


class WeeklyReportView(_ReportView):
    form_class = WeeklyReportForm
    serializer_class = WeeklyReportSerializer
    name = "weekly"

    report_function = staticmethod(selectors.weekly_report)

    @extend_schema(
        summary="The weekly numbers",
        description=(
            "The same figures as the monthly report, per ISO week (Monday 00:00 to the next Monday 00:00 in the "
            "reporting time zone, so a week with a summer-time change lasts 167 or 169 hours), and over the whole "
            "range. Each week has its label (2026-W05), its first day and the day after its last (`end`, excluded). "
            "Deploy frequency's level is deploys ÷ 7 days."
        ),
        parameters=_parameters(period="week"),
        responses=_responses(WeeklyReportSerializer, period="week"),
    )
    def get(self, request):
        return super().get(request)


class QuarterlyReportView(_ReportView):
    form_class = QuarterlyReportForm
    serializer_class = QuarterlyReportSerializer
    name = "quarterly"

    report_function = staticmethod(selectors.quarterly_report)

    @extend_schema(
        summary="The quarterly numbers",
        description=(
            "The same figures as the monthly report, per calendar quarter (in the reporting time zone), and over "
            "the whole range. Each quarter has its label (2026-Q1), its first day and the day after its last "
            "(`end`, excluded)."
        ),
        parameters=_parameters(period="quarter"),
        responses=_responses(QuarterlyReportSerializer, period="quarter"),
    )
    def get(self, request):
        return super().get(request)
