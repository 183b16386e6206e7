"""Insights across incidents: every figure of /insights/ and /api/insights/, as docs/guide/insights.md
("Insights: how we count") defines them.

`insights(start=, end=, filters=)` returns a plain dict (JSON-ready but for dates) with a drill-down
link on every figure: the list page filtered to exactly the rows counted, where the list can say so.

A constant number of queries whatever the data (tests/reports/test_insights_api.py counts them):
counts are SQL group-bys and filtered aggregates; medians are percentile_cont on PostgreSQL and
statistics.median over one narrow values_list on SQLite (it has no percentile function). Some
figures are taken in Python from one narrow query each on every database, because SQL can't say
them portably or quickly: on-call load (responders live in three text columns and a JSON list),
out-of-hours starts, the working-day review deadline, and repeats (neighbours in time per service
and factor; IncidentQuerySet.repeats, behind the list's filter, does it with a window).
"""

import bisect
import datetime as dt
import statistics
import zoneinfo
from collections import Counter, defaultdict
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from deploys.models import Service
from incidents.models import Incident
from postmortems.models import ContributingFactor, PostMortem, PostMortemFactor, Remediation
from reports.engines.rows import Epoch, Median
from reports.engines.scope import add_months, instant, month_starts

ServiceLink = Incident.services.through

# (name, from, to): the stages of an incident's response, each the seconds between two stamps.
STAGES = [
    ("detect", "started_at", "detected_at"),
    ("acknowledge", "detected_at", "acknowledged_at"),
    ("mitigate", "acknowledged_at", "mitigated_at"),
    ("resolve", "mitigated_at", "resolved_at"),
]
SEVERITIES = [value for value, _ in Incident.Severity.choices]
REVIEWED_SEVERITIES = (1, 2)
OPEN_REMEDIATION = (Remediation.Status.OPEN, Remediation.Status.IN_PROGRESS)
# The roles' columns; participants are a JSON list beside them.
RESPONDER_FIELDS = ("commander", "comms_lead", "scribe")


@dataclass(frozen=True)
class InsightFilters:
    """What the insights cover. Empty means everything; several values of one filter mean any of
    them, different filters must all hold."""

    services: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    severities: tuple[int, ...] = ()
    factors: tuple[str, ...] = ()  # ContributingFactor slugs
    tags: tuple[str, ...] = ()  # tag names or slugs

    @property
    def on_services(self) -> bool:
        return bool(self.services or self.teams)

    def service_q(self, prefix: str = "") -> Q:
        """The condition on a service (through `prefix`) the service and team filters ask for."""
        q = Q()
        if self.services:
            q &= Q(**{f"{prefix}slug__in": self.services})
        if self.teams:
            q &= Q(**{f"{prefix}dev_team__in": self.teams})
        return q


EVERYTHING = InsightFilters()


def report_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.OPSLOG_REPORT_TIME_ZONE)


