"""The dashboard (`/`, `/reports/`) and the "how we count" page."""

import datetime as dt
import functools
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count
from django.shortcuts import render
from django.urls import get_script_prefix, get_urlconf, reverse
from django.views.decorators.http import require_safe

import reports.attribution_views
from deploys.filters import DeployFilter
from deploys.models import Deploy
from incidents.models import Incident
from reports import bands, periods, selectors
from reports.forms import InsightsForm, QuarterlyReportForm, ReportForm, WeeklyReportForm, YearlyReportForm
from reports.insights import insights as insights_figures
from reports.selectors import Figures, Filters
from reports.templatetags.reports import for_people

# --- Links from a count to the rows it counts -----------------------------------------------------


@dataclass(frozen=True)
class Link:
    """The list of exactly the rows a count counts: same period, same filters."""

    url: str


# The counts with a list behind them: the deploy log's, then the incident list's; then the
# durations, which lead to the rows they average (lead time: the month's counted deploys, whose
# commits it measures; MTTD: the month's incidents; MTTA: the acknowledged ones; MTTR and time to
# restore: the resolved ones).
# Failed deployment recovery time and the unrecovered failed deploys lead to the failed deploys.
DEPLOY_COUNTS = {
    "deploys",
    "deployers",
    "failed_deploys",
    "rework_deploys",
    "lead_time",
    "failed_deployment_recovery",
    "unrecovered_failed_deploys",
}
INCIDENT_COUNTS = {
    "incidents",
    "deploy_related_incidents",
    "unresolved_incidents",
    "mttd",
    "mtta",
    "mttr",
    "time_to_restore",
}


def drilldown(what: str, *, start: dt.date, end: dt.date, filters: Filters) -> Link:
    """The link from a count of the period [start, end) under `filters` to the list of its rows.

    `deploys` and `deployers` (the deployers of those same deploys), `failed_deploys` (the change
    failure rate's numerator) and `rework_deploys` (the rework rate's) open the deploy log;
    `incidents`, `deploy_related_incidents` and `unresolved_incidents` the incident list. The
    lists select what reports.selectors.counted_deploys / counted_incidents do.
    """
    # Dates are whole days in the reporting time zone, `until` included: exactly the period.
    params: list[tuple[str, str]] = [("since", start.isoformat()), ("until", (end - dt.timedelta(days=1)).isoformat())]
    params += [("team", team) for team in filters.teams]
    params += [("service", slug) for slug in filters.services]

    if filters.attribution == "inferred" and what in ("failed_deploys", "deploy_related_incidents"):
        # Under the inferred rule the deploy and incident lists (linked causes only) can't select
        # the rows: the attribution page does, and says which causes were inferred.
        return _attributed_link(what, params, filters)

    if what in DEPLOY_COUNTS:
        params.append(("production", "true"))
        params += [("environment", slug) for slug in filters.environments]
        params += [("status", status) for status in selectors.COUNTED_STATUSES]
        if what in ("failed_deploys", "failed_deployment_recovery", "unrecovered_failed_deploys"):
            params.append(("failed_change", "true"))
        elif what == "rework_deploys":
            params.append(("remediates", "true"))
        # Deployers: the people behind those deploys, each with their count, not the deploys again.
        return _link("reports:deployers" if what == "deployers" else "deploys:list", params)

    if what not in INCIDENT_COUNTS:
        raise ValueError(f"No list behind {what!r}.")
    params += [("severity", str(severity)) for severity in filters.severities]
    if what == "deploy_related_incidents":
        params.append(("deploy_related", "true"))
    elif what == "unresolved_incidents":
        params.append(("resolved", "false"))
    elif what == "mtta":
        params.append(("acknowledged", "true"))
    elif what in ("mttr", "time_to_restore"):
        params.append(("resolved", "true"))
    return _link("incidents:list", params)


def _attributed_link(what: str, params: list[tuple[str, str]], filters: Filters) -> Link:
    params = [("what", what), *params]
    params += [("environment", slug) for slug in filters.environments]
    params += [("severity", str(severity)) for severity in filters.severities]
    params += [("attribution", filters.attribution), ("window", f"{filters.window.total_seconds():g}s")]
    return _link("reports:attributed", params)


def _with_params(query, **changes: str) -> str:
    """The query string `query` (a QueryDict) with `changes` set."""
    query = query.copy()
    for name, value in changes.items():
        query[name] = value
    return query.urlencode()


def _link(name: str, params: list[tuple[str, str]]) -> Link:
    return Link(f"{_path(name, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)}?{urlencode(params)}")


