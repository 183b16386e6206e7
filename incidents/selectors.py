"""Reads for incidents."""

import datetime as dt
import difflib
import re
import statistics
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.aggregates import Aggregate
from django.db.models.functions import TruncMonth
from django.utils import timezone

from deploys.models import ChangeRecord, Deploy
from incidents.models import Alert, Incident, IncidentDeploy, PostMortem, PostMortemRevision, Remediation, TimelineEntry


def incident_list() -> QuerySet[Incident]:
    """Open incidents first, then newest first, with what the list shows of each."""
    return Incident.objects.open_first().prefetch_related("services").annotate_deploy_related()


def postmortem_list() -> QuerySet[PostMortem]:
    """Newest incident first, with what the post-mortem list shows: the incident and its services,
    and the remediations counted by state (one query for the page, one for the services)."""
    open_states = ["open", "in_progress"]
    return (
        PostMortem.objects.select_related("incident", "updated_by")
        .prefetch_related("incident__services")
        .annotate(
            remediations_open=Count("remediations", filter=Q(remediations__status__in=open_states)),
            remediations_done=Count("remediations", filter=Q(remediations__status="done")),
            remediations_total=Count("remediations"),
        )
        .order_by("-incident__started_at", "-pk")
    )


def search(queryset: QuerySet[Incident], text: str) -> QuerySet[Incident]:
    """Full-text search on PostgreSQL; a plain case-insensitive match elsewhere (SQLite)."""
    text = text.strip()
    if not text:
        return queryset
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        vector = SearchVector("title", weight="A", config="english") + SearchVector(
            "summary", weight="B", config="english"
        )
        return queryset.annotate(search=vector).filter(
            search=SearchQuery(text, config="english", search_type="websearch")
        )
    from django.db.models import Q

    condition = Q()
    for word in text.split():
        condition &= Q(title__icontains=word) | Q(summary__icontains=word)
    return queryset.filter(condition)


def suspect_window() -> dt.timedelta:
    return dt.timedelta(hours=settings.OPSLOG_SUSPECT_WINDOW_HOURS)


def suspect_deploys(incident: Incident, *, window: dt.timedelta | None = None) -> QuerySet[Deploy]:
    """Production deploys of the affected services from `window` before the impact began up to
    its detection (or now), newest first: the usual suspects."""
    window = window or suspect_window()
    until = incident.detected_at or timezone.now()
    return (
        Deploy.objects.production()
        .filter(
            service__in=incident.services.all(),
            deployed_at__gte=incident.started_at - window,
            deployed_at__lte=until,
        )
        .with_related()
        .newest_first()
    )


def incident_detail(pk: int) -> Incident:
    links = IncidentDeploy.objects.select_related("deploy__service", "deploy__environment", "created_by")
    return (
        Incident.objects.prefetch_related(
            "services",
            Prefetch("deploy_links", queryset=links),
            Prefetch("timeline", queryset=TimelineEntry.objects.select_related("author").order_by("at", "id")),
        )
        .select_related("created_by", "updated_by", "archived_by")
        .get(pk=pk)
    )


# --- Post-mortems and remediations -------------------------------------------------------------


