"""Writes for incidents. Every change goes through here so the timeline records it."""

import datetime as dt
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from taggit.models import Tag

from deploys.models import Deploy, Service
from incidents.models import (
    CLOCK_SKEW,
    LIFECYCLE,
    LIFECYCLE_LABELS,
    Incident,
    IncidentDeploy,
    TimelineEntry,
    validate_lifecycle,
)
from incidents.signals import changed
from plumbing.markdown import TIMELINE_NOTE_MAX_LENGTH
from plumbing.validators import single_line_validator

# Fields whose every change is written to the timeline with old and new values.
TRACKED = LIFECYCLE + ["severity", "services", "tags"]
EDITABLE = TRACKED + [
    "title",
    "detected_by",
    "detection_source",
    "summary",
    "commander",
    "comms_lead",
    "scribe",
    "participants",
]
# The role columns: their changes are handovers, recorded by _handover_entry.
ROLE_FIELDS = set(Incident.ROLE_FIELDS.values())
ROLE_LABELS = {name: Incident.Role(role).label for role, name in Incident.ROLE_FIELDS.items()}
ROLE_NAME_MAX = Incident._meta.get_field("commander").max_length
STAMPS = {"acknowledged": "acknowledged_at", "mitigated": "mitigated_at", "resolved": "resolved_at"}
MAX_NOTE_LENGTH = TIMELINE_NOTE_MAX_LENGTH


@dataclass
class IncidentInput:
    title: str
    started_at: dt.datetime
    severity: int = Incident.Severity.SEV3
    services: Iterable[Service] = field(default_factory=list)
    detected_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    mitigated_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    detected_by: str = Incident.DetectedBy.MONITORING
    detection_source: str = ""
    summary: str = ""
    commander: str = ""
    comms_lead: str = ""
    scribe: str = ""
    participants: list[str] = field(default_factory=list)
    # Names as typed; incident_create cleans them (clean_tags).
    tags: Iterable[str] = field(default_factory=list)
    source: str = ""
    external_id: str = ""
    # The new-incident form's key: a second POST of the same form finds the incident it filed.
    filing_key: uuid.UUID | None = None


def _display(name: str, value) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if name == "severity":
        return f"SEV{value}"
    if name in ("services", "tags"):
        return ", ".join(sorted(value, key=str.casefold)) or "—"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def display_change(name: str, value) -> str:
    """A value from a timeline entry's `changes` (JSON: times as ISO strings) as the page shows it."""
    if name in LIFECYCLE and isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return _display(name, value)


def json_value(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, set):
        return sorted(value)
    return value


def _label(name: str) -> str:
    if name in LIFECYCLE_LABELS:
        return f"{LIFECYCLE_LABELS[name].capitalize()} time"
    return Incident._meta.get_field(name).verbose_name.capitalize()


DETECTION_ASKED = "You gave a later stage; when was it detected?"


def _existing_filing(data: IncidentInput) -> Incident | None:
    if data.external_id:
        return Incident.objects.filter(source=data.source, external_id=data.external_id).first()
    if data.filing_key:
        return Incident.objects.filter(filing_key=data.filing_key).first()
    return None


def _check_times_given(data: IncidentInput, now: dt.datetime) -> None:
    """An incident entered after the fact (a later stage given) must say when it was detected:
    inventing it from "now" or a later stamp would corrupt time to detect and time to repair. The
    times given are checked as typed, so an error lands only on a field someone filled."""
    later = [data.acknowledged_at, data.mitigated_at, data.resolved_at]
    if data.detected_at is not None or all(t is None for t in later):
        return
    errors = {"detected_at": [DETECTION_ASKED]}
    try:
        validate_lifecycle({name: getattr(data, name) for name in LIFECYCLE}, now=now)
    except ValidationError as error:
        errors.update(error.message_dict)
    raise ValidationError(errors)


# --- Tags -----------------------------------------------------------------------------------------
# Free-form labels (dns, black-friday) that people filter and count by: one spelling per tag, so
# "DNS", "dns" and "dns " are one tag (TAGGIT_CASE_INSENSITIVE), and nothing that looks like one tag
# while being another (an invisible character, a bidi override that makes it display reversed).

