"""The OpenDORA API (DevoteamNL/opendora), so its Backstage plug-in can use Opslog as its back end.

`GET /dora/api/metric` and `GET /dora/api/benchmark`, with the parameters and answer shapes of
opendora's published OpenAPI file (dora-api-mock/src/main/resources/openapi.yaml). Every figure
comes from Opslog's report (reports.selectors), bucketed by week, month or quarter: nothing is
counted here, only converted to the units opendora uses (hours, fractions).
"""

import datetime as dt
import uuid

from django import forms
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from deploys.auth import ApiTokenAuthentication
from deploys.models import Service
from plumbing.forms import ParameterErrorsMixin
from reports import selectors
from reports.selectors import Filters, add_months

METRIC_TYPES = ["df_average", "df_count", "mltc", "cfr", "mttr"]
BENCHMARK_TYPES = ["df", "mltc", "cfr", "mttr"]
AGGREGATIONS = ["weekly", "monthly", "quarterly"]
REPORTS = {
    "weekly": selectors.weekly_report,
    "monthly": selectors.monthly_report,
    "quarterly": selectors.quarterly_report,
}
# At most as many periods as the report API allows months (20 years), and 5 years of weeks.
MAX_PERIODS = {"weekly": 5 * 53, "monthly": selectors.MAX_MONTHS, "quarterly": selectors.MAX_MONTHS // 3}
DEFAULT_MONTHS = 6  # opendora's default range: the 6 months up to now
HOUR = 3600.0
# What opendora answers when a benchmark has nothing to rate (keys its plug-in translates).
NO_DATA = {
    "df": "na-deployments",
    "mltc": "na-deployments-pullrequests",
    "cfr": "na-deployments",
    "mttr": "na-incidents",
}


class BearerApiTokenAuthentication(ApiTokenAuthentication):
    """A person's API token sent as `Authorization: Bearer KEY`, as opendora's clients send it."""

    keyword = "Bearer"


class DateTimeField(forms.Field):
    """An RFC 3339 date-time: with its offset (a bare local time would be read in the server's zone)."""

    default_error_messages = {"invalid": "Enter an RFC 3339 date-time.", "naive": "Give the offset."}

    def to_python(self, value):
        text = "" if value in self.empty_values else str(value).strip()
        if not text:
            return None
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if parsed.tzinfo is None:
            raise forms.ValidationError(self.error_messages["naive"], code="naive")
        return parsed


class OpenDoraForm(ParameterErrorsMixin, forms.Form):
    """`type`, `aggregation`, `project` (a service), `team`, `from` and `to` (RFC 3339, both or neither)."""

    project = forms.CharField(required=False, max_length=200)
    team = forms.CharField(required=False, max_length=200)

    def __init__(self, data, *, types: list[str], with_aggregation: bool):
        super().__init__(data)
        self.with_aggregation = with_aggregation
        choice_error = "{field} should be provided as one of the following: {choices}."
        self.fields = {
            "type": forms.ChoiceField(
                choices=[(t, t) for t in types],
                error_messages={
                    "required": choice_error.format(field="type", choices=", ".join(types)),
                    "invalid_choice": choice_error.format(field="type", choices=", ".join(types)),
                },
            ),
            **self.fields,
            "from": DateTimeField(required=False),
            "to": DateTimeField(required=False),
        }
        if with_aggregation:
            self.fields["aggregation"] = forms.ChoiceField(
                choices=[(a, a) for a in AGGREGATIONS],
                required=False,
                error_messages={
                    "invalid_choice": choice_error.format(field="aggregation", choices=", ".join(AGGREGATIONS))
                },
            )
        for name in ("from", "to"):
            self.fields[name].error_messages["invalid"] = (
                f"{name} should be an RFC 3339 date-time, e.g. 2024-01-31T23:59:59Z."
            )
            self.fields[name].error_messages["naive"] = (
                f"{name} should give its offset, e.g. 2024-01-31T23:59:59Z or 2024-01-31T23:59:59+01:00."
            )

    def clean_project(self):
        return self._known("project", [s.slug for s in self._services()])

    def clean_team(self):
        return self._known("team", sorted({s.dev_team for s in self._services() if s.dev_team}))

    def _services(self) -> list[Service]:
        if not hasattr(self, "_service_list"):
            self._service_list = list(Service.objects.only("slug", "dev_team"))
        return self._service_list

    def _known(self, name: str, known: list[str]) -> str:
        # Backstage names entities in lower case; Opslog's slugs and team names may not be.
        value = self.cleaned_data.get(name, "").strip()
        if not value:
            return ""
        matches = {k.casefold(): k for k in known}
        if value.casefold() not in matches:
            noun = "service" if name == "project" else "team"
            raise forms.ValidationError(f"{name}: unknown {noun} “{value}”.")
        return matches[value.casefold()]

    def clean(self):
        cleaned = super().clean()
        if hasattr(self.data, "getlist"):
            # Given twice, a parameter would silently mean its last value: opendora refuses it too.
            for name in self.fields:
                if len(self.data.getlist(name)) > 1 and name not in self.errors:
                    self.add_error(name, f"{name} should be given once.")
        if self.errors.keys() & {"from", "to"}:
            return cleaned
        start, end = cleaned.get("from"), cleaned.get("to")
        if (start is None) != (end is None):
            self.add_error(
                "from" if start is None else "to", "both to and from should be provided or both should be omitted."
            )
            return cleaned
        zone = selectors.report_zone()
        if start is None:
            last = selectors.today()
            first = add_months(last, -DEFAULT_MONTHS).replace(day=min(last.day, 28))
        else:
            first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
            if first > last:
                self.add_error("from", "from should be a date before to.")
                return cleaned
        cleaned["first"], cleaned["last"] = first, last
        aggregation = cleaned.get("aggregation") or "weekly"
        cleaned["aggregation"] = aggregation if self.with_aggregation else "monthly"
        periods = _period_count(cleaned["aggregation"], first, last)
        if periods > MAX_PERIODS[cleaned["aggregation"]]:
            self.add_error(
                "to",
                f"A {cleaned['aggregation']} answer covers at most {MAX_PERIODS[cleaned['aggregation']]} periods; "
                f"this range is {periods}.",
            )
        return cleaned

    @property
    def filters(self) -> Filters:
        project, team = self.cleaned_data["project"], self.cleaned_data["team"]
        return Filters(services=(project,) if project else (), teams=(team,) if team else ())


def _period_count(aggregation: str, first: dt.date, last: dt.date) -> int:
    """How many periods the answer would have, counted before any is computed."""
    if aggregation == "weekly":
        mondays = (last - dt.timedelta(days=last.weekday())) - (first - dt.timedelta(days=first.weekday()))
        return mondays.days // 7 + 1
    if aggregation == "quarterly":
        return (last.year - first.year) * 4 + (last.month - 1) // 3 - (first.month - 1) // 3 + 1
    return (last.year - first.year) * 12 + last.month - first.month + 1


def period_key(aggregation: str, start: dt.date) -> str:
    """A data point's key: the week's Monday or the quarter's first day (YYYY-MM-DD), the month as
    opendora's own back end labels it (YY/MM)."""
    return f"{start:%y/%m}" if aggregation == "monthly" else start.isoformat()


def _hours(seconds: float | None) -> float:
    return 0.0 if seconds is None else seconds / HOUR


def metric_values(metric: str, periods: list[selectors.Figures]) -> list[float]:
    """Each period's value of an opendora metric, from the report's figures.

    opendora answers 0 where there is nothing to measure (a number is required); durations are in
    hours and the change failure rate a fraction, as opendora's back end gives them. `df_average` is
    its running mean: the mean of the deploy counts of this period and every earlier one.
    """
    if metric == "df_count":
        return [float(p.deploys) for p in periods]
    if metric == "df_average":
        counts = [p.deploys for p in periods]
        return [sum(counts[: i + 1]) / (i + 1) for i in range(len(counts))]
    if metric == "mltc":
        return [_hours(p.lead_time_seconds.median) for p in periods]
    if metric == "cfr":
        return [p.change_failure_rate or 0.0 for p in periods]
    # `mttr` stays time to restore (impact start → resolution, over incidents): opendora computes its
    # mttr from incidents, as time to restore is; failed deployment recovery time is in Opslog's
    # report API and dashboard (docs/api/reports.md).
    return [_hours(p.time_to_restore_seconds.median) for p in periods]


def benchmark_key(metric: str, figures: selectors.Figures) -> str:
    """The range's DORA level for the metric (elite, high, medium, low), as Opslog's report rates it."""
    level = {
        "df": figures.dora.deploy_frequency,
        "mltc": figures.dora.lead_time,
        "cfr": figures.dora.change_failure_rate,
        "mttr": figures.dora.time_to_restore,
    }[metric]
    return level or NO_DATA[metric]


class _OpenDoraView(APIView):
    authentication_classes = [BearerApiTokenAuthentication, ApiTokenAuthentication]
    types: list[str] = []
    with_aggregation = False

    def initial(self, request, *args, **kwargs):
        self.reference = _reference(request.headers.get("X-Correlation-Id", ""))
        super().initial(request, *args, **kwargs)

    def get(self, request):
        form = OpenDoraForm(request.query_params, types=self.types, with_aggregation=self.with_aggregation)
        if not form.is_valid():
            errors = form.errors_by_parameter()
            return Response(
                {
                    "message": " ".join(m for ms in errors.values() for m in ms),
                    "reference": self.reference,
                    "errors": errors,
                },
                status=400,
            )
        return Response(self.answer(form))

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, exceptions.APIException):
            # opendora's ErrorResponse: a message and a reference to find the request by.
            response.data = {"message": str(exc.detail), "reference": self.reference}
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if not hasattr(self, "reference"):
            self.reference = _reference(request.headers.get("X-Correlation-Id", ""))
        response["X-Correlation-Id"] = self.reference
        # The plug-in calls from the browser, on Backstage's origin. Only tokens authenticate here,
        # never cookies, so another origin reading an answer needs the token anyway.
        response["Access-Control-Allow-Origin"] = "*"
        return response

    def answer(self, form: OpenDoraForm) -> dict:
        raise NotImplementedError