@functools.cache
def _path(name: str, prefix: str, urlconf) -> str:
    """reverse(name) under that script prefix and URLconf: a dashboard has some 200 links to the
    same few lists, and reversing each again took half the time of building them."""
    return reverse(name)


# --- Pages -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A period of the table with its links."""

    label: str
    figures: Figures
    links: dict[str, Link]
    total: bool = False  # the range's totals, not a period
    dates: str = ""  # a week's days ("4–10 Mar 2024"), shown beside its label


def month_name(start: dt.date) -> str:
    """How a month is named in the table, the charts and their tooltips alike: "Jan 2026"."""
    return f"{start:%b %Y}"


# --- The dashboard's periods -------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """How the dashboard shows one kind of period: its form, report, words and from/to inputs."""

    grain: str
    form: type[ReportForm]
    report: object  # the selectors' report function
    adjective: str  # "weekly": the page's title
    plural: str  # "weeks"
    default: str  # the reset link: "Last 12 weeks"
    input_type: str  # <input type=…> for from and to
    placeholder: str
    pattern: str = ""  # for the text inputs: what the form reads


PERIODS = {
    "week": Period(
        "week",
        WeeklyReportForm,
        selectors.weekly_report,
        "weekly",
        "weeks",
        f"Last {periods.DEFAULT_WEEKS} weeks",
        "week",
        "YYYY-Www",
        r"\d{4}-[Ww]\d{2}|\d{4}-\d{2}-\d{2}",
    ),
    "month": Period(
        "month", ReportForm, selectors.monthly_report, "monthly", "months", "Last 12 months", "month", "YYYY-MM"
    ),
    "quarter": Period(
        "quarter",
        QuarterlyReportForm,
        selectors.quarterly_report,
        "quarterly",
        "quarters",
        f"Last {periods.DEFAULT_QUARTERS} quarters",
        "text",
        "YYYY-Qn",
        r"\d{4}-[Qq][1-4]|\d{4}-\d{2}(-\d{2})?",
    ),
    "year": Period(
        "year",
        YearlyReportForm,
        selectors.yearly_report,
        "yearly",
        "years",
        "The years of the last 12 months",
        "text",
        "YYYY",
        r"\d{4}(-\d{2})?",
    ),
}
MAX_PERIODS = {"week": periods.MAX_WEEKS, "month": selectors.MAX_MONTHS, "quarter": periods.MAX_QUARTERS, "year": 20}


def period_name(grain: str, start: dt.date) -> str:
    """How a period is named in the table, the charts and the level: 2024-W10, Mar 2024, 2024-Q1, 2024."""
    if grain == "month":
        return month_name(start)
    return periods.label(grain, start)


def week_dates(start: dt.date) -> str:
    """A week's days: "4–10 Mar 2024", "26 Feb – 3 Mar 2024", "30 Dec 2024 – 5 Jan 2025"."""
    last = start + dt.timedelta(days=6)
    if start.month == last.month:
        return f"{start.day}–{last.day} {last:%b %Y}"
    if start.year == last.year:
        return f"{start.day} {start:%b} – {last.day} {last:%b %Y}"
    return f"{start.day} {start:%b %Y} – {last.day} {last:%b %Y}"


def period_switch(request, *, grain: str, first_day: dt.date | None, last_day: dt.date | None) -> list[dict]:
    """The period switch's links: the same filters, and the range given (if any) in each period's
    own notation, covering the same days (at most that period's longest range, ending where it did)."""
    query = request.GET.copy()
    given = bool(query.get("from") or query.get("to"))
    if first_day is None or last_day is None:
        # A range that didn't read: each period's default rather than the same error again.
        query.pop("from", None)
        query.pop("to", None)
    links = []
    for other in PERIODS:
        changes = {"period": other}
        if given and first_day is not None and last_day is not None:
            last = periods.period_start(other, last_day)
            first = max(
                periods.period_start(other, first_day), periods.previous_start(other, last, MAX_PERIODS[other] - 1)
            )
            changes |= {"from": periods.label(other, first), "to": periods.label(other, last)}
        links.append(
            {
                "grain": other,
                "name": other.capitalize(),
                "url": f"?{_with_params(query, **changes)}",
                "current": other == grain,
            }
        )
    return links