def incident_scope(filters: InsightFilters, since: dt.datetime | None = None, until: dt.datetime | None = None):
    """Incidents not archived that started in [since, until) and match every filter. Exists, not
    joins: an incident with two matching services, factors or tags is still one incident."""
    qs = Incident.objects.filter(archived_at__isnull=True)
    if since is not None:
        qs = qs.filter(started_at__gte=since)
    if until is not None:
        qs = qs.filter(started_at__lt=until)
    if filters.severities:
        qs = qs.filter(severity__in=filters.severities)
    if filters.on_services:
        qs = qs.filter(Exists(Service.objects.filter(filters.service_q(), incidents=OuterRef("pk"))))
    # The lists' own queryset methods, so a drill-down link (?factor=, ?tag=) lists exactly these rows.
    if filters.factors:
        qs = qs.naming_factors(filters.factors)
    if filters.tags:
        qs = qs.tagged(filters.tags)
    return qs


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _month_of(value: dt.datetime | dt.date, zone: zoneinfo.ZoneInfo) -> dt.date:
    """The first day of the month `value` falls in, in `zone` (a truncated value as the database
    gives it back: a date, an aware datetime, or a naive local one on SQLite)."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(zone) if value.tzinfo else value
    return dt.date(value.year, value.month, 1)


def outside_hours_test():
    """A function telling whether a moment is outside OPSLOG_WORKING_HOURS on OPSLOG_WORKING_DAYS, in
    OPSLOG_WORKING_HOURS_TIME_ZONE (the settings read once, for a loop over many incidents)."""
    zone = zoneinfo.ZoneInfo(settings.OPSLOG_WORKING_HOURS_TIME_ZONE)
    first, last = settings.OPSLOG_WORKING_HOURS
    days = settings.OPSLOG_WORKING_DAYS

    def is_outside(moment: dt.datetime) -> bool:
        local = moment.astimezone(zone)
        return local.weekday() not in days or not first <= local.hour * 60 + local.minute < last

    return is_outside


def review_deadline(resolved_at: dt.datetime) -> dt.datetime:
    """The end of the OPSLOG_INSIGHTS_REVIEW_WORKING_DAYS-th working day after the day of
    `resolved_at` (in the working-hours zone); the day itself when that setting is 0."""
    zone = zoneinfo.ZoneInfo(settings.OPSLOG_WORKING_HOURS_TIME_ZONE)
    day = resolved_at.astimezone(zone).date()
    left = settings.OPSLOG_INSIGHTS_REVIEW_WORKING_DAYS
    working_days = settings.OPSLOG_WORKING_DAYS or frozenset(range(7))
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() in working_days:
            left -= 1
    return instant(day + dt.timedelta(days=1), zone)


def responders(commander: str, comms_lead: str, scribe: str, participants) -> list[str]:
    """The people who responded to one incident: its three roles and its participants, each name
    stripped, once however many hats they wore."""
    names = [commander, comms_lead, scribe]
    if isinstance(participants, list):
        names += [p for p in participants if isinstance(p, str)]
    return list(dict.fromkeys(n.strip() for n in names if n and n.strip()))


# --- Links -------------------------------------------------------------------------------------


class _Linker:
    """The list pages' URLs for the rows behind a figure."""

    def __init__(self, *, start: dt.date, end: dt.date, filters: InsightFilters):
        self.start, self.end, self.filters = start, end, filters
        # Once, not per link: a page has hundreds.
        self.paths = {name: reverse(name) for name in ("incidents:list", "postmortems:remediations")}

    def _range(self, start: dt.date | None, end: dt.date | None) -> list[tuple[str, str]]:
        start, end = max(start or self.start, self.start), min(end or self.end, self.end)
        return [("since", start.isoformat()), ("until", end.isoformat())]

    def _incident_filters(self, **replace) -> list[tuple[str, str]]:
        values = {
            "service": self.filters.services,
            "team": self.filters.teams,
            "severity": tuple(str(s) for s in self.filters.severities),
            "factor": self.filters.factors,
            "tag": self.filters.tags,
        }
        values.update(replace)
        return [(name, value) for name, many in values.items() for value in many]

    def incidents(self, *, month: dt.date | None = None, extra=(), **replace) -> str:
        end = add_months(month, 1) - dt.timedelta(days=1) if month else None
        params = self._range(month, end) + self._incident_filters(**replace) + list(extra)
        return f"{self.paths['incidents:list']}?{urlencode(params)}"

    def remediations(self, *, extra=(), **replace) -> str:
        params = self._range(None, None) + self._incident_filters(**replace) + list(extra) + [("archived", "false")]
        return f"{self.paths['postmortems:remediations']}?{urlencode(params)}"


# --- The figures ---------------------------------------------------------------------------------


def insights(*, start: dt.date, end: dt.date, filters: InsightFilters = EVERYTHING) -> dict:
    """Every insight over the days `start` to `end` (both included, in OPSLOG_REPORT_TIME_ZONE).

    Incidents count by `started_at` in the range; remediations by `created_at` (their incident
    matching the filters, whenever it started). Durations are seconds; shares are fractions; a
    median or share with nothing to measure is None. Months are the calendar months the range
    touches, in the reporting zone, every one present.
    """
    zone = report_zone()
    since, until = instant(start, zone), instant(end + dt.timedelta(days=1), zone)
    months = month_starts(start, end)
    scope = incident_scope(filters, since, until)
    link = _Linker(start=start, end=end, filters=filters)
    postgres = connection.vendor == "postgresql"
    return {
        "time_zone": settings.OPSLOG_REPORT_TIME_ZONE,
        "start": start,
        "end": end,
        "months": [f"{m:%Y-%m}" for m in months],
        "incidents": {"count": scope.count(), "link": link.incidents()},
        "factors": _factors(scope, months=months, zone=zone, filters=filters, link=link),
        **_by_service_and_team(scope, filters=filters, link=link),
        "repeats": _repeats(scope, since=since, until=until, filters=filters, link=link),
        "stages": _stages(scope, filters=filters, link=link, postgres=postgres),
        "remediations": _remediations(filters=filters, since=since, until=until, link=link, postgres=postgres),
        "reviews": _reviews(scope, link=link, postgres=postgres),
        "on_call": _on_call(scope, months=months, zone=zone, link=link),
    }


