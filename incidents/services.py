"""Writes for incidents. Every change goes through here so the timeline records it."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from deploys.models import Deploy, Service
from incidents.models import CLOCK_SKEW, LIFECYCLE, LIFECYCLE_LABELS, Incident, IncidentDeploy, TimelineEntry

# Fields whose every change is written to the timeline with old and new values.
TRACKED = LIFECYCLE + ["severity", "services"]
EDITABLE = TRACKED + [
    "title",
    "detected_by",
    "detection_source",
    "summary",
    "commander",
    "participants",
]
STAMPS = {"acknowledged": "acknowledged_at", "mitigated": "mitigated_at", "resolved": "resolved_at"}
MAX_NOTE_LENGTH = 10_000


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
    participants: list[str] = field(default_factory=list)
    source: str = ""
    external_id: str = ""


def _display(name: str, value) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if name == "severity":
        return f"SEV{value}"
    if name == "services":
        return ", ".join(sorted(value)) or "—"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def _json(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, set):
        return sorted(value)
    return value


def _label(name: str) -> str:
    if name in LIFECYCLE_LABELS:
        return f"{LIFECYCLE_LABELS[name].capitalize()} time"
    return Incident._meta.get_field(name).verbose_name.capitalize()


def incident_create(*, data: IncidentInput, by=None, now: dt.datetime | None = None) -> tuple[Incident, bool]:
    """File an incident. Returns (incident, created).

    `detected_at` defaults to now (when it was filed). Idempotent on (source, external_id), also
    when two requests race. Raises ValidationError naming the fields when timestamps are out of
    order or in the future.
    """
    now = now or timezone.now()
    if data.external_id:
        existing = Incident.objects.filter(source=data.source, external_id=data.external_id).first()
        if existing is not None:
            return existing, False
    detected_at = data.detected_at
    if detected_at is None:
        # When it is filed — or, for one filed after the fact, no later than its first stamp.
        later = [t for t in (data.acknowledged_at, data.mitigated_at, data.resolved_at) if t is not None]
        detected_at = min([now, *later])
    incident = Incident(
        title=data.title,
        severity=data.severity,
        started_at=data.started_at,
        detected_at=detected_at,
        acknowledged_at=data.acknowledged_at,
        mitigated_at=data.mitigated_at,
        resolved_at=data.resolved_at,
        detected_by=data.detected_by,
        detection_source=data.detection_source,
        summary=data.summary,
        commander=data.commander,
        participants=list(data.participants),
        source=data.source,
        external_id=data.external_id,
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
                        changes={name: {"old": None, "new": _json(value)}},
                        author=by,
                        created_at=now,
                    )
    except IntegrityError:
        if not data.external_id:
            raise
        existing = Incident.objects.filter(source=data.source, external_id=data.external_id).first()
        if existing is None:
            raise
        return existing, False
    return incident, True


def _locked(incident: Incident) -> Incident:
    # Row lock: concurrent stamps and edits of one incident apply one after the other.
    return Incident.objects.select_for_update().get(pk=incident.pk)


@transaction.atomic
def incident_update(*, incident: Incident, changes: dict, by=None, now: dt.datetime | None = None) -> Incident:
    """Apply field changes; each tracked change becomes a timeline entry with old and new values.

    `changes` maps field names (see EDITABLE) to new values; `services` takes Service objects.
    Raises ValidationError naming the fields on out-of-order or future timestamps, and then
    nothing is saved.
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    now = now or timezone.now()
    locked = _locked(incident)
    old_services = set(locked.services.values_list("slug", flat=True))
    if "detected_at" in changes and changes["detected_at"] is None and locked.detected_at is not None:
        raise ValidationError({"detected_at": ["The detection time can be corrected, not removed."]})
    diffs: dict[str, tuple] = {}
    for name, value in changes.items():
        if name == "services":
            new_services = {s.slug for s in value}
            if new_services != old_services:
                diffs[name] = (old_services, new_services)
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
    entries = []
    for name, (old, new) in diffs.items():
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
                changes={name: {"old": _json(old), "new": _json(new)}},
                author=by,
                created_at=now,
            )
        )
    TimelineEntry.objects.bulk_create(entries)
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
        changes={name: {"old": None, "new": _json(at)}},
        author=by,
        created_at=now,
    )
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
        changes={"archived_at": {"old": None, "new": _json(now)}, "archive_reason": {"old": "", "new": reason}},
        author=by,
        created_at=now,
    )
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
        changes={"archived_at": {"old": _json(old_at), "new": None}, "archive_reason": {"old": old_reason, "new": ""}},
        author=by,
        created_at=now,
    )
    return locked