@require_safe
def dashboard(request):
    grain = request.GET.get("period") or "month"
    if grain not in PERIODS:
        context = {
            "form": ReportForm(),
            "period": PERIODS["month"],
            "period_error": f"Unknown period “{grain}”: use week, month, quarter or year.",
            "switch": period_switch(request, grain="month", first_day=None, last_day=None),
            "time_zone": settings.OPSLOG_REPORT_TIME_ZONE,
            "bands": dora_bands(),
            "edition": bands.current(),
        }
        return render(request, "reports/dashboard.html", context, status=400)
    period = PERIODS[grain]
    form = period.form(request.GET)
    context = {
        "form": form,
        "time_zone": settings.OPSLOG_REPORT_TIME_ZONE,
        "bands": dora_bands(),
        "edition": bands.current(),
        "period": period,
    }
    if not form.is_valid():
        context["switch"] = period_switch(request, grain=grain, first_day=None, last_day=None)
        return render(request, "reports/dashboard.html", context, status=400)

    filters = form.filters
    report = period.report(first=form.first, last=form.last, filters=filters, include_partial=form.partial_in_level)
    # The year-by-year line shows no level: no need to rate the complete years apart. A range of
    # exactly one calendar year is its own year line (the report's totals: no second report).
    years = selectors.year_line(report=report, first=form.first, last=form.last, filters=filters)

    def row(label: str, figures: Figures, **options) -> Row:
        links = {
            what: drilldown(what, start=figures.start, end=figures.end, filters=filters)
            for what in sorted(DEPLOY_COUNTS | INCIDENT_COUNTS)
        }
        return Row(label=label, figures=figures, links=links, **options)

    months = [
        row(period_name(grain, f.start), f, dates=week_dates(f.start) if grain == "week" else "")
        for f in report.periods
    ]
    totals = row(f"All {period.plural}", report.totals, total=True)
    first_day, last_day = report.periods[0].start, report.periods[-1].end - dt.timedelta(days=1)
    rated = report.rated
    context.update(
        report=report,
        months=months,
        totals=totals,
        years=[row(f"{f.start:%Y}", f) for f in years],
        dora=dora_summary(rated) if rated is not None else None,
        chart=chart_data(months),
        rated_from=period_name(grain, rated.start) if rated is not None else None,
        rated_to=(
            period_name(grain, periods.period_start(grain, rated.end - dt.timedelta(days=1)))
            if rated is not None
            else None
        ),
        left_out_names=[
            (f"{f.start:%B %Y}" if grain == "month" else period_name(grain, f.start)) for f in report.left_out_of_level
        ],
        first_name=f"{first_day:%B %Y}" if grain == "month" else period_name(grain, first_day),
        last_name=f"{report.periods[-1].start:%B %Y}" if grain == "month" else period_name(grain, last_day),
        from_value=periods.label(grain, form.first),
        to_value=periods.label(grain, form.last),
        switch=period_switch(request, grain=grain, first_day=first_day, last_day=last_day),
        count_partial_in=_with_params(request.GET, include_partial="1"),
        # The rule in words, its switch, and with "both" the inferred rule's report beside this one.
        attribution=reports.attribution_views.attribution_summary(
            request.GET,
            form,
            report,
            lambda filters: period.report(
                first=form.first, last=form.last, filters=filters, include_partial=form.partial_in_level
            ),
        ),
    )
    return render(request, "reports/dashboard.html", context)


@require_safe
def deployers(request):
    """The people behind a set of deploys (the deploy log's filters), each with their deploy count
    linking to their deploys: where the dashboard's "Deployers" count leads."""
    filterset = DeployFilter(request.GET or None, queryset=Deploy.objects.all())
    if filterset.is_bound and not filterset.is_valid():
        return render(request, "reports/deployers.html", {"filter": filterset, "people": []}, status=400)
    deploys = filterset.qs if filterset.is_bound else Deploy.objects.all()
    counts = deploys.order_by().values("deployer").annotate(deploys=Count("id")).order_by("-deploys", "deployer")
    query = request.GET.copy()
    query.pop("page", None)
    people = [
        (row["deployer"], row["deploys"], f"{reverse('deploys:list')}?{_with_params(query, deployer=row['deployer'])}")
        for row in counts
    ]
    return render(
        request,
        "reports/deployers.html",
        {"filter": filterset, "people": people, "all_deploys": f"{reverse('deploys:list')}?{query.urlencode()}"},
    )