def _factors(scope, *, months, zone, filters: InsightFilters, link: _Linker) -> list[dict]:
    """Per factor named on the scope's post-mortems: incidents per month, and per service and team
    hit (services those the filters allow). Archived factors count like the others. 2 queries: the
    (factor, incident, service) rows, a left join so an incident of no service still counts in its
    month, then the taxonomy."""
    incident = "postmortem__incident__"
    per_month: dict[int, dict[dt.date, set]] = defaultdict(lambda: defaultdict(set))
    services: dict[int, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    teams: dict[int, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for factor_id, incident_id, started, slug, team in PostMortemFactor.objects.filter(
        postmortem__incident__in=scope
    ).values_list(
        "factor_id",
        f"{incident}id",
        f"{incident}started_at",
        f"{incident}services__slug",
        f"{incident}services__dev_team",
    ):
        per_month[factor_id][_month_of(started, zone)].add(incident_id)
        if slug is None:
            continue
        if (not filters.services or slug in filters.services) and (not filters.teams or team in filters.teams):
            services[factor_id][slug].add(incident_id)
            teams[factor_id][team].add(incident_id)

    def ranked(groups: dict[str, set]) -> list[tuple[str, int]]:
        return sorted(((name, len(ids)) for name, ids in groups.items()), key=lambda item: (-item[1], item[0]))

    result = []
    # The whole taxonomy (a few dozen rows at most), so the query is the same with no factor counted.
    for f in ContributingFactor.objects.order_by("position", "name"):
        # Under a factor filter only those factors are charted, as only the services a service filter
        # allows are: a co-occurring factor's count (this one AND any filtered) has no list to drill into.
        if f.pk not in per_month or (filters.factors and f.slug not in filters.factors):
            continue
        counts = {month: len(ids) for month, ids in per_month[f.pk].items()}
        result.append(
            {
                "slug": f.slug,
                "name": f.name,
                "archived": f.is_archived,
                "total": {"count": sum(counts.values()), "link": link.incidents(factor=(f.slug,))},
                "months": [
                    {
                        "month": f"{m:%Y-%m}",
                        "count": counts.get(m, 0),
                        "link": link.incidents(month=m, factor=(f.slug,)),
                    }
                    for m in months
                ],
                "services": [
                    {"service": slug, "count": n, "link": link.incidents(factor=(f.slug,), service=(slug,))}
                    for slug, n in ranked(services[f.pk])
                ],
                "teams": [
                    {
                        "team": team,
                        "count": n,
                        "link": link.incidents(factor=(f.slug,), team=(team,)) if team else None,
                    }
                    for team, n in ranked(teams[f.pk])
                ],
            }
        )
    return result


def _severity_mix(counts: Counter, make_link, filters: InsightFilters) -> dict:
    # A severity the filters leave out counts 0 and has no rows to list.
    return {
        "count": sum(counts.values()),
        "link": make_link(None),
        "severities": [
            {
                "severity": s,
                "count": counts[s],
                "link": make_link(s) if not filters.severities or s in filters.severities else None,
            }
            for s in SEVERITIES
        ],
    }


def _by_service_and_team(scope, *, filters: InsightFilters, link: _Linker) -> dict:
    """Incidents per affected service and per team (Service.dev_team), each split by severity; an
    incident counts once per service it affected and once per team. 2 queries."""
    links = ServiceLink.objects.filter(incident__in=scope)
    if filters.on_services:
        links = links.filter(filters.service_q("service__"))
    services: dict[str, Counter] = defaultdict(Counter)
    for row in links.values("service__slug", "incident__severity").annotate(n=Count("incident")).order_by():
        services[row["service__slug"]][row["incident__severity"]] = row["n"]
    teams: dict[str, Counter] = defaultdict(Counter)
    for row in (
        links.values("service__dev_team", "incident__severity").annotate(n=Count("incident", distinct=True)).order_by()
    ):
        teams[row["service__dev_team"]][row["incident__severity"]] = row["n"]

    def severities(severity):
        return (str(severity),) if severity else tuple(str(s) for s in filters.severities)

    by_service = [
        {
            "service": slug,
            **_severity_mix(c, lambda s, slug=slug: link.incidents(service=(slug,), severity=severities(s)), filters),
        }
        for slug, c in services.items()
    ]
    by_team = [
        {
            "team": team,
            **_severity_mix(
                c,
                lambda s, team=team: link.incidents(team=(team,), severity=severities(s)) if team else None,
                filters,
            ),
        }
        for team, c in teams.items()
    ]
    by_service.sort(key=lambda row: (-row["count"], row["service"]))
    by_team.sort(key=lambda row: (-row["count"], row["team"]))
    return {"by_service": by_service, "by_team": by_team}


def _repeats(scope, *, since, until, filters: InsightFilters, link: _Linker) -> dict:
    """Repeat incidents in the scope (as IncidentQuerySet.repeats, which the list's `repeat` filter
    uses), and per service. 1 query: the (incident, service, factor) triples of the incidents not
    archived that started from `days` before the range to its end; then, per service and factor in
    time order, an incident is a repeat when the one before it is at most `days` older. A correlated
    EXISTS per incident does the same in SQL but takes seconds on 50,000 incidents."""
    days = settings.OPSLOG_INSIGHTS_REPEAT_DAYS
    window = dt.timedelta(days=days)
    factor = "incident__postmortem__factor_links__factor_id"
    triples = (
        ServiceLink.objects.filter(
            incident__archived_at__isnull=True,
            incident__started_at__gte=since - window,
            incident__started_at__lt=until,
            **{f"{factor}__isnull": False},
        )
        .annotate(in_scope=Exists(scope.filter(pk=OuterRef("incident_id"))))
        .values_list("incident_id", "incident__started_at", "service__slug", "service__dev_team", factor, "in_scope")
    )
    starts: dict[tuple[str, int], list[dt.datetime]] = defaultdict(list)
    services: dict[int, set[tuple[str, str]]] = defaultdict(set)
    candidates = []
    for incident_id, started, slug, team, factor_id, in_scope in triples:
        starts[(slug, factor_id)].append(started)
        if in_scope:
            services[incident_id].add((slug, team))
            candidates.append((incident_id, started, slug, factor_id))
    for times in starts.values():
        times.sort()
    repeats = set()
    for incident_id, started, slug, factor_id in candidates:
        times = starts[(slug, factor_id)]
        earlier = bisect.bisect_left(times, started) - 1  # the latest strictly before it
        if earlier >= 0 and started - times[earlier] <= window:
            repeats.add(incident_id)
    per_service: Counter = Counter()
    for incident_id in repeats:
        for slug, team in services[incident_id]:
            if (not filters.services or slug in filters.services) and (not filters.teams or team in filters.teams):
                per_service[slug] += 1
    extra = [("repeat", "true")]
    by_service = [
        {"service": slug, "count": n, "link": link.incidents(service=(slug,), extra=extra)}
        for slug, n in sorted(per_service.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {"days": days, "count": len(repeats), "link": link.incidents(extra=extra), "by_service": by_service}


def _stages(scope, *, filters: InsightFilters, link: _Linker, postgres: bool) -> list[dict]:
    """Per severity (and over all), each stage's median seconds over the incidents with both its
    stamps, and how many those are. 2 queries on PostgreSQL, 1 on SQLite."""
    values: dict[int | None, dict[str, list[float]]] = {}
    if postgres:
        # One pass: every severity's figures and the overall ones as filtered aggregates.
        aggregates = {}
        for severity in [*SEVERITIES, None]:
            of_severity = Q(severity=severity) if severity else Q()
            for name, first, last in STAGES:
                present = of_severity & Q(**{f"{first}__isnull": False, f"{last}__isnull": False})
                aggregates[f"{severity}_{name}_median"] = Median(Epoch(F(last), F(first)), filter=present)
                aggregates[f"{severity}_{name}_count"] = Count("id", filter=present)
        answer = scope.aggregate(**aggregates)
        rows = {
            severity: {
                key: answer[f"{severity}_{key}"] for name, _, _ in STAGES for key in (f"{name}_median", f"{name}_count")
            }
            for severity in [*SEVERITIES, None]
        }
    else:
        for severity in [*SEVERITIES, None]:
            values[severity] = {name: [] for name, _, _ in STAGES}
        stamps = ["started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at"]
        for severity, *times in scope.values_list("severity", *stamps):
            row = dict(zip(stamps, times))
            for name, first, last in STAGES:
                if row[first] is not None and row[last] is not None:
                    seconds = (row[last] - row[first]).total_seconds()
                    values[severity][name].append(seconds)
                    values[None][name].append(seconds)
        rows = {
            severity: {
                **{f"{name}_median": _median(v) for name, v in stages.items()},
                **{f"{name}_count": len(v) for name, v in stages.items()},
            }
            for severity, stages in values.items()
        }
    # The list of a stage's rows: the incidents with both its stamps.
    extra_for = {
        name: [("stamped", first.removesuffix("_at")), ("stamped", last.removesuffix("_at"))]
        for name, first, last in STAGES
    }
    extra_for["detect"] = [("stamped", "detected")]  # every incident has started_at
    result = []
    for severity in [*SEVERITIES, None]:
        row = rows.get(severity, {})
        severity_param = {"severity": (str(severity),)} if severity else {}
        # A severity the filters leave out has no rows to list.
        listed = not (severity and filters.severities and severity not in filters.severities)
        result.append(
            {
                "severity": severity,
                **{
                    name: {
                        "median_seconds": row.get(f"{name}_median"),
                        "count": row.get(f"{name}_count") or 0,
                        "link": link.incidents(extra=extra_for.get(name, ()), **severity_param) if listed else None,
                    }
                    for name, _, _ in STAGES
                },
            }
        )
    return result


def _remediations(*, filters: InsightFilters, since, until, link: _Linker, postgres: bool) -> dict:
    """Remediations created in [since, until) whose incident (not archived) matches the filters, dev
    and ops apart and together. 1 query, plus 1 for the medians on SQLite."""
    zone = report_zone()
    today = timezone.now().astimezone(zone).date()
    remediations = Remediation.objects.filter(
        created_at__gte=since, created_at__lt=until, postmortem__incident__archived_at__isnull=True
    )
    if filters != EVERYTHING:
        remediations = remediations.filter(postmortem__incident__in=incident_scope(filters))
    done = Q(status=Remediation.Status.DONE)
    finished = done & Q(completed_at__isnull=False)
    # Done on the due date or before it: the completion's day in the reporting zone.
    on_time = finished & Q(due_date__isnull=False, due_date__gte=TruncDate("completed_at", tzinfo=zone))
    settled_or_due = Q(due_date__isnull=False) & (~Q(status__in=OPEN_REMEDIATION) | Q(due_date__lt=today))
    aggregates = {
        "opened": Count("id"),
        "done": Count("id", filter=done),
        "wont_do": Count("id", filter=Q(status=Remediation.Status.WONT_DO)),
        "overdue": Count("id", filter=Q(status__in=OPEN_REMEDIATION, due_date__lt=today)),
        "due": Count("id", filter=settled_or_due),
        "done_by_due_date": Count("id", filter=on_time),
    }
    rows: dict[str, dict] = {}
    medians: dict[str | None, float | None] = {}
    if postgres:
        # One pass: each kind's counts and median, and the overall median, as filtered aggregates.
        to_done = Epoch(F("completed_at"), F("created_at"))
        combined = {"median": Median(to_done, filter=finished)}
        for kind in Remediation.Kind.values:
            of_kind = Q(kind=kind)
            combined[f"{kind}_median"] = Median(to_done, filter=finished & of_kind)
            for name, aggregate in aggregates.items():
                condition = of_kind if aggregate.filter is None else of_kind & aggregate.filter
                combined[f"{kind}_{name}"] = Count("id", filter=condition)
        answer = remediations.aggregate(**combined)
        medians[None] = answer["median"]
        for kind in Remediation.Kind.values:
            medians[kind] = answer[f"{kind}_median"]
            rows[kind] = {name: answer[f"{kind}_{name}"] for name in aggregates}
    else:
        rows = {row.pop("kind"): row for row in remediations.values("kind").annotate(**aggregates).order_by()}
        seconds: dict[str, list[float]] = defaultdict(list)
        for kind, created, completed in remediations.filter(finished).values_list("kind", "created_at", "completed_at"):
            seconds[kind].append((completed - created).total_seconds())
        medians = {kind: _median(seconds[kind]) for kind in Remediation.Kind.values}
        medians[None] = _median([s for values in seconds.values() for s in values])

    def figures(kind: str | None, row: dict) -> dict:
        kinds = [("kind", kind)] if kind else []
        # The list shows only open ones unless `status` says otherwise.
        status = {
            "opened": [("status", "all")],
            "done": [("status", Remediation.Status.DONE)],
            "wont_do": [("status", Remediation.Status.WONT_DO)],
            "overdue": [("status", "all"), ("overdue", "true")],
        }
        out = {
            name: {"count": row.get(name, 0), "link": link.remediations(extra=kinds + params)}
            for name, params in status.items()
        }
        out["median_seconds_to_done"] = medians.get(kind)
        due, by_due = row.get("due", 0), row.get("done_by_due_date", 0)
        out["due"] = due
        out["done_by_due_date"] = by_due
        out["share_done_by_due_date"] = by_due / due if due else None
        return out

    total = {name: sum(r.get(name, 0) for r in rows.values()) for name in aggregates}
    return {
        "dev": figures(Remediation.Kind.DEV, rows.get(Remediation.Kind.DEV, {})),
        "ops": figures(Remediation.Kind.OPS, rows.get(Remediation.Kind.OPS, {})),
        "all": figures(None, total),
    }


def _reviews(scope, *, link: _Linker, postgres: bool) -> dict:
    """Median resolved → post-mortem published over the scope's resolved incidents with a published
    post-mortem; the share of SEV1/SEV2 ones published by review_deadline. 2 queries."""
    published = scope.filter(
        resolved_at__isnull=False,
        postmortem__status=PostMortem.Status.PUBLISHED,
        postmortem__published_at__isnull=False,
    )
    if postgres:
        answer = published.aggregate(
            median=Median(Epoch(F("postmortem__published_at"), F("resolved_at"))), count=Count("id")
        )
        median, count = answer["median"], answer["count"]
    else:
        seconds = [(p - r).total_seconds() for r, p in published.values_list("resolved_at", "postmortem__published_at")]
        median, count = _median(seconds), len(seconds)
    now = timezone.now()
    due = on_time = 0
    for resolved, status, published_at in scope.filter(
        severity__in=REVIEWED_SEVERITIES, resolved_at__isnull=False
    ).values_list("resolved_at", "postmortem__status", "postmortem__published_at"):
        deadline = review_deadline(resolved)
        in_time = status == PostMortem.Status.PUBLISHED and published_at is not None and published_at < deadline
        # Not yet due and not yet published: neither late nor on time.
        if in_time or deadline <= now:
            due += 1
            on_time += in_time
    return {
        "published": {"count": count, "link": link.incidents(extra=[("resolved", "true"), ("reviewed", "true")])},
        "median_seconds_to_published": median,
        "working_days": settings.OPSLOG_INSIGHTS_REVIEW_WORKING_DAYS,
        "sev12_due": due,
        "sev12_on_time": on_time,
        "sev12_share_on_time": on_time / due if due else None,
        "sev12_link": link.incidents(severity=tuple(str(s) for s in REVIEWED_SEVERITIES), extra=[("resolved", "true")]),
    }


def _on_call(scope, *, months, zone, link: _Linker) -> dict:
    """Incidents per responder per month, and those that began outside working hours. 1 query."""
    per_person: dict[str, Counter] = defaultdict(Counter)
    outside: Counter = Counter()
    is_outside_hours = outside_hours_test()
    for started, commander, comms, scribe, participants in scope.values_list(
        "started_at", *RESPONDER_FIELDS, "participants"
    ):
        month = _month_of(started, zone)
        for name in responders(commander, comms, scribe, participants):
            per_person[name][month] += 1
        if is_outside_hours(started):
            outside[month] += 1
    people = sorted(per_person.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return {
        "responders": [
            {
                "responder": name,
                "total": {"count": sum(counts.values()), "link": link.incidents(extra=[("responder", name)])},
                "months": [
                    {
                        "month": f"{m:%Y-%m}",
                        "count": counts[m],
                        "link": link.incidents(month=m, extra=[("responder", name)]),
                    }
                    for m in months
                ],
            }
            for name, counts in people
        ],
        "outside_hours": {
            "count": sum(outside.values()),
            "link": link.incidents(extra=[("outside_hours", "true")]),
            "months": [
                {
                    "month": f"{m:%Y-%m}",
                    "count": outside[m],
                    "link": link.incidents(month=m, extra=[("outside_hours", "true")]),
                }
                for m in months
            ],
        },
        "working_hours": "{:02d}:{:02d}-{:02d}:{:02d}".format(
            *divmod(settings.OPSLOG_WORKING_HOURS[0], 60), *divmod(settings.OPSLOG_WORKING_HOURS[1], 60)
        ),
        "working_hours_time_zone": settings.OPSLOG_WORKING_HOURS_TIME_ZONE,
    }