# --- Post-mortems -------------------------------------------------------------------------------

from django.shortcuts import get_object_or_404  # noqa: E402

from incidents.models import PostMortem, PostMortemRevision, Remediation  # noqa: E402


class EditConflict(Exception):
    """Someone else saved the post-mortem since this edit began."""

    def __init__(self, current: PostMortem, submitted: dict):
        super().__init__(
            f"{current.updated_by or 'Someone'} saved this post-mortem (version {current.version}) after you "
            "started editing. Nothing of yours was saved: merge your changes into the current text and save again."
        )
        self.current = current
        self.submitted = submitted


POSTMORTEM_EDITABLE = PostMortem.SECTION_FIELDS + [
    "facilitator",
    "meeting_date",
    "no_action_needed",
    "no_action_reason",
]


def timeline_narrative(incident: Incident) -> str:
    """The incident's timeline as a Markdown list, a starting point for the write-up."""
    lines = []
    day = None
    for entry in incident.timeline.order_by("at", "id"):
        local = timezone.localtime(entry.at)
        if local.date() != day:
            day = local.date()
            lines.append(f"\n**{local:%A %d %B %Y}**\n")
        lines.append(f"- {local:%H:%M} — {entry.text}")
    return "\n".join(lines).strip()


def _revision(postmortem: PostMortem, by, now) -> None:
    PostMortemRevision.objects.create(
        postmortem=postmortem, version=postmortem.version, content=postmortem.content(), saved_by=by, saved_at=now
    )


@transaction.atomic
def postmortem_start(*, incident: Incident, by=None) -> tuple[PostMortem, bool]:
    """The incident's post-mortem, created as a draft with the timeline prefilled if there is none."""
    Incident.objects.select_for_update().filter(pk=incident.pk).first()
    existing = PostMortem.objects.filter(incident=incident).first()
    if existing is not None:
        return existing, False
    now = timezone.now()
    postmortem = PostMortem.objects.create(
        incident=incident,
        summary=incident.summary,
        timeline_narrative=timeline_narrative(incident),
        facilitator=incident.commander,
        created_by=by,
        updated_by=by,
        created_at=now,
        updated_at=now,
    )
    _revision(postmortem, by, now)
    return postmortem, True