@require_safe
def how_we_count(request):
    return render(
        request,
        "reports/how_we_count.html",
        {
            "time_zone": settings.OPSLOG_REPORT_TIME_ZONE,
            "bands": dora_bands(),
            "edition": bands.current(),
            "attribution_window": for_people(Filters().window.total_seconds()),
            "max_months": selectors.MAX_MONTHS,
            "repeat_days": settings.OPSLOG_INSIGHTS_REPEAT_DAYS,
            "review_days": settings.OPSLOG_INSIGHTS_REVIEW_WORKING_DAYS,
            "working_hours": "{:02d}:{:02d}–{:02d}:{:02d}".format(
                *divmod(settings.OPSLOG_WORKING_HOURS[0], 60), *divmod(settings.OPSLOG_WORKING_HOURS[1], 60)
            ),
            "working_zone": settings.OPSLOG_WORKING_HOURS_TIME_ZONE,
        },
    )


# --- DORA and charts ---------------------------------------------------------------------------------

# The level table's rows: (metric, name, what it measures). The bands come from the edition in
# use (reports.bands, OPSLOG_DORA_BANDS). Failed deployment recovery time is the fourth metric of
# the level; time to restore, the earlier definition, is rated beside it for reference.
DORA_METRICS = [
    ("deploy_frequency", "Deploy frequency", "deploys ÷ days in the period"),
    ("lead_time", "Lead time for changes", "median"),
    ("change_failure_rate", "Change failure rate", ""),
    ("failed_deployment_recovery_time", "Failed deployment recovery time", "median"),
    ("time_to_restore", "Time to restore", "median; the earlier definition, for reference, not in the level"),
]
LEVELS = bands.LEVELS


def dora_bands(edition: bands.Edition | None = None) -> list[tuple]:
    """(metric, name, measure, elite, high, medium, low) per metric, in the edition in use."""
    edition = edition or bands.current()
    return [(key, name, measure, *edition.metrics[key].texts) for key, name, measure in DORA_METRICS]


@dataclass(frozen=True)
class DoraMetric:
    key: str
    name: str
    measure: str
    bands: list[tuple[str, str]]  # (level, band), elite first
    level: str | None
    value: str
    in_level: bool = True  # False: rated for reference only (time to restore)


def dora_summary(figures: Figures) -> list[DoraMetric]:
    lead, failures = figures.lead_time_seconds.median, figures.change_failure_rate
    recovery, restore = figures.failed_deployment_recovery_seconds.median, figures.time_to_restore_seconds.median
    # A metric with nothing to measure says why it is left out of the level.
    values = {item.metric: f"left out: {item.reason}" for item in figures.dora.left_out}
    values |= {
        "deploy_frequency": frequency_text(figures.deploys, figures.days),
        **({"lead_time": for_people(lead)} if lead is not None else {}),
        **({"failed_deployment_recovery_time": recovery_text(figures)} if recovery is not None else {}),
        "time_to_restore": for_people(restore) if restore is not None else "none restored (not in the level)",
    }
    if failures is not None:
        values["change_failure_rate"] = f"{failures * 100:.1f} %"
        # Measured, but the edition publishes no bands for it (2024): left out all the same.
        reasons = {item.metric: item.reason for item in figures.dora.left_out}
        if "change_failure_rate" in reasons:
            values["change_failure_rate"] += f" (left out: {reasons['change_failure_rate']})"
    return [
        DoraMetric(
            key=key,
            name=name,
            measure=measure,
            bands=list(zip(LEVELS, bands_)),
            level=getattr(figures.dora, key),
            value=values[key],
            in_level=key != "time_to_restore",
        )
        for key, name, measure, *bands_ in dora_bands()
    ]


def recovery_text(figures: Figures) -> str:
    """ "2 hours (1 not recovered yet)": the median, and the failed deploys left out of it."""
    text = for_people(figures.failed_deployment_recovery_seconds.median)
    if figures.unrecovered_failed_deploys:
        text += f" ({figures.unrecovered_failed_deploys} not recovered yet)"
    return text


def frequency_text(deploys: int, days: int) -> str:
    if not deploys:
        return f"none in {days} days: 0"
    per_day = deploys / days
    if per_day >= 1:
        rate = f"{per_day:.1f} a day"
    elif per_day >= 1 / 7:
        rate = f"{per_day * 7:.1f} a week"
    else:
        rate = f"{per_day * 31:.1f} a month"
    return f"{deploys} in {days} days: {rate}"