def remediation_list(*, today: dt.date | None = None) -> QuerySet[Remediation]:
    """Open remediations first, overdue first among them (earliest due first), then the rest."""
    today = today or timezone.localdate()
    return (
        Remediation.objects.select_related("owner", "postmortem__incident")
        .prefetch_related("postmortem__incident__services")
        .annotate(
            rank=Case(
                When(Q(status__in=["open", "in_progress"], due_date__lt=today), then=Value(0)),
                When(status__in=["open", "in_progress"], then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("rank", F("due_date").asc(nulls_last=True), "id")
    )


@dataclass(frozen=True)
class FollowThrough:
    open: int
    overdue: int
    done: int
    done_on_time: int
    done_late: int

    @property
    def on_time_rate(self) -> float | None:
        """Done on time ÷ done with a due date; None when none is done."""
        judged = self.done_on_time + self.done_late
        return self.done_on_time / judged if judged else None


def follow_through(queryset: QuerySet[Remediation], *, today: dt.date | None = None) -> FollowThrough:
    """How the remediations in `queryset` are doing. One query."""
    today = today or timezone.localdate()
    rows = list(queryset.order_by().values_list("status", "due_date", "completed_at"))
    done_on_time = done_late = 0
    for status, due, completed in rows:
        if status == "done" and due is not None and completed is not None:
            # Python, not SQL: "on time" compares the completion's date in the reporting time zone.
            if timezone.localtime(completed).date() <= due:
                done_on_time += 1
            else:
                done_late += 1
    return FollowThrough(
        open=sum(1 for status, _, _ in rows if status in ("open", "in_progress")),
        overdue=sum(1 for status, due, _ in rows if status in ("open", "in_progress") and due and due < today),
        done=sum(1 for status, _, _ in rows if status == "done"),
        done_on_time=done_on_time,
        done_late=done_late,
    )


def remediations_due_for_reminder(*, today: dt.date | None = None) -> QuerySet[Remediation]:
    """Open remediations due within two days or overdue, with an owner who has an email address,
    not yet reminded today. An archived incident's remediations (filed by mistake, a duplicate)
    remind nobody."""
    today = today or timezone.localdate()
    return (
        Remediation.objects.filter(
            status__in=["open", "in_progress"],
            due_date__isnull=False,
            due_date__lte=today + dt.timedelta(days=2),
            owner__isnull=False,
            owner__is_active=True,
        )
        .exclude(owner__email="")
        .filter(postmortem__incident__archived_at__isnull=True)
        .filter(Q(last_reminded_on__isnull=True) | Q(last_reminded_on__lt=today))
        .select_related("owner", "postmortem__incident")
    )


def postmortem_change_records(postmortem: PostMortem) -> QuerySet[ChangeRecord]:
    """Change records of the deploys that caused this post-mortem's incident."""
    return (
        ChangeRecord.objects.filter(
            deploys__incident_links__incident_id=postmortem.incident_id,
            deploys__incident_links__relation="cause",
        )
        .select_related("service")
        .distinct()
    )


@dataclass(frozen=True)
class SectionDiff:
    field: str
    heading: str
    changed: bool
    html: str


FIELD_HEADINGS = {name: heading for name, heading, _ in PostMortem.SECTIONS} | {
    "status": "Status",
    "facilitator": "Facilitator",
    "meeting_date": "Meeting date",
    "no_action_needed": "No action needed",
    "no_action_reason": "Why no action is needed",
}


class _SideBySideDiff(difflib.HtmlDiff):
    """difflib's side-by-side table without its navigation column: the "f", "n" and "t" links
    that jump between changes in a long file. make_table always writes that column (a cell before
    each side's line number, and its header), so it is taken out of the finished table."""

    # Only difflib's own markup matches: it escapes "<" in the compared text.
    _NAVIGATION = re.compile(r'<t([dh]) class="diff_next"[^>]*>.*?</t\1>')
    # One column group per column: a line number and a text per side, four instead of six.
    _COLUMN_GROUPS = re.compile(r"(?:<colgroup></colgroup>\s*)+")

    def make_table(self, *args, **kwargs) -> str:
        table = self._NAVIGATION.sub("", super().make_table(*args, **kwargs))
        return self._COLUMN_GROUPS.sub("<colgroup></colgroup>" * 4 + "\n        ", table, count=1)


def content_diff(old: dict, new: dict) -> list[SectionDiff]:
    """Side-by-side diffs, field by field, of two versions' content (escaped HTML tables)."""
    differ = _SideBySideDiff(wrapcolumn=70)
    result = []
    for field, heading in FIELD_HEADINGS.items():
        before, after = str(old.get(field) or ""), str(new.get(field) or "")
        changed = before != after
        html = (
            differ.make_table(before.splitlines(), after.splitlines(), "before", "after", context=True, numlines=2)
            if changed
            else ""
        )
        result.append(SectionDiff(field, heading, changed, html))
    return result


def revision_pair(postmortem: PostMortem, a: int, b: int) -> tuple[PostMortemRevision, PostMortemRevision]:
    revisions = {r.version: r for r in postmortem.revisions.filter(version__in=[a, b]).select_related("saved_by")}
    return revisions[a], revisions[b]


def postmortem_markdown(postmortem: PostMortem) -> str:
    """The whole post-mortem as one Markdown document, for export."""
    incident = postmortem.incident
    lines = [f"# Post-mortem: {incident.title}", ""]
    facts = [
        ("Incident", f"#{incident.pk}, {incident.get_severity_display()}"),
        ("Services", ", ".join(s.slug for s in incident.services.all()) or "—"),
        ("Status", postmortem.get_status_display()),
        ("Facilitator", postmortem.facilitator or "—"),
        ("Meeting", postmortem.meeting_date.isoformat() if postmortem.meeting_date else "—"),
    ]
    for label, stamp in (
        ("Started", incident.started_at),
        ("Detected", incident.detected_at),
        ("Resolved", incident.resolved_at),
    ):
        facts.append((label, timezone.localtime(stamp).strftime("%Y-%m-%d %H:%M %Z") if stamp else "—"))
    lines += [f"- **{label}:** {value}" for label, value in facts] + [""]
    for name, heading, _ in PostMortem.SECTIONS:
        lines += [f"## {heading}", "", getattr(postmortem, name).strip() or "_Not written._", ""]
        if name == "went_poorly":
            for record in postmortem_change_records(postmortem):
                quoted = [
                    f"**Change record CR-{record.pk}: {record.title}** ({record.get_kind_display()}, {record.owner})",
                    f"- Done this before? {record.done_before}",
                    f"- What will happen when it goes wrong? {record.failure_impact}",
                    f"- What will we do when it goes wrong? {record.failure_response}",
                ]
                # Every line of a multi-line answer stays inside the quote.
                lines += ["> " + line for text in quoted for line in text.splitlines() or [""]] + [""]
    lines += ["## Remediations", ""]
    remediations = list(postmortem.remediations.select_related("owner").order_by("kind", "due_date", "id"))
    if remediations:
        lines += ["| Kind | What | Owner | Due | Status | Tracker |", "|---|---|---|---|---|---|"]
        for r in remediations:
            status = r.get_status_display() + (f" ({r.wont_do_reason})" if r.status == "wont_do" else "")
            cells = [
                r.get_kind_display(),
                r.description,
                r.owner_display or "—",
                r.due_date.isoformat() if r.due_date else "—",
                status,
                r.tracker_ref or "—",
            ]
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    elif postmortem.no_action_needed:
        lines.append(f"No action needed: {postmortem.no_action_reason}")
    else:
        lines.append("_None yet._")
    return "\n".join(lines).rstrip() + "\n"


# --- Alerts and the monthly alert review -------------------------------------------------------


# Like the monthly report's longest range.
ALERT_REVIEW_MAX_MONTHS = 240


def alert_list(*, status: str = "", name: str = "") -> QuerySet[Alert]:
    """Alerts newest first, optionally only one status and/or one alert name (exact)."""
    alerts = Alert.objects.select_related("incident")
    if status:
        alerts = alerts.filter(status=status)
    if name:
        alerts = alerts.filter(name=name)
    return alerts.order_by("-starts_at", "-id")


def alert_names() -> list[str]:
    """Every alert name seen, for the list's filter."""
    return list(Alert.objects.order_by("name").values_list("name", flat=True).distinct())


def alert_detail(pk: int) -> Alert:
    return Alert.objects.select_related("integration", "incident").get(pk=pk)


@dataclass(frozen=True)
class AlertReviewRow:
    """One alert name in one month: how often it fired, and whether anyone needed to act."""

    name: str
    fired: int
    signal: int  # firings promoted to an incident
    noise: int  # firings that never became one
    median_firing_seconds: float | None  # over the resolved firings; None while none has resolved

    @property
    def signal_ratio(self) -> float | None:
        """Signal ÷ fired; None if it never fired."""
        return self.signal / self.fired if self.fired else None


@dataclass(frozen=True)
class AlertReviewMonth:
    month: dt.date  # the first day, in the reporting time zone
    rows: list[AlertReviewRow]

    @property
    def fired(self) -> int:
        return sum(row.fired for row in self.rows)

    @property
    def signal(self) -> int:
        return sum(row.signal for row in self.rows)

    @property
    def noise(self) -> int:
        return sum(row.noise for row in self.rows)


def next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


class _FiringSeconds(Func):
    """ends_at − starts_at in seconds, as a float (PostgreSQL)."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "
    output_field = FloatField()


class _Median(Aggregate):
    """percentile_cont(0.5): the median, interpolated between the two middle values (PostgreSQL).
    The same as reports.selectors' (incidents can't import reports, which reads incidents)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def alert_review(*, first: dt.date, last: dt.date) -> list[AlertReviewMonth]:
    """Etsy's monthly alert review (signal:noise), for every month from `first` to `last` (both
    included, any day in them; months in OPSLOG_REPORT_TIME_ZONE, an alert in the month it started
    firing). Per month and alert name: times fired, how many were promoted to an incident (signal)
    and how many not (noise), and the median time firing in seconds over the resolved firings
    (interpolated for an even count, like statistics.median). Noisiest first: most noise, then most
    fired, then by name. Every month of the range is present, empty ones with no rows.

    Counts are SQL aggregates; the median is percentile_cont on PostgreSQL. SQLite has no
    percentile function, so there the resolved firings' two times are fetched and the median taken
    in Python.
    """
    tz = zoneinfo.ZoneInfo(settings.OPSLOG_REPORT_TIME_ZONE)
    months = []
    month = first.replace(day=1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    since = dt.datetime.combine(months[0], dt.time.min, tzinfo=tz)
    until = dt.datetime.combine(next_month(months[-1]), dt.time.min, tzinfo=tz)
    alerts = Alert.objects.filter(starts_at__gte=since, starts_at__lt=until).order_by()

    def month_of(value) -> dt.date:
        if isinstance(value, dt.datetime):
            value = value.astimezone(tz).date() if value.tzinfo else value.date()
        return value.replace(day=1)

    aggregates = {
        "fired": Count("id"),
        "signal": Count("id", filter=Q(incident__isnull=False)),
    }
    postgres = connection.vendor == "postgresql"
    if postgres:
        aggregates["median"] = _Median(_FiringSeconds(F("ends_at"), F("starts_at")), filter=Q(ends_at__isnull=False))
    cells: dict[tuple[dt.date, str], dict] = {}
    for row in alerts.annotate(month=TruncMonth("starts_at", tzinfo=tz)).values("month", "name").annotate(**aggregates):
        cells[(month_of(row["month"]), row["name"])] = row
    if not postgres:
        durations: dict[tuple[dt.date, str], list[float]] = {}
        resolved = alerts.filter(ends_at__isnull=False).values_list("name", "starts_at", "ends_at")
        for name, starts_at, ends_at in resolved:
            durations.setdefault((month_of(starts_at), name), []).append((ends_at - starts_at).total_seconds())
        for key, row in cells.items():
            values = durations.get(key)
            row["median"] = statistics.median(values) if values else None

    by_month: dict[dt.date, list[AlertReviewRow]] = {m: [] for m in months}
    for (month, name), row in cells.items():
        by_month[month].append(
            AlertReviewRow(
                name=name,
                fired=row["fired"],
                signal=row["signal"],
                noise=row["fired"] - row["signal"],
                median_firing_seconds=row["median"],
            )
        )
    return [
        AlertReviewMonth(month=m, rows=sorted(rows, key=lambda r: (-r.noise, -r.fired, r.name)))
        for m, rows in by_month.items()
    ]
