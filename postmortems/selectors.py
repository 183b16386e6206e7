"""Reads for post-mortems and remediations."""

import datetime as dt
import difflib
import re
from dataclasses import dataclass

from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.urls import reverse
from django.utils import timezone

from deploys.models import ChangeRecord
from postmortems.blame import SUGGESTION, find_blame
from postmortems.models import PostMortem, PostMortemFactor, PostMortemRevision, Remediation, RemediationChange


def postmortem_list() -> QuerySet[PostMortem]:
    """Newest incident first, with what the post-mortem list shows: the incident and its services,
    the contributing factors, and the remediations counted by state (one query for the page, one for
    the services, one for the factors)."""
    open_states = ["open", "in_progress"]
    return (
        PostMortem.objects.select_related("incident", "updated_by")
        .prefetch_related(
            "incident__services", Prefetch("factor_links", queryset=PostMortemFactor.objects.select_related("factor"))
        )
        .annotate(
            remediations_open=Count("remediations", filter=Q(remediations__status__in=open_states)),
            remediations_done=Count("remediations", filter=Q(remediations__status="done")),
            remediations_total=Count("remediations"),
        )
        .order_by("-incident__started_at", "-pk")
    )


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
    "no_cause_reason": "Why no deploy caused it",
    "factors": "Contributing factors (picked)",
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


def _text(value) -> str:
    """A content value as the text a diff compares: Markdown as is, dates in ISO, booleans in JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list):
        # The contributing factors, one a line: "monitoring-gap: the note".
        return "\n".join(
            f"{entry.get('factor')}: {entry.get('note')}" if entry.get("note") else str(entry.get("factor"))
            for entry in value
            if isinstance(entry, dict)
        )
    return str(value)


@dataclass(frozen=True)
class FieldChange:
    field: str
    heading: str
    before: str
    after: str


def field_changes(old: dict, new: dict, *, fields=None) -> list[FieldChange]:
    """The fields whose text differs between two contents, in the write-up's order: the one diff
    engine behind the pages' side-by-side tables and the API's unified diffs. `fields` limits it."""
    changes = []
    for name, heading in FIELD_HEADINGS.items():
        if fields is not None and name not in fields:
            continue
        before, after = _text(old.get(name)), _text(new.get(name))
        if before != after:
            changes.append(FieldChange(name, heading, before, after))
    return changes


# difflib.HtmlDiff marks changes inside the lines it compares with \0 and \1, so those characters in
# the text itself come out as stray markup (`</span>`); the other C0 controls mean nothing on a page.
# Each is shown as its control picture (U+2400 + code, ␡ for DEL): a change to one stays visible.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_picture(match: re.Match) -> str:
    return "\u2421" if match[0] == "\x7f" else chr(0x2400 + ord(match[0]))


def _lines_to_show(text: str) -> list[str]:
    return _CONTROLS.sub(_control_picture, text).splitlines()


def content_diff(old: dict, new: dict) -> list[SectionDiff]:
    """Side-by-side diffs, field by field, of two versions' content (escaped HTML tables); every
    field is listed, `changed` says which differ."""
    differ = _SideBySideDiff(wrapcolumn=70)
    changes = {change.field: change for change in field_changes(old, new)}
    result = []
    for field, heading in FIELD_HEADINGS.items():
        change = changes.get(field)
        html = (
            differ.make_table(
                _lines_to_show(change.before),
                _lines_to_show(change.after),
                "before",
                "after",
                context=True,
                numlines=2,
            )
            if change
            else ""
        )
        result.append(SectionDiff(field, heading, change is not None, html))
    return result


def unified_diffs(old: dict, new: dict, *, old_label: str, new_label: str, fields=None) -> dict[str, str]:
    """`{field: unified diff}` for each field whose text differs between two contents, in the
    write-up's order. `fields` limits it to some fields."""
    return {
        change.field: "\n".join(
            difflib.unified_diff(
                change.before.splitlines(),
                change.after.splitlines(),
                f"{change.field} ({old_label})",
                f"{change.field} ({new_label})",
                lineterm="",
            )
        )
        + "\n"
        for change in field_changes(old, new, fields=fields)
    }


@dataclass(frozen=True)
class EditConflictAnswer:
    """What someone whose save was refused (another person saved first) is told: built once, shown
    by the editor page and by the API (409).

    `theirs` is the post-mortem as it is now; `mine` what was sent; `base` the version the editor
    was opened on (None when unknown). `merged` is a three-way merge, field by field: a field only
    this person changed keeps their text, a field only the other person changed takes theirs (so
    saving again doesn't quietly undo it), and for a field both changed differently this person's
    text wins in `merged` while `both_changed` holds the other's, to merge by hand."""

    current: PostMortem
    your_version: int | None
    theirs: dict
    mine: dict
    base: dict | None
    mine_changed: dict
    both_changed: dict
    merged: dict