@transaction.atomic
def postmortem_save(*, postmortem: PostMortem, changes: dict, base_version: int, by=None) -> PostMortem:
    """Save an edit made on top of `base_version`.

    Raises EditConflict when someone saved in between (nothing is written), ValueError for a
    field that isn't editable. Every successful save that changes something adds a revision.
    """
    unknown = set(changes) - set(POSTMORTEM_EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    locked = PostMortem.objects.select_for_update().get(pk=postmortem.pk)
    if locked.version != base_version:
        raise EditConflict(locked, changes)
    changed = set()
    for name, value in changes.items():
        if getattr(locked, name) != value:
            setattr(locked, name, value)
            changed.add(name)
    if not changed:
        return locked
    if locked.status == PostMortem.Status.PUBLISHED and "no_action_needed" in changed:
        # Unticking "no action needed" on a published write-up must leave it publishable.
        _check_publishable(locked)
    _check_content(locked)
    now = timezone.now()
    locked.version += 1
    locked.updated_at = now
    locked.updated_by = by
    locked.save()
    _revision(locked, by, now)
    return locked


MAX_SECTION_LENGTH = 100_000


def _check_content(postmortem: PostMortem) -> None:
    """What any save must respect, whatever the status."""
    errors = {}
    for name in PostMortem.SECTION_FIELDS + ["no_action_reason"]:
        if len(getattr(postmortem, name) or "") > MAX_SECTION_LENGTH:
            errors[name] = [f"Keep a section under {MAX_SECTION_LENGTH:,} characters."]
    # A draft may tick "no action needed" before the reason is written; a published one may not.
    published = postmortem.status == PostMortem.Status.PUBLISHED
    if published and postmortem.no_action_needed and not postmortem.no_action_reason.strip():
        errors["no_action_reason"] = ["Say why no action is needed."]
    if postmortem.meeting_date and not 1970 <= postmortem.meeting_date.year <= 2999:
        errors["meeting_date"] = ["Enter a date between 1970 and 2999."]
    if errors:
        raise ValidationError(errors)


def _will_be_done(postmortem: PostMortem, *, without: Remediation | None = None) -> bool:
    """Whether the post-mortem has a remediation that will be done (any status but won't do),
    leaving `without` out. A won't-do remediation was considered and dropped: it doesn't make the
    write-up actionable."""
    remediations = postmortem.remediations.exclude(status=Remediation.Status.WONT_DO)
    if without is not None:
        remediations = remediations.exclude(pk=without.pk)
    return remediations.exists()


def _check_publishable(postmortem: PostMortem) -> None:
    """The rule for publishing. It is checked when publishing, and kept while published: the
    remediation functions refuse to drop or delete the last remediation that will be done
    (_check_keeps_publish_rule)."""
    _check_content(postmortem)
    if postmortem.no_action_needed:
        if not postmortem.no_action_reason.strip():
            raise ValidationError({"no_action_reason": ["Say why no action is needed."]})
        return
    if not _will_be_done(postmortem):
        raise ValidationError(
            {
                "status": [
                    "A post-mortem is published with at least one remediation, or marked "
                    "“no action needed” with a reason."
                ]
            }
        )


@transaction.atomic
def postmortem_set_status(
    *, postmortem: PostMortem, status: str, base_version: int | None = None, by=None
) -> PostMortem:
    """Move through draft → in review → published (and back, to correct a published one)."""
    if status not in PostMortem.Status.values:
        raise ValidationError({"status": [f"Unknown status {status!r}."]})
    locked = PostMortem.objects.select_for_update().get(pk=postmortem.pk)
    if base_version is not None and locked.version != base_version:
        raise EditConflict(locked, {"status": status})
    if locked.status == status:
        return locked
    if status == PostMortem.Status.PUBLISHED:
        _check_publishable(locked)
        locked.published_at = timezone.now()
    now = timezone.now()
    locked.status = status
    locked.version += 1
    locked.updated_at = now
    locked.updated_by = by
    locked.save()
    _revision(locked, by, now)
    return locked


MAX_TEXT_LENGTH = 10_000
REMEDIATION_EDITABLE = [
    "description",
    "kind",
    "owner",
    "owner_name",
    "due_date",
    "status",
    "wont_do_reason",
    "tracker_ref",
]


def _apply_remediation(remediation: Remediation, changes: dict, now) -> None:
    unknown = set(changes) - set(REMEDIATION_EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    old_status = remediation.status
    for name, value in changes.items():
        setattr(remediation, name, value)
    # The owner is a user or a name: giving one replaces the other.
    if changes.get("owner") is not None and "owner_name" not in changes:
        remediation.owner_name = ""
    if (changes.get("owner_name") or "").strip() and "owner" not in changes:
        remediation.owner = None
    if remediation.status == Remediation.Status.DONE and old_status != Remediation.Status.DONE:
        remediation.completed_at = now
    elif remediation.status != Remediation.Status.DONE:
        remediation.completed_at = None
    if remediation.status != Remediation.Status.WONT_DO:
        remediation.wont_do_reason = ""
    remediation.updated_at = now
    errors = {}
    if remediation.owner_id and remediation.owner_name.strip():
        errors["owner_name"] = ["Give a user or a name as the owner, not both."]
    if remediation.owner_id and not remediation.owner.is_active:
        errors["owner"] = ["That user is no longer active."]
    if remediation.due_date and not 1970 <= remediation.due_date.year <= 2999:
        errors["due_date"] = ["Enter a date between 1970 and 2999."]
    for name in ("description", "wont_do_reason"):
        if len(getattr(remediation, name)) > MAX_TEXT_LENGTH:
            errors[name] = [f"Keep it under {MAX_TEXT_LENGTH:,} characters."]
    if errors:
        raise ValidationError(errors)
    remediation.full_clean(exclude=["postmortem", "owner"])


@transaction.atomic
def remediation_create(*, postmortem: PostMortem, data: dict, by=None) -> Remediation:
    """Add a dev or ops remediation. `data` takes the fields in REMEDIATION_EDITABLE."""
    now = timezone.now()
    remediation = Remediation(postmortem=postmortem, created_at=now)
    _apply_remediation(remediation, data, now)
    remediation.save()
    return remediation


def _locked_postmortem(pk: int) -> PostMortem:
    # Row lock on the post-mortem, taken before its remediation's: changes to its remediations,
    # publishing and deleting check the publish rule one after the other (PostgreSQL).
    return get_object_or_404(PostMortem.objects.select_for_update(), pk=pk)


def _check_keeps_publish_rule(postmortem: PostMortem, *, dropping: Remediation) -> None:
    """A published post-mortem keeps the rule it was published under: `dropping` (about to be
    marked won't do) may not be its last remediation that will be done, unless it is marked
    "no action needed" with a reason. `postmortem` must be locked."""
    if postmortem.status != PostMortem.Status.PUBLISHED:
        return
    if postmortem.no_action_needed and postmortem.no_action_reason.strip():
        return
    if not _will_be_done(postmortem, without=dropping):
        raise ValidationError(
            {
                "status": [
                    "This is the last remediation of a published post-mortem that will be done, so it can't be "
                    "marked won't do: a published post-mortem keeps at least one (or “no action needed” with a "
                    "reason). Add the remediation that replaces it first, or move the post-mortem back to draft."
                ]
            }
        )


@transaction.atomic
def remediation_update(*, remediation: Remediation, changes: dict, by=None) -> Remediation:
    """Change a remediation; marking it done stamps when, for "done on time".

    Raises ValidationError naming the fields, and then nothing is saved — also when it would leave
    a published post-mortem without a remediation that will be done (see _check_keeps_publish_rule).
    Raises Http404 when it was deleted meanwhile.
    """
    postmortem = _locked_postmortem(remediation.postmortem_id)
    locked = get_object_or_404(Remediation.objects.select_for_update(), pk=remediation.pk)
    old_status = locked.status
    _apply_remediation(locked, changes, timezone.now())
    if locked.status == Remediation.Status.WONT_DO and old_status != Remediation.Status.WONT_DO:
        _check_keeps_publish_rule(postmortem, dropping=locked)
    locked.save()
    return locked


def remediation_delete_refusal(*, remediation: Remediation, postmortem: PostMortem) -> str | None:
    """Why the remediation can't be deleted, or None when it can.

    Remediations are tracked to done and kept: only one still open (or in progress) on a
    post-mortem that isn't published — added by mistake, or twice — can be deleted. A done one is
    the record of what was done, a won't-do one of a decision and its reason; on a published
    post-mortem, dropping one is marking it won't do with a reason.
    """
    if remediation.status == Remediation.Status.DONE:
        return (
            "A done remediation is the record of what was done: it can't be deleted. If it was marked done by "
            "mistake, change its status; if it won't be done after all, mark it won't do with a reason."
        )
    if remediation.status == Remediation.Status.WONT_DO:
        return "A won't-do remediation is the record of that decision and its reason: it can't be deleted."
    if postmortem.status == PostMortem.Status.PUBLISHED:
        if not (postmortem.no_action_needed and postmortem.no_action_reason.strip()) and not _will_be_done(
            postmortem, without=remediation
        ):
            return (
                "This is the last remediation of a published post-mortem that will be done, and the remediations "
                "of a published post-mortem are kept: it can't be deleted. To drop it, add the one that replaces "
                "it, then mark this one won't do with a reason — or move the post-mortem back to draft."
            )
        return (
            "The remediations of a published post-mortem are kept: this one can't be deleted. Mark it won't do "
            "with a reason instead."
        )
    return None


@transaction.atomic
def remediation_delete(*, remediation: Remediation, by=None) -> None:
    """Delete a remediation that is still open on a post-mortem that isn't published (see
    remediation_delete_refusal). Raises ValidationError saying why not, and then nothing changes;
    Http404 when it was deleted meanwhile."""
    postmortem = _locked_postmortem(remediation.postmortem_id)
    locked = get_object_or_404(Remediation.objects.select_for_update(), pk=remediation.pk)
    refusal = remediation_delete_refusal(remediation=locked, postmortem=postmortem)
    if refusal is not None:
        raise ValidationError({"remediation": [refusal]})
    locked.delete()


# --- Alerts and paging webhooks (Alertmanager, PagerDuty) ---------------------------------------

from deploys.models import Integration  # noqa: E402
from incidents.models import Alert  # noqa: E402

ALERTMANAGER_SOURCE = "alertmanager"
PAGERDUTY_SOURCE = "pagerduty"
TITLE_MAX = Incident._meta.get_field("title").max_length
DETECTION_SOURCE_MAX = Incident._meta.get_field("detection_source").max_length


@dataclass(frozen=True)
class AlertInput:
    """One alert of an Alertmanager notification, its times already parsed (aware)."""

    fingerprint: str
    starts_at: dt.datetime
    status: str  # Alert.Status
    ends_at: dt.datetime | None = None
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    generator_url: str = ""


@transaction.atomic
def alert_record(
    *, data: AlertInput, integration: Integration | None = None, now: dt.datetime | None = None
) -> tuple[Alert, str]:
    """Upsert one alert by (fingerprint, starts_at). Returns (alert, "created" | "updated" | "unchanged").

    A firing alert has no end, whatever `ends_at` says (Alertmanager sends Go's zero time, or the
    time it would expire if never resolved). Resolved is final for one firing: a firing notification
    that arrives after the resolved one — they can overtake each other, each is retried on its own —
    changes nothing. The same alert from two Alertmanager replicas, even at once, is one row.
    """
    now = now or timezone.now()
    resolved = data.status == Alert.Status.RESOLVED
    values = {
        "name": str(data.labels.get("alertname", ""))[:200],
        "labels": data.labels,
        "annotations": data.annotations,
        "status": data.status,
        "ends_at": data.ends_at if resolved else None,
        "generator_url": data.generator_url,
    }
    key = {"fingerprint": data.fingerprint, "starts_at": data.starts_at}
    alert = Alert.objects.select_for_update().filter(**key).first()
    if alert is None:
        try:
            with transaction.atomic():
                alert = Alert.objects.create(**key, **values, integration=integration, created_at=now, updated_at=now)
            return alert, "created"
        except IntegrityError:
            # Created by a concurrent delivery since we looked: update that row instead.
            alert = Alert.objects.select_for_update().get(**key)
    if alert.status == Alert.Status.RESOLVED and not resolved:
        return alert, "unchanged"
    changed = [name for name, value in values.items() if getattr(alert, name) != value]
    if not changed:
        return alert, "unchanged"
    for name in changed:
        setattr(alert, name, values[name])
    alert.updated_at = now
    alert.save(update_fields=[*changed, "updated_at"])
    return alert, "updated"


def promote_rule_matches(labels: dict, rule) -> bool:
    """Whether an alert's labels satisfy an integration's `promote_labels` rule: every label the rule
    lists is present with that exact value. An empty or malformed rule matches nothing."""
    if not isinstance(rule, dict) or not rule or not isinstance(labels, dict):
        return False
    return all(name in labels and str(labels[name]) == str(value) for name, value in rule.items())


def alert_external_id(alert: Alert) -> str:
    """The promoted incident's idempotency key: one incident per firing of an alert."""
    return f"alert:{alert.fingerprint}:{_json(alert.starts_at)}"


def _alert_services(alert: Alert) -> list[Service]:
    # The `service` label, through the integration's mapping; only a service Opslog knows.
    label = alert.labels.get("service") if isinstance(alert.labels, dict) else None
    if not label:
        return []
    slug = alert.integration.map_service(str(label)) if alert.integration_id else str(label)
    return list(Service.objects.filter(slug=slug))


@transaction.atomic
def alert_promote(*, alert: Alert, by=None, now: dt.datetime | None = None) -> tuple[Incident, bool]:
    """Promote an alert to an incident. Returns (incident, created).

    Once per alert, also when a person and the label rule do it at the same moment: the alert's row
    is locked, and the incident is idempotent on (alertmanager, alert:<fingerprint>:<starts_at>).
    The incident started, and was detected (by monitoring), when the alert started firing. Raises
    ValidationError when that time is in the future (a sender's clock far ahead of ours).
    """
    # Only the alert's row is locked (PostgreSQL can't lock the nullable side of the joins).
    locked = Alert.objects.select_for_update(of=("self",)).select_related("integration", "incident").get(pk=alert.pk)
    if locked.incident_id is not None:
        alert.incident = locked.incident
        return locked.incident, False
    annotations = locked.annotations if isinstance(locked.annotations, dict) else {}
    title = str(annotations.get("summary") or "").strip() or locked.name or f"Alert {locked.fingerprint}"
    incident, created = incident_create(
        data=IncidentInput(
            title=" ".join(title.split())[:TITLE_MAX],
            started_at=locked.starts_at,
            detected_at=locked.starts_at,
            services=_alert_services(locked),
            detected_by=Incident.DetectedBy.MONITORING,
            detection_source=f"Alertmanager alert {locked.name or locked.fingerprint}"[:DETECTION_SOURCE_MAX],
            summary=str(annotations.get("description") or ""),
            source=ALERTMANAGER_SOURCE,
            external_id=alert_external_id(locked),
        ),
        by=by,
        now=now,
    )
    locked.incident = incident
    locked.updated_at = now or timezone.now()
    locked.save(update_fields=["incident", "updated_at"])
    alert.incident = incident
    return incident, created


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