def chart_data(months: list[Row]) -> dict:
    """What dashboard.js draws: one value per month, seconds and fractions as they are, months
    named as in the table, durations' tooltips in the table's words (for_people), and per series
    the links a click on a bar or point follows: the same lists as the table's cells."""
    figures = [r.figures for r in months]
    durations = {
        "mttd_median": [f.mttd_seconds.median for f in figures],
        "mtta_median": [f.mtta_seconds.median for f in figures],
        "mttr_median": [f.mttr_seconds.median for f in figures],
        "time_to_restore_median": [f.time_to_restore_seconds.median for f in figures],
        "failed_deployment_recovery_median": [f.failed_deployment_recovery_seconds.median for f in figures],
    }
    return {
        "labels": [r.label + (" (partial)" if r.figures.partial else "") for r in months],
        "partial": [f.partial for f in figures],
        "deploys": [f.deploys for f in figures],
        "deployers": [f.deployers for f in figures],
        "incidents": [f.incidents for f in figures],
        "deploy_related_incidents": [f.deploy_related_incidents for f in figures],
        **durations,
        "durations_text": {name: [for_people(v) for v in values] for name, values in durations.items()},
        "change_failure_rate": [f.change_failure_rate for f in figures],
        "links": {
            what: [r.links[what].url for r in months]
            for what in (
                "deploys",
                "deployers",
                "incidents",
                "deploy_related_incidents",
                "mttd",
                "mtta",
                "mttr",
                "time_to_restore",
                "failed_deployment_recovery",
                "failed_deploys",
            )
        },
    }


# --- Insights ----------------------------------------------------------------------------------------

STAGE_NAMES = [("detect", "Detect"), ("acknowledge", "Acknowledge"), ("mitigate", "Mitigate"), ("resolve", "Resolve")]


@require_safe
def insights_page(request):
    """/insights/: reports.insights' figures as charts, each with its numbers table (links = drill-downs)."""
    form = InsightsForm(request.GET)
    context = {"form": form, "time_zone": settings.OPSLOG_REPORT_TIME_ZONE, "stage_names": STAGE_NAMES}
    if not form.is_valid():
        return render(request, "reports/insights.html", context, status=400)
    data = insights_figures(start=form.cleaned_data["start"], end=form.cleaned_data["end"], filters=form.filters)
    query = request.GET.copy()
    context.update(
        data=data,
        month_labels=[month_name(dt.date.fromisoformat(f"{m}-01")) for m in data["months"]],
        chart=insights_chart_data(data),
        json_url=f"{reverse('api-insights')}?{_with_params(query, format='json')}",
        csv_url=f"{reverse('api-insights')}?{_with_params(query, format='csv')}",
        severities=Incident.Severity.choices,
        remediation_kinds=[("dev", "Dev"), ("ops", "Ops"), ("all", "Dev and ops")],
    )
    return render(request, "reports/insights.html", context)


def insights_chart_data(data: dict) -> dict:
    """What insights.js draws: the same numbers and links as the page's tables."""
    labels = [month_name(dt.date.fromisoformat(f"{m}-01")) for m in data["months"]]
    stages = [row for row in data["stages"] if row["severity"] is not None]
    return {
        "labels": labels,
        "factors": [
            {
                "label": f["name"] + (" (archived)" if f["archived"] else ""),
                "data": [m["count"] for m in f["months"]],
                "links": [m["link"] for m in f["months"]],
            }
            for f in data["factors"]
        ],
        "services": [row["service"] for row in data["by_service"]],
        "service_severities": [
            {
                "label": f"SEV{severity}",
                "data": [row["severities"][severity - 1]["count"] for row in data["by_service"]],
                "links": [row["severities"][severity - 1]["link"] for row in data["by_service"]],
            }
            for severity in (1, 2, 3, 4)
        ],
        "severity_labels": [f"SEV{row['severity']}" for row in stages],
        "stages": [
            {
                "label": label,
                "data": [row[name]["median_seconds"] for row in stages],
                "text": [for_people(row[name]["median_seconds"]) for row in stages],
                "links": [row[name]["link"] for row in stages],
            }
            for name, label in STAGE_NAMES
        ],
        "remediation_labels": ["Opened", "Done", "Won't do", "Overdue"],
        "remediations": [
            {
                "label": kind.capitalize(),
                "data": [
                    data["remediations"][kind][name]["count"] for name in ("opened", "done", "wont_do", "overdue")
                ],
                "links": [
                    data["remediations"][kind][name]["link"] for name in ("opened", "done", "wont_do", "overdue")
                ],
            }
            for kind in ("dev", "ops")
        ],
        "outside_hours": {
            "data": [m["count"] for m in data["on_call"]["outside_hours"]["months"]],
            "links": [m["link"] for m in data["on_call"]["outside_hours"]["months"]],
        },
    }