TAG_MAX_LENGTH = 50
TAGS_MAX = 20
TAG_SEPARATOR = ","
# Control (Cc), format (Cf: zero-width spaces and joiners, bidi overrides and isolates), line and
# paragraph separators (Zl, Zp): invisible, or changing how the text around them displays.
REFUSED_TAG_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# At most this many messages: 10,000 bad tags get a short answer.
TAG_ERRORS_MAX = 5


def _refused_char(name: str) -> str | None:
    for char in name:
        if unicodedata.category(char) in REFUSED_TAG_CATEGORIES:
            return char
    return None


def _shown(name: str) -> str:
    """A refused tag as a message quotes it: short, its invisible characters made visible."""
    visible = "".join("�" if unicodedata.category(c) in REFUSED_TAG_CATEGORIES else c for c in name[:30])
    return visible + ("…" if len(name) > 30 else "")


def clean_tags(values: Iterable[str] | str) -> list[str]:
    """Tag names as stored, in the order given: each in Unicode NFC, trimmed, inner whitespace
    collapsed to one space, empty ones dropped, repeats in any case dropped (the first spelling is
    kept). A string is read as comma-separated names, as the form sends them.

    Raises ValidationError({"tags": [...]}) naming the refused tags: one with a control, invisible or
    format character (a zero-width space, a bidi override) or a line separator, one with a comma
    (given in a list: the comma separates tags), one over TAG_MAX_LENGTH characters; or more than
    TAGS_MAX tags. Linear in the input's length.
    """
    listed = not isinstance(values, str)
    if not listed:
        values = values.split(TAG_SEPARATOR)
    names: dict[str, str] = {}
    errors: list[str] = []
    for raw in values:
        name = unicodedata.normalize("NFC", str(raw)).strip()
        if not name:
            continue
        char = _refused_char(name)
        if char is not None:
            errors.append(
                f"“{_shown(name)}” has an invisible or control character (U+{ord(char):04X}); type the tag without it."
            )
            continue
        name = " ".join(name.split())
        if listed and TAG_SEPARATOR in name:
            errors.append(f"“{_shown(name)}” has a comma, which separates tags: give it as two tags, or without it.")
            continue
        if len(name) > TAG_MAX_LENGTH:
            errors.append(f"“{_shown(name)}” is {len(name):,} characters; keep a tag to {TAG_MAX_LENGTH}.")
            continue
        names.setdefault(name.casefold(), name)
    if len(errors) > TAG_ERRORS_MAX:
        errors = errors[:TAG_ERRORS_MAX] + [f"And {len(errors) - TAG_ERRORS_MAX:,} more tags like these."]
    if len(names) > TAGS_MAX:
        errors.append(f"At most {TAGS_MAX} tags on an incident ({len(names):,} given).")
    if errors:
        raise ValidationError({"tags": errors})
    return list(names.values())


def _tag_objects(names: list[str]) -> list[Tag]:
    """The Tag of each cleaned name: the existing one whatever its case (its spelling wins), or a new
    one. One query, plus one per new tag."""
    if not names:
        return []
    lookup = Q()
    for name in names:
        lookup |= Q(name__iexact=name)
    existing: dict[str, Tag] = {}
    for tag in Tag.objects.filter(lookup).order_by("id"):
        existing.setdefault(tag.name.casefold(), tag)
    tags = []
    for name in names:
        tag = existing.get(name.casefold())
        if tag is None:
            tag, _ = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    return tags


