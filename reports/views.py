"""The dashboard (`/`, `/reports/`) and the "how we count" page."""

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse

from deploys.models import Environment, Service
from reports import selectors
from reports.forms import ReportForm
from reports.selectors import Figures, Filters
from reports.templatetags.reports import for_people

# --- Links from a count to the rows it counts -----------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    """What the deploy log (/deploys/) and the incident list (/incidents/) can filter by.

    The dashboard's counts link to those lists. Where a list can't yet select exactly the rows a
    count counts, the link is marked as approximate and says why. Turn a flag on once the list
    accepts the parameter named next to it, and drilldown() builds exact links.
    """

    # /deploys/?production=true: every production environment (the deploy log takes one
    # `environment`); and `status` given more than once: status=succeeded&status=rolled_back.
    deploys_counted: bool = False
    # /deploys/?team=… and /incidents/?team=… (Service.dev_team), repeatable.
    team: bool = False
    # service=web&service=api on both lists.
    several_services: bool = False
    # /incidents/?severity=1&severity=2.
    several_severities: bool = False
    # /incidents/?resolved=false: no resolved_at (`status=open` is "not acknowledged", not the same).
    unresolved: bool = False


LIST_FILTERS = ListFilters()


@dataclass(frozen=True)
class Link:
    url: str
    # Why the list may show more (or other) rows than the count; none when it is exact.
    caveats: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        return not self.caveats

    @property
    def title(self) -> str:
        return f"Approximate list: {'; '.join(self.caveats)}." if self.caveats else ""


DEPLOY_COUNTS = {"deploys", "deployers"}
INCIDENT_COUNTS = {"incidents", "deploy_related_incidents", "unresolved_incidents"}


def drilldown(
    what: str,
    *,
    start: dt.date,
    end: dt.date,
    filters: Filters,
    services: list[Service],
    production_environments: list[str],
    lists: ListFilters | None = None,
) -> Link:
    """The link from a count (`deploys`, `deployers`, `incidents`, `deploy_related_incidents`,
    `unresolved_incidents`) of the period [start, end) under `filters` to the list of its rows.

    `services` are all services (to turn a team into its services while the lists can't filter by
    team) and `production_environments` the slugs of the production environments.
    """
    lists = lists or LIST_FILTERS
    # Dates are whole days in the reporting time zone, `until` included: exactly the period.
    params: list[tuple[str, str]] = [("since", start.isoformat()), ("until", (end - dt.timedelta(days=1)).isoformat())]
    caveats: list[str] = []

    slugs = list(filters.services)
    if filters.teams and lists.team:
        params += [("team", team) for team in filters.teams]
    elif filters.teams:
        # A report filtered by team counts the rows of the team's services (and of the chosen
        # services among them): the same thing, as long as the list takes that many services.
        team_slugs = [s.slug for s in services if s.dev_team in filters.teams]
        slugs = [slug for slug in (slugs or team_slugs) if slug in team_slugs]
        if not slugs:
            caveats.append("the lists can't filter by team")
    if len(slugs) == 1 or (slugs and lists.several_services):
        params += [("service", slug) for slug in slugs]
    elif slugs:
        caveats.append("the lists show one service or all of them")

    if what in DEPLOY_COUNTS:
        if lists.deploys_counted:
            params += [("production", "true"), ("status", "succeeded"), ("status", "rolled_back")]
        else:
            if len(production_environments) == 1:
                params.append(("environment", production_environments[0]))
            else:
                caveats.append("the deploy log shows one environment or all of them")
            caveats.append("the deploy log also lists failed deploys, which don't count")
        return _link("deploys:list", params, caveats)

    if what not in INCIDENT_COUNTS:
        raise ValueError(f"No list behind {what!r}.")
    severities = [str(s) for s in filters.severities]
    if len(severities) == 1 or (severities and lists.several_severities):
        params += [("severity", s) for s in severities]
    elif severities:
        caveats.append("the incident list shows one severity or all of them")
    if what == "deploy_related_incidents":
        params.append(("deploy_related", "true"))
    elif what == "unresolved_incidents":
        if lists.unresolved:
            params.append(("resolved", "false"))
        else:
            caveats.append("the incident list can't show only the unresolved ones; they come first")
    return _link("incidents:list", params, caveats)


def _link(name: str, params: list[tuple[str, str]], caveats: list[str]) -> Link:
    return Link(f"{reverse(name)}?{urlencode(params)}", caveats=tuple(caveats))


# --- Pages -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A period of the table with its links."""

    label: str
    figures: Figures
    links: dict[str, Link]