def _reference(given: str) -> str:
    """The caller's correlation id when it is a UUID, else a new one."""
    try:
        return str(uuid.UUID(given))
    except ValueError:
        return str(uuid.uuid4())


class OpenDoraMetricView(_OpenDoraView):
    types = METRIC_TYPES
    with_aggregation = True

    @extend_schema(exclude=True)
    def get(self, request):
        return super().get(request)

    def answer(self, form: OpenDoraForm) -> dict:
        aggregation = form.cleaned_data["aggregation"]
        report = REPORTS[aggregation](
            first=form.cleaned_data["first"], last=form.cleaned_data["last"], filters=form.filters
        )
        values = metric_values(form.cleaned_data["type"], report.periods)
        return {
            "aggregation": aggregation,
            "dataPoints": [
                {"key": period_key(aggregation, p.start), "value": value} for p, value in zip(report.periods, values)
            ],
        }


class OpenDoraBenchmarkView(_OpenDoraView):
    types = BENCHMARK_TYPES

    @extend_schema(exclude=True)
    def get(self, request):
        return super().get(request)

    def answer(self, form: OpenDoraForm) -> dict:
        # Over every month of the range, the one in progress included: opendora rates up to now.
        report = selectors.monthly_report(
            first=form.cleaned_data["first"], last=form.cleaned_data["last"], filters=form.filters, include_partial=True
        )
        return {"key": benchmark_key(form.cleaned_data["type"], report.totals)}