def _as_content(changes: dict) -> dict:
    """Submitted values in the shape of PostMortem.content() (dates as ISO strings)."""
    return {name: value.isoformat() if isinstance(value, dt.date) else value for name, value in changes.items()}


def edit_conflict(*, current: PostMortem, submitted: dict, your_version: int | None) -> EditConflictAnswer:
    theirs = current.content()
    mine = _as_content(submitted)
    base = (
        PostMortemRevision.objects.filter(postmortem=current, version=your_version)
        .values_list("content", flat=True)
        .first()
        if your_version
        else None
    )

    def changed(content: dict, name: str) -> bool:
        # Without the base revision every field counts as changed: nothing is taken for granted.
        return base is None or name not in base or content.get(name) != base[name]

    mine_changed = {name: value for name, value in mine.items() if changed(mine, name)}
    both_changed = {
        name: theirs.get(name)
        for name, value in mine_changed.items()
        if changed(theirs, name) and theirs.get(name) != value
    }
    return EditConflictAnswer(
        current=current,
        your_version=your_version,
        theirs=theirs,
        mine=mine,
        base=base,
        mine_changed=mine_changed,
        both_changed=both_changed,
        merged={**theirs, **mine_changed},
    )


# Long text is said to be edited (the remediation's own page has it whole); the rest shows old → new.
_LONG_REMEDIATION_FIELDS = {"description", "wont_do_reason"}
_REMEDIATION_LABELS = {
    "description": "Description",
    "kind": "Kind",
    "owner": "Owner",
    "owner_name": "Owner",
    "due_date": "Due",
    "status": "Status",
    "wont_do_reason": "Reason it won't be done",
    "tracker_ref": "Tracker",
}
_CHOICE_LABELS = {"status": dict(Remediation.Status.choices), "kind": dict(Remediation.Kind.choices)}


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a post-mortem's history: a saved version, or a change of its remediations."""

    at: dt.datetime
    by: object  # the user, or None
    revision: PostMortemRevision | None = None
    change: RemediationChange | None = None
    # For a change: "Status: Open → Done" and the like, in the order of the fields.
    details: tuple[str, ...] = ()


def _shown(name: str, value) -> str:
    if value in (None, ""):
        return "—"
    return str(_CHOICE_LABELS.get(name, {}).get(value, value))


def _change_details(change: RemediationChange) -> tuple[str, ...]:
    if change.kind in (RemediationChange.Kind.ADDED, RemediationChange.Kind.DELETED):
        return ()
    details = []
    # In the form's order: JSON objects keep no order on PostgreSQL (jsonb).
    for name in sorted(
        change.changes, key=lambda n: list(_REMEDIATION_LABELS).index(n) if n in _REMEDIATION_LABELS else 99
    ):
        values = change.changes[name]
        label = _REMEDIATION_LABELS.get(name, name)
        if name in _LONG_REMEDIATION_FIELDS:
            details.append(f"{label} edited")
        else:
            details.append(f"{label}: {_shown(name, values.get('old'))} → {_shown(name, values.get('new'))}")
    return tuple(details)


def postmortem_history(postmortem: PostMortem, *, revisions: list[PostMortemRevision]) -> list[HistoryEntry]:
    """The post-mortem's saved versions (`revisions`, as the page read them) and the changes of its
    remediations, newest first, interleaved by time."""
    entries = [HistoryEntry(at=r.saved_at, by=r.saved_by, revision=r) for r in revisions]
    changes = postmortem.remediation_changes.select_related("by")
    entries += [HistoryEntry(at=c.at, by=c.by, change=c, details=_change_details(c)) for c in changes]
    # Newest first; at the same instant a version before a remediation change (the order they are written).
    return sorted(entries, key=lambda e: (e.at, e.change is not None, e.change.pk if e.change else 0), reverse=True)


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
        ("Tags", ", ".join(incident.tag_names) or "—"),
        ("Status", postmortem.get_status_display()),
        ("Facilitator", postmortem.facilitator or "—"),
        *((label, holder or "—") for _, label, holder in incident.role_holders),
        ("Meeting", postmortem.meeting_date.isoformat() if postmortem.meeting_date else "—"),
    ]
    for label, stamp in (
        ("Started", incident.started_at),
        ("Detected", incident.detected_at),
        ("Resolved", incident.resolved_at),
    ):
        facts.append((label, timezone.localtime(stamp).strftime("%Y-%m-%d %H:%M %Z") if stamp else "—"))
    if postmortem.no_cause_reason.strip():
        facts.append(("No deploy caused it", " ".join(postmortem.no_cause_reason.split())))
    lines += [f"- **{label}:** {value}" for label, value in facts] + [""]
    for name, heading, _ in PostMortem.SECTIONS:
        lines += [f"## {heading}", ""]
        if name == "contributing_factors":
            lines += _factors_markdown(postmortem)
        lines += [getattr(postmortem, name).strip() or "_Not written._", ""]
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