def incident_create(*, data: IncidentInput, by=None, now: dt.datetime | None = None) -> tuple[Incident, bool]:
    """File an incident. Returns (incident, created).

    `detected_at` defaults to now (when it is filed) for a live incident; one entered after the
    fact (acknowledged, mitigated or resolved given) must give it. Idempotent on (source,
    external_id) and on `filing_key`, also when two requests race. Raises ValidationError naming
    the fields when timestamps are missing, out of order or in the future.
    """
    now = now or timezone.now()
    existing = _existing_filing(data)
    if existing is not None:
        return existing, False
    _check_times_given(data, now)
    tag_names = clean_tags(data.tags)
    roles = _role_names({name: getattr(data, name) for name in ROLE_FIELDS})
    incident = Incident(
        title=data.title,
        severity=data.severity,
        started_at=data.started_at,
        detected_at=data.detected_at or now,
        acknowledged_at=data.acknowledged_at,
        mitigated_at=data.mitigated_at,
        resolved_at=data.resolved_at,
        detected_by=data.detected_by,
        detection_source=data.detection_source,
        summary=data.summary,
        **roles,
        participants=list(data.participants),
        source=data.source,
        external_id=data.external_id,
        filing_key=data.filing_key,
        created_at=now,
        updated_at=now,
        created_by=by,
        updated_by=by,
    )
    incident.full_clean(exclude=["services", "deploys"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            incident.save()
            incident.services.set(list(data.services))
            if tag_names:
                incident.tags.set(_tag_objects(tag_names))
            TimelineEntry.objects.create(
                incident=incident,
                at=incident.detected_at,
                kind=TimelineEntry.Kind.STATUS,
                text=f"Incident filed ({incident.get_severity_display()}); impact started "
                f"{_display('started_at', incident.started_at)}.",
                author=by,
                created_at=now,
            )
            for name in ("acknowledged_at", "mitigated_at", "resolved_at"):
                value = getattr(incident, name)
                if value is not None:
                    TimelineEntry.objects.create(
                        incident=incident,
                        at=value,
                        kind=TimelineEntry.Kind.STATUS,
                        text=f"{LIFECYCLE_LABELS[name].capitalize()}.",
                        changes={name: {"old": None, "new": json_value(value)}},
                        author=by,
                        created_at=now,
                    )
    except IntegrityError:
        # The loser of a race on the same key reads the winner's row.
        existing = _existing_filing(data)
        if existing is None:
            raise
        return existing, False
    changed(incident.pk)
    return incident, True


def _locked(incident: Incident) -> Incident:
    # Row lock: concurrent stamps and edits of one incident apply one after the other.
    return Incident.objects.select_for_update().get(pk=incident.pk)


@transaction.atomic
def incident_update(*, incident: Incident, changes: dict, by=None, now: dt.datetime | None = None) -> Incident:
    """Apply field changes; each tracked change becomes a timeline entry with old and new values.

    `changes` maps field names (see EDITABLE) to new values; `services` takes Service objects,
    `tags` names (cleaned by clean_tags; an existing tag's spelling wins).
    Raises ValidationError naming the fields on out-of-order or future timestamps, and then
    nothing is saved.
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    now = now or timezone.now()
    locked = _locked(incident)
    old_services = set(locked.services.values_list("slug", flat=True))
    changes = {**changes, **_role_names({name: value for name, value in changes.items() if name in ROLE_FIELDS})}
    new_tags = _tag_objects(clean_tags(changes["tags"])) if "tags" in changes else None
    if "detected_at" in changes and changes["detected_at"] is None and locked.detected_at is not None:
        raise ValidationError({"detected_at": ["The detection time can be corrected, not removed."]})
    diffs: dict[str, tuple] = {}
    for name, value in changes.items():
        if name == "services":
            new_services = {s.slug for s in value}
            if new_services != old_services:
                diffs[name] = (old_services, new_services)
            continue
        if name == "tags":
            old_tags = sorted(locked.tags.names(), key=str.casefold)
            new_names = sorted((tag.name for tag in new_tags), key=str.casefold)
            if new_names != old_tags:
                diffs[name] = (old_tags, new_names)
            continue
        old = getattr(locked, name)
        if old != value:
            diffs[name] = (old, value)
            setattr(locked, name, value)
    if not diffs:
        return locked
    locked.full_clean(exclude=["services", "deploys"], validate_unique=False, validate_constraints=False)
    locked.updated_at = now
    locked.updated_by = by
    locked.save()
    if "services" in diffs:
        locked.services.set(list(changes["services"]))
    if "tags" in diffs:
        locked.tags.set(new_tags)
    entries = []
    for name, (old, new) in diffs.items():
        if name in ROLE_FIELDS:
            entries.append(_handover_entry(locked, name, old, new, by=by, now=now))
            continue
        if name in TRACKED:
            text = f"{_label(name)} changed from {_display(name, old)} to {_display(name, new)}."
            kind = TimelineEntry.Kind.STATUS if name in STAMPS.values() and old is None else TimelineEntry.Kind.EDIT
        else:
            text = f"{_label(name)} edited."
            kind = TimelineEntry.Kind.EDIT
        entries.append(
            TimelineEntry(
                incident=locked,
                at=now,
                kind=kind,
                text=text,
                changes={name: {"old": json_value(old), "new": json_value(new)}},
                author=by,
                created_at=now,
            )
        )
    TimelineEntry.objects.bulk_create(entries)
    changed(locked.pk)
    return locked


def _role_names(values: dict[str, str]) -> dict[str, str]:
    """Role holders' names as stored: trimmed, one line, at most ROLE_NAME_MAX characters.

    Raises ValidationError naming each field (the keys of `values`) whose name is refused.
    """
    cleaned, errors = {}, {}
    for field_name, value in values.items():
        value = (value or "").strip()
        if len(value) > ROLE_NAME_MAX:
            errors[field_name] = [f"Keep a name under {ROLE_NAME_MAX} characters ({len(value):,} now)."]
            continue
        try:
            single_line_validator(value)
        except ValidationError as error:
            errors[field_name] = error.messages
            continue
        cleaned[field_name] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def handover_text(field_name: str, old: str, new: str) -> str:
    """ "Incident lead handed over from ana to bob." / "… taken by bob." / "… left (was ana)." """
    label = ROLE_LABELS[field_name]
    if old and new:
        return f"{label} handed over from {old} to {new}."
    if new:
        return f"{label} taken by {new}."
    return f"{label} left (was {old})."


def _handover_entry(incident: Incident, field_name: str, old: str, new: str, *, by, now) -> TimelineEntry:
    return TimelineEntry(
        incident=incident,
        at=now,
        kind=TimelineEntry.Kind.HANDOVER,
        text=handover_text(field_name, old, new),
        changes={field_name: {"old": old, "new": new}},
        author=by,
        created_at=now,
    )


@transaction.atomic
def incident_assign_role(
    *, incident: Incident, role: str, name: str, by=None, now: dt.datetime | None = None
) -> Incident:
    """Give `role` (an Incident.Role value: "lead", "comms" or "scribe") to `name`; "" clears it.

    The name is any text on one line (a username, a full name, "the payments team"), trimmed. The
    handover is written to the timeline with the old and new holder, who made it and when.
    Assigning the holder the role already has changes nothing and writes nothing. Raises
    ValidationError naming `role` (not one of the three) or `name` (too long, several lines).
    """
    try:
        field_name = Incident.ROLE_FIELDS[Incident.Role(role)]
    except (ValueError, TypeError):
        choices = ", ".join(Incident.Role.values)
        raise ValidationError({"role": [f"No role {role!r}: use one of {choices}."]}) from None
    if not isinstance(name, str):
        raise ValidationError({"name": ["Give a name as text; an empty one clears the role."]})
    name = _role_names({"name": name})["name"]
    now = now or timezone.now()
    locked = _locked(incident)
    old = getattr(locked, field_name)
    if old == name:
        return locked
    setattr(locked, field_name, name)
    locked.updated_at, locked.updated_by = now, by
    locked.save(update_fields=[field_name, "updated_at", "updated_by"])
    _handover_entry(locked, field_name, old, name, by=by, now=now).save()
    # The lead is on the chat announcements: they follow a handover like any other change.
    changed(locked.pk)
    return locked


@transaction.atomic
def incident_stamp(*, incident: Incident, stage: str, by=None, at: dt.datetime | None = None) -> Incident:
    """Stamp acknowledged / mitigated / resolved at `at` (default now).

    A stage already stamped keeps its first time: pressing Resolved twice, or two people pressing
    it at once, records one resolution. Raises ValidationError if the time would be out of order,
    or if it is in the future — that one whatever the stage's state, stamped already or not.
    """
    name = STAMPS[stage]
    now = timezone.now()
    at = at or now
    if at > now + CLOCK_SKEW:
        # The same message as validate_lifecycle's, which checks it when the stage is stamped.
        raise ValidationError({name: [f"{LIFECYCLE_LABELS[name].capitalize()} time can't be in the future."]})
    locked = _locked(incident)
    if getattr(locked, name) is not None:
        return locked
    for later in LIFECYCLE[LIFECYCLE.index(name) + 1 :]:
        later_at = getattr(locked, later)
        if later_at is not None and later_at < at:
            raise ValidationError(
                {
                    name: [
                        f"It was already {LIFECYCLE_LABELS[later]} at {_display(later, later_at)}, so it can't be "
                        f"{LIFECYCLE_LABELS[name]} after that. Edit the incident to set an earlier time."
                    ]
                }
            )
    old_status = locked.get_status_display()
    setattr(locked, name, at)
    locked.full_clean(exclude=["services", "deploys"], validate_unique=False, validate_constraints=False)
    locked.updated_at = now
    locked.updated_by = by
    locked.save(update_fields=[name, "updated_at", "updated_by"])
    new_status = locked.get_status_display()
    TimelineEntry.objects.create(
        incident=locked,
        at=at,
        kind=TimelineEntry.Kind.STATUS,
        text=f"{LIFECYCLE_LABELS[name].capitalize()}. Status {old_status} → {new_status}."
        if old_status != new_status
        else f"{LIFECYCLE_LABELS[name].capitalize()}.",
        changes={name: {"old": None, "new": json_value(at)}},
        author=by,
        created_at=now,
    )
    changed(locked.pk)
    return locked


@transaction.atomic
def incident_reopen(*, incident: Incident, by=None, now: dt.datetime | None = None) -> Incident:
    """Reopen a resolved incident: its resolution time is cleared (the timeline keeps it) and it
    is mitigated, acknowledged or open again by its other stamps. Raises ValidationError when it
    isn't resolved."""
    now = now or timezone.now()
    locked = _locked(incident)
    if locked.resolved_at is None:
        raise ValidationError(
            {"resolved_at": [f"Incident #{locked.pk} isn't resolved, so there is nothing to reopen."]}
        )
    old_at = locked.resolved_at
    locked.resolved_at = None
    locked.updated_at, locked.updated_by = now, by
    locked.save(update_fields=["resolved_at", "updated_at", "updated_by"])
    TimelineEntry.objects.create(
        incident=locked,
        at=now,
        kind=TimelineEntry.Kind.STATUS,
        text=f"Reopened (was resolved {_display('resolved_at', old_at)}). Status Resolved → "
        f"{locked.get_status_display()}.",
        changes={"resolved_at": {"old": json_value(old_at), "new": None}},
        author=by,
        created_at=now,
    )
    changed(locked.pk)
    return locked


def _touch(incident: Incident, by, now: dt.datetime) -> None:
    Incident.objects.filter(pk=incident.pk).update(updated_at=now, updated_by=by)


@transaction.atomic
def incident_add_note(*, incident: Incident, text: str, by=None, at: dt.datetime | None = None) -> TimelineEntry:
    """Add a note to the timeline, at `at` (default now; not in the future)."""
    text = text.strip()
    now = timezone.now()
    if not text:
        raise ValidationError({"text": ["A note needs some text."]})
    if len(text) > MAX_NOTE_LENGTH:
        raise ValidationError({"text": [f"Keep a note under {MAX_NOTE_LENGTH:,} characters ({len(text):,} now)."]})
    if at is not None and at > now + CLOCK_SKEW:
        raise ValidationError({"at": ["A note can't be dated in the future."]})
    _touch(incident, by, now)
    return TimelineEntry.objects.create(
        incident=incident, at=at or now, kind=TimelineEntry.Kind.NOTE, text=text, author=by, created_at=now
    )


@transaction.atomic
def incident_remove_note(*, entry: TimelineEntry, by=None) -> bool:
    """Remove a note from the timeline (one copied from chat whose pin was taken off). Only notes:
    status changes, edits and links are the record of what happened and stay. Returns whether one
    was removed."""
    if entry.kind != TimelineEntry.Kind.NOTE:
        raise ValidationError({"entry": ["Only notes can be removed from a timeline."]})
    deleted, _ = TimelineEntry.objects.filter(pk=entry.pk).delete()
    if deleted:
        _touch(entry.incident, by, timezone.now())
    return bool(deleted)


def _deploy_words(deploy: Deploy) -> str:
    return f"{deploy.service.slug} {deploy.version} to {deploy.environment.slug} (deploy #{deploy.pk})"


@transaction.atomic
def incident_link_deploy(
    *, incident: Incident, deploy: Deploy, relation: str, by=None, note: str = ""
) -> tuple[IncidentDeploy, bool]:
    """Link a deploy as a cause of the incident or as a fix for it. Linking twice is a no-op."""
    link, created = IncidentDeploy.objects.get_or_create(
        incident=incident, deploy=deploy, relation=relation, defaults={"note": note, "created_by": by}
    )
    if created:
        _touch(incident, by, timezone.now())
        words = "as a cause" if relation == IncidentDeploy.Relation.CAUSE else "as remediating"
        TimelineEntry.objects.create(
            incident=incident,
            kind=TimelineEntry.Kind.DEPLOY_LINKED,
            text=f"Linked {_deploy_words(deploy)} {words}." + (f" {note}" if note else ""),
            changes={"deploy": {"id": deploy.pk, "relation": relation, "linked": True}},
            author=by,
        )
    return link, created


@transaction.atomic
def incident_unlink_deploy(*, incident: Incident, deploy: Deploy, relation: str, by=None) -> bool:
    """Remove a link; the timeline keeps the record that it existed. Returns whether one was removed."""
    deleted, _ = IncidentDeploy.objects.filter(incident=incident, deploy=deploy, relation=relation).delete()
    if deleted:
        _touch(incident, by, timezone.now())
        words = "as a cause" if relation == IncidentDeploy.Relation.CAUSE else "as remediating"
        TimelineEntry.objects.create(
            incident=incident,
            kind=TimelineEntry.Kind.DEPLOY_UNLINKED,
            text=f"Unlinked {_deploy_words(deploy)} {words}.",
            changes={"deploy": {"id": deploy.pk, "relation": relation, "linked": False}},
            author=by,
        )
    return bool(deleted)


# --- Archiving -----------------------------------------------------------------------------------
# Incidents are archived, never deleted: one filed by mistake or twice ("duplicate of #12") leaves
# the lists and the monthly numbers but keeps its page, its timeline and its post-mortem, which is
# archived with it. Restoring brings all of it back; the timeline keeps both events.

ARCHIVE_REASON_MAX = Incident._meta.get_field("archive_reason").max_length


@transaction.atomic
def incident_archive(*, incident: Incident, by=None, reason: str, now: dt.datetime | None = None) -> Incident:
    """Archive an incident (and with it its post-mortem), saying why.

    Raises ValidationError when the reason is empty or too long, or the incident is already
    archived (its first archiving is kept).
    """
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": ["Say why it is archived, e.g. “duplicate of #12” or “filed by mistake”."]})
    if len(reason) > ARCHIVE_REASON_MAX:
        raise ValidationError({"reason": [f"Keep the reason under {ARCHIVE_REASON_MAX} characters."]})
    now = now or timezone.now()
    locked = _locked(incident)
    if locked.archived_at is not None:
        raise ValidationError(
            {
                "archived": [
                    f"Incident #{locked.pk} is already archived (since {_display('archived_at', locked.archived_at)}: "
                    f"{locked.archive_reason})."
                ]
            }
        )
    locked.archived_at, locked.archived_by, locked.archive_reason = now, by, reason
    locked.updated_at, locked.updated_by = now, by
    locked.save(update_fields=["archived_at", "archived_by", "archive_reason", "updated_at", "updated_by"])
    TimelineEntry.objects.create(
        incident=locked,
        at=now,
        kind=TimelineEntry.Kind.ARCHIVED,
        text=f"Archived: {reason}",
        changes={"archived_at": {"old": None, "new": json_value(now)}, "archive_reason": {"old": "", "new": reason}},
        author=by,
        created_at=now,
    )
    changed(locked.pk)
    return locked


@transaction.atomic
def incident_unarchive(*, incident: Incident, by=None, now: dt.datetime | None = None) -> Incident:
    """Restore an archived incident (and its post-mortem) to the lists and the numbers.

    Raises ValidationError when it isn't archived. The timeline keeps why it had been archived.
    """
    now = now or timezone.now()
    locked = _locked(incident)
    if locked.archived_at is None:
        raise ValidationError({"archived": [f"Incident #{locked.pk} isn't archived."]})
    old_at, old_reason = locked.archived_at, locked.archive_reason
    locked.archived_at, locked.archived_by, locked.archive_reason = None, None, ""
    locked.updated_at, locked.updated_by = now, by
    locked.save(update_fields=["archived_at", "archived_by", "archive_reason", "updated_at", "updated_by"])
    TimelineEntry.objects.create(
        incident=locked,
        at=now,
        kind=TimelineEntry.Kind.RESTORED,
        text=f"Restored from the archive (archived {_display('archived_at', old_at)}: {old_reason}).",
        changes={
            "archived_at": {"old": json_value(old_at), "new": None},
            "archive_reason": {"old": old_reason, "new": ""},
        },
        author=by,
        created_at=now,
    )
    changed(locked.pk)
    return locked


# --- Post-mortems -------------------------------------------------------------------------------


# --- Alerts and paging webhooks (Alertmanager, PagerDuty) ---------------------------------------

ALERTMANAGER_SOURCE = "alertmanager"
PAGERDUTY_SOURCE = "pagerduty"
TITLE_MAX = Incident._meta.get_field("title").max_length
DETECTION_SOURCE_MAX = Incident._meta.get_field("detection_source").max_length


@dataclass(frozen=True)
class PagerDutyIncidentInput:
    """The incident a PagerDuty v3 webhook event is about (its `event.data`), parsed."""

    id: str
    title: str
    created_at: dt.datetime
    severity: int = Incident.Severity.SEV3
    services: list[Service] = field(default_factory=list)
    number: int | None = None
    url: str = ""


PAGERDUTY_STAGES = {"incident.acknowledged": "acknowledged", "incident.resolved": "resolved"}


@transaction.atomic
def pagerduty_incident_event(
    *, data: PagerDutyIncidentInput, stage: str | None = None, at: dt.datetime | None = None
) -> tuple[Incident, bool]:
    """Record one PagerDuty incident event. Returns (incident, created).

    The incident is filed once per PagerDuty incident id (source "pagerduty"), started and detected
    at PagerDuty's `created_at`. With `stage` ("acknowledged" or "resolved") it is then stamped at
    `at` by incident_stamp, so its rules hold: the first stamp of a stage is kept (a replay changes
    nothing) and times stay in order. An acknowledged or resolved event whose triggered event never
    came (or comes later) files the incident from its own data first: PagerDuty sends the whole
    incident with every event. Raises ValidationError for times out of order or in the future.
    """
    number = f" #{data.number}" if data.number is not None else ""
    link = f" <{data.url}>" if data.url.startswith("https://") else ""
    incident, created = incident_create(
        data=IncidentInput(
            title=" ".join(data.title.split())[:TITLE_MAX],
            started_at=data.created_at,
            detected_at=data.created_at,
            severity=data.severity,
            services=data.services,
            detected_by=Incident.DetectedBy.MONITORING,
            detection_source=f"PagerDuty incident{number} ({data.id})"[:DETECTION_SOURCE_MAX],
            summary=f"Paged through PagerDuty: incident{number}{link}.",
            source=PAGERDUTY_SOURCE,
            external_id=data.id,
        )
    )
    if stage is not None:
        incident = incident_stamp(incident=incident, stage=stage, at=at)
    return incident, created