def dashboard(request):
    form = ReportForm(request.GET)
    context = {"form": form, "time_zone": settings.OPSLOG_REPORT_TIME_ZONE, "bands": DORA_BANDS}
    if not form.is_valid():
        return render(request, "reports/dashboard.html", context, status=400)

    filters = form.filters
    report = selectors.monthly_report(first=form.first, last=form.last, filters=filters)
    years = selectors.yearly_report(first=form.first, last=form.last, filters=filters)
    production = list(Environment.objects.filter(is_production=True).order_by("slug").values_list("slug", flat=True))

    def row(label: str, figures: Figures) -> Row:
        links = {
            what: drilldown(
                what, start=figures.start, end=figures.end, filters=filters, services=form.services,
                production_environments=production,
            )
            for what in sorted(DEPLOY_COUNTS | INCIDENT_COUNTS)
        }
        return Row(label=label, figures=figures, links=links)

    months = [row(f"{f.start:%b %Y}", f) for f in report.periods]
    totals = row("All months", report.totals)
    caveats = sorted({caveat for r in [*months, totals] for link in r.links.values() for caveat in link.caveats})
    context.update(
        report=report,
        months=months,
        totals=totals,
        years=[row(f"{f.start:%Y}", f) for f in years.periods],
        caveats=caveats,
        dora=dora_summary(report.totals),
        chart=chart_data(months),
    )
    return render(request, "reports/dashboard.html", context)


def how_we_count(request):
    return render(
        request,
        "reports/how_we_count.html",
        {"time_zone": settings.OPSLOG_REPORT_TIME_ZONE, "bands": DORA_BANDS, "max_months": selectors.MAX_MONTHS},
    )


# --- DORA and charts ---------------------------------------------------------------------------------

# The DORA 2023 bands, as in the glossary: (metric, what it measures, elite, high, medium, low).
DORA_BANDS = [
    ("deploy_frequency", "Deploy frequency", "deploys ÷ days in the period",
     "≥ 1 a day", "≥ 1 a week", "≥ 1 a month", "less"),
    ("lead_time", "Lead time for changes", "median", "< 1 day", "< 1 week", "< 1 month", "longer"),
    ("change_failure_rate", "Change failure rate", "", "≤ 5 %", "≤ 10 %", "≤ 15 %", "more"),
    ("time_to_restore", "Time to restore", "median", "< 1 hour", "< 1 day", "< 1 week", "longer"),
]
LEVELS = ["elite", "high", "medium", "low"]


@dataclass(frozen=True)
class DoraMetric:
    key: str
    name: str
    measure: str
    bands: list[tuple[str, str]]  # (level, band), elite first
    level: str | None
    value: str


def dora_summary(figures: Figures) -> list[DoraMetric]:
    lead, restore, failures = (
        figures.lead_time_seconds.median, figures.time_to_restore_seconds.median, figures.change_failure_rate
    )
    values = {
        "deploy_frequency": frequency_text(figures.deploys, figures.days),
        "lead_time": for_people(lead) if lead is not None else "no data",
        "change_failure_rate": f"{failures * 100:.1f} %" if failures is not None else "no data",
        "time_to_restore": for_people(restore) if restore is not None else "no data",
    }
    return [
        DoraMetric(
            key=key, name=name, measure=measure, bands=list(zip(LEVELS, bands)),
            level=getattr(figures.dora, key), value=values[key],
        )
        for key, name, measure, *bands in DORA_BANDS
    ]


def frequency_text(deploys: int, days: int) -> str:
    if not deploys:
        return "no deploys"
    per_day = deploys / days
    if per_day >= 1:
        rate = f"{per_day:.1f} a day"
    elif per_day >= 1 / 7:
        rate = f"{per_day * 7:.1f} a week"
    else:
        rate = f"{per_day * 31:.1f} a month"
    return f"{deploys} in {days} days: {rate}"


def chart_data(months: list[Row]) -> dict:
    """What dashboard.js draws: one value per month, seconds and fractions as they are."""
    figures = [r.figures for r in months]
    return {
        "labels": [f"{f.start:%Y-%m}" for f in figures],
        "deploys": [f.deploys for f in figures],
        "deployers": [f.deployers for f in figures],
        "incidents": [f.incidents for f in figures],
        "deploy_related_incidents": [f.deploy_related_incidents for f in figures],
        "mttd_median": [f.mttd_seconds.median for f in figures],
        "mttr_median": [f.mttr_seconds.median for f in figures],
        "time_to_restore_median": [f.time_to_restore_seconds.median for f in figures],
        "change_failure_rate": [f.change_failure_rate for f in figures],
        "links": {
            what: [r.links[what].url for r in months]
            for what in ("deploys", "incidents", "deploy_related_incidents")
        },
    }