def _factors_markdown(postmortem: PostMortem) -> list[str]:
    """The factors picked, as a list above the narrative (each on one line, whatever its note holds)."""
    links = postmortem.ordered_factor_links()
    if not links:
        return ["_No contributing factor picked._", ""]
    lines = []
    for link in links:
        name = _markdown_inline(link.factor.name) + (" (archived)" if link.factor.is_archived else "")
        note = " ".join(link.note.split())
        lines.append(f"- **{name}**" + (f": {_markdown_inline(note)}" if note else ""))
    return [*lines, ""]


def _markdown_inline(text: str) -> str:
    # A note is plain text: its Markdown punctuation is escaped so it reads the same exported.
    return re.sub(r"([\\`*_{}\[\]<>#|!~])", r"\\\1", text)


@dataclass(frozen=True)
class ChecklistProblem:
    """One thing to look at before publishing: `code` for programs, `message` for people, `field`
    (the section or field it is about, or the remediation's missing field), `remediation` (its id,
    for a remediation's problem) and `fix_url`, the page (and field) where it is fixed."""

    code: str
    message: str
    field: str | None
    fix_url: str
    remediation: int | None = None


def publish_checklist(postmortem: PostMortem) -> list[ChecklistProblem]:
    """What a reviewer would ask about before this post-mortem is published, in the page's order:
    blame language in the saved sections, empty sections, remediations still to be done without an
    owner or a due date, no contributing factor picked, and no causing deploy linked to the incident with
    no reason given for none.
    None of these blocks publishing (services.postmortem_set_status asks for a confirmation); the
    hard rule — a remediation or "no action needed" — is services._check_publishable's. Three queries."""
    edit = reverse("postmortems:edit", args=[postmortem.incident_id])
    headings = {name: heading for name, heading, _ in PostMortem.SECTIONS}
    problems = []
    for name in PostMortem.SECTION_FIELDS:
        hints = find_blame(getattr(postmortem, name) or "")
        if hints:
            phrases = ", ".join(dict.fromkeys(f"“{hint.text}”" for hint in hints))
            problems.append(
                ChecklistProblem(
                    "blame_language",
                    f"Blame language in “{headings[name]}”: {phrases}. {SUGGESTION}",
                    name,
                    f"{edit}#id_{name}",
                )
            )
    for name in PostMortem.SECTION_FIELDS:
        if not (getattr(postmortem, name) or "").strip():
            problems.append(
                ChecklistProblem("empty_section", f"“{headings[name]}” is not written yet.", name, f"{edit}#id_{name}")
            )
    if not postmortem.factor_links.exists():
        problems.append(
            ChecklistProblem(
                "no_contributing_factor",
                "No contributing factor is picked: tick the kinds of factor that played a part, so that patterns "
                "show across incidents.",
                "factors",
                f"{edit}#edit-factors",
            )
        )
    to_do = postmortem.remediations.filter(status__in=[Remediation.Status.OPEN, Remediation.Status.IN_PROGRESS])
    for remediation in to_do.order_by(F("due_date").asc(nulls_last=True), "id"):
        fix = reverse("postmortems:remediation_edit", args=[remediation.pk])
        what = remediation.description.strip().splitlines()[0][:80] if remediation.description.strip() else ""
        if remediation.owner_id is None and not remediation.owner_name.strip():
            problems.append(
                ChecklistProblem("remediation_without_owner", f"“{what}” has no owner.", "owner", fix, remediation.pk)
            )
        if remediation.due_date is None:
            problems.append(
                ChecklistProblem(
                    "remediation_without_due_date", f"“{what}” has no due date.", "due_date", fix, remediation.pk
                )
            )
    caused = postmortem.incident.deploy_links.filter(relation="cause").exists()
    if not caused and not postmortem.no_cause_reason.strip():
        problems.append(
            ChecklistProblem(
                "no_causing_deploy",
                "No deploy is linked as the cause: link it on the incident page, or say why no deploy caused it.",
                "no_cause_reason",
                f"{edit}#id_no_cause_reason",
            )
        )
    return problems
