"""Writes for post-mortems and their remediations. Every save keeps a revision."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import Incident
from plumbing.markdown import POSTMORTEM_SECTION_MAX_LENGTH
from postmortems.models import (
    ContributingFactor,
    PostMortem,
    PostMortemFactor,
    PostMortemRevision,
    Remediation,
    RemediationChange,
)
from postmortems.selectors import publish_checklist


class EditConflict(Exception):
    """Someone else saved the post-mortem since this edit began."""

    def __init__(self, current: PostMortem, submitted: dict):
        super().__init__(
            f"{current.updated_by or 'Someone'} saved this post-mortem (version {current.version}) after you "
            "started editing. Nothing of yours was saved: merge your changes into the current text and save again."
        )
        self.current = current
        self.submitted = submitted


class PublishNotConfirmed(Exception):
    """Publishing a post-mortem whose publish checklist has problems, without confirming it."""

    def __init__(self, problems: list):
        super().__init__(
            f"{len(problems)} point{'s' if len(problems) != 1 else ''} of the publish checklist "
            "to look at first; publish anyway only when confirmed."
        )
        self.problems = problems


POSTMORTEM_EDITABLE = PostMortem.SECTION_FIELDS + [
    "facilitator",
    "meeting_date",
    "no_action_needed",
    "no_action_reason",
    "no_cause_reason",
]


# Saved with the rest of the write-up (postmortem_save), but not a column: the contributing factors it
# names, as a list of {"factor": slug, "note": str} (the shape PostMortem.content() keeps).
FACTORS = "factors"
FACTOR_NOTE_MAX_LENGTH = PostMortemFactor._meta.get_field("note").max_length
# More than the taxonomy will ever hold: a bound on the work a request can ask for.
MAX_FACTORS = 50


def timeline_narrative(incident: Incident) -> str:
    """The incident's timeline as a Markdown list, a starting point for the write-up."""
    lines = []
    day = None
    for entry in incident.timeline.order_by("at", "id"):
        local = timezone.localtime(entry.at)
        if local.date() != day:
            day = local.date()
            lines.append(f"\n**{local:%A %d %B %Y}**\n")
        lines.append(f"- {local:%H:%M} — {_list_item_body(entry.text)}")
    return "\n".join(lines).strip()


def _list_item_body(text: str) -> str:
    """A note as the body of a "- " list item: every line after the first indented by two spaces
    (the item's content column), so a note's later paragraphs, code and lists stay inside its item
    and an unclosed code fence ends with it, instead of taking the entries after it out of the list."""
    first, *rest = (text or "").strip().splitlines() or [""]
    return "\n".join([first, *(f"  {line}" if line.strip() else "" for line in rest)])


def _save_version(locked: PostMortem, *, by, factors: list[tuple] | None = None) -> PostMortem:
    """Save the locked post-mortem as its next version, and keep that version's revision. `factors`,
    when given, replaces the factors it names: [(ContributingFactor, note)]."""
    now = timezone.now()
    locked.version += 1
    locked.updated_at = now
    locked.updated_by = by
    locked.save()
    if factors is not None:
        _replace_factors(locked, factors)
    _revision(locked, by, now)
    return locked


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
    locked = PostMortem.objects.select_for_update().get(pk=postmortem.pk)
    changed = _apply_edit(locked, changes, base_version)
    if not changed:
        return locked
    return _save_version(locked, by=by, factors=locked.pending_factors if FACTORS in changed else None)


def postmortem_save_check(*, postmortem: PostMortem, changes: dict, base_version: int) -> None:
    """Raise what postmortem_save would raise for this edit (EditConflict, ValidationError), saving
    nothing: for a form that validates before it saves (the admin's). Call it in the transaction
    that then saves: the row stays locked until then (PostgreSQL)."""
    _apply_edit(PostMortem.objects.select_for_update().get(pk=postmortem.pk), changes, base_version)


def _apply_edit(locked: PostMortem, changes: dict, base_version: int) -> set[str]:
    """Apply the edit to the locked post-mortem in memory, checked; the names of the fields it changed."""
    unknown = set(changes) - {*POSTMORTEM_EDITABLE, FACTORS}
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    if locked.version != base_version:
        raise EditConflict(locked, changes)
    changed = set()
    if FACTORS in changes:
        current = locked.factor_list()
        chosen = _checked_factors(changes[FACTORS], already={entry["factor"] for entry in current})
        if [{"factor": factor.slug, "note": note} for factor, note in chosen] != current:
            # Written by _save_version, after the row itself.
            locked.pending_factors = chosen
            changed.add(FACTORS)
    for name, value in changes.items():
        if name == FACTORS:
            continue
        if getattr(locked, name) != value:
            setattr(locked, name, value)
            changed.add(name)
    if not changed:
        return changed
    if locked.status == PostMortem.Status.PUBLISHED and "no_action_needed" in changed:
        # Unticking "no action needed" on a published write-up must leave it publishable.
        _check_publishable(locked)
    _check_content(locked)
    return changed


def _checked_factors(entries, *, already: set[str]) -> list[tuple[ContributingFactor, str]]:
    """The factors a save names, checked, in the taxonomy's order: [(factor, note)]. `entries` is a
    list of {"factor": slug, "note": str}; `already` the slugs the post-mortem names now (an archived
    factor stays on the post-mortems that named it, but isn't added to any other). Raises
    ValidationError under "factors" naming each problem. One query."""
    if (
        not isinstance(entries, list | tuple)
        or len(entries) > MAX_FACTORS
        or not all(isinstance(entry, dict) for entry in entries)
    ):
        raise ValidationError({FACTORS: [f"Give a list of at most {MAX_FACTORS} contributing factors."]})
    slugs = [str(entry.get("factor") or "") for entry in entries]
    found = {factor.slug: factor for factor in ContributingFactor.objects.filter(slug__in=set(slugs))}
    errors, seen, chosen = [], set(), []
    for slug, entry in zip(slugs, entries, strict=True):
        note = (entry.get("note") or "").strip()
        factor = found.get(slug)
        if factor is None:
            errors.append(f"No contributing factor “{slug[:60]}”.")
            continue
        if slug in seen:
            errors.append(f"“{factor.name}” is named twice: name each factor once.")
            continue
        seen.add(slug)
        if factor.is_archived and slug not in already:
            errors.append(f"“{factor.name}” is archived: it stays where it was named, but isn't added any more.")
        if len(note) > FACTOR_NOTE_MAX_LENGTH:
            errors.append(f"Keep the note on “{factor.name}” under {FACTOR_NOTE_MAX_LENGTH} characters.")
        elif any(ord(char) < 32 or ord(char) == 127 for char in note):
            errors.append(f"Write the note on “{factor.name}” as one line of text.")
        chosen.append((factor, note))
    if errors:
        raise ValidationError({FACTORS: errors})
    return sorted(chosen, key=lambda pair: (pair[0].position, pair[0].name.lower(), pair[0].slug))


def _replace_factors(postmortem: PostMortem, factors: list[tuple[ContributingFactor, str]]) -> None:
    postmortem.factor_links.all().delete()
    PostMortemFactor.objects.bulk_create(
        PostMortemFactor(postmortem=postmortem, factor=factor, note=note) for factor, note in factors
    )


MAX_SECTION_LENGTH = POSTMORTEM_SECTION_MAX_LENGTH


def _check_content(postmortem: PostMortem) -> None:
    """What any save must respect, whatever the status."""
    errors = {}
    for name in PostMortem.SECTION_FIELDS + ["no_action_reason", "no_cause_reason"]:
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
    *,
    postmortem: PostMortem,
    status: str,
    base_version: int | None = None,
    by=None,
    publish_anyway: bool | None = None,
) -> PostMortem:
    """Move through draft → in review → published (and back, to correct a published one).

    Publishing with `publish_anyway=False` (what the pages and the API pass unless the person
    confirmed) raises PublishNotConfirmed when selectors.publish_checklist finds anything, and
    nothing changes; True publishes over it; None (the admin, the demo, imports) doesn't ask."""
    if status not in PostMortem.Status.values:
        raise ValidationError({"status": [f"Unknown status {status!r}."]})
    locked = PostMortem.objects.select_for_update().get(pk=postmortem.pk)
    if base_version is not None and locked.version != base_version:
        raise EditConflict(locked, {"status": status})
    if locked.status == status:
        return locked
    if status == PostMortem.Status.PUBLISHED:
        _check_publishable(locked)
        if publish_anyway is False:
            # Checked on the locked row: what the person confirmed is what is published.
            problems = publish_checklist(locked)
            if problems:
                raise PublishNotConfirmed(problems)
        locked.published_at = timezone.now()
    locked.status = status
    return _save_version(locked, by=by)


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


def _remediation_values(remediation: Remediation) -> dict:
    # What the history shows and compares, as JSON: the owner by login, the due date as ISO.
    return {
        "description": remediation.description,
        "kind": remediation.kind,
        "owner": remediation.owner.get_username() if remediation.owner_id else None,
        "owner_name": remediation.owner_name,
        "due_date": remediation.due_date.isoformat() if remediation.due_date else None,
        "status": remediation.status,
        "wont_do_reason": remediation.wont_do_reason,
        "tracker_ref": remediation.tracker_ref,
    }


def _record_change(remediation: Remediation, kind: str, old: dict, new: dict, *, by, at) -> None:
    """One entry of the post-mortem's history for a change of its remediations (none when nothing changed)."""
    names = dict.fromkeys([*old, *new])
    changes = {name: {"old": old.get(name), "new": new.get(name)} for name in names if old.get(name) != new.get(name)}
    if not changes and kind == RemediationChange.Kind.EDITED:
        return
    RemediationChange.objects.create(
        postmortem_id=remediation.postmortem_id,
        remediation=remediation if remediation.pk else None,
        description=remediation.description,
        kind=kind,
        changes=changes,
        at=at,
        by=by if getattr(by, "pk", None) is not None and getattr(by, "is_authenticated", False) else None,
    )


@transaction.atomic
def remediation_create(*, postmortem: PostMortem, data: dict, by=None) -> Remediation:
    """Add a dev or ops remediation. `data` takes the fields in REMEDIATION_EDITABLE. The post-mortem's
    history records it."""
    now = timezone.now()
    remediation = Remediation(postmortem=postmortem, created_at=now)
    _apply_remediation(remediation, data, now)
    remediation.save()
    added = {name: value for name, value in _remediation_values(remediation).items() if value not in (None, "")}
    _record_change(remediation, RemediationChange.Kind.ADDED, {}, added, by=by, at=now)
    return remediation


def _locked_postmortem(pk: int) -> PostMortem:
    # Row lock on the post-mortem, taken before its remediation's: changes to its remediations,
    # publishing and deleting check the publish rule one after the other (PostgreSQL).
    return PostMortem.objects.select_for_update().get(pk=pk)


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

    The post-mortem's history records what changed (old → new). Raises ValidationError naming the
    fields, and then nothing is saved — also when it would leave
    a published post-mortem without a remediation that will be done (see _check_keeps_publish_rule).
    Raises Remediation.DoesNotExist when it was deleted meanwhile (the views answer 404).
    """
    locked, old_status, before, now = _apply_update(remediation, changes)
    locked.save()
    kind = RemediationChange.Kind.STATUS if locked.status != old_status else RemediationChange.Kind.EDITED
    _record_change(locked, kind, before, _remediation_values(locked), by=by, at=now)
    return locked


def remediation_update_check(*, remediation: Remediation, changes: dict) -> None:
    """Raise what remediation_update would raise for these changes, saving nothing: for a form that
    validates before it saves (the admin's). The rows stay locked until its transaction ends."""
    _apply_update(remediation, changes)


def remediation_create_check(*, postmortem: PostMortem, data: dict) -> None:
    """Raise what remediation_create would raise for this data, saving nothing."""
    _apply_remediation(Remediation(postmortem=postmortem, created_at=timezone.now()), data, timezone.now())


def _apply_update(remediation: Remediation, changes: dict):
    """The remediation, locked with its post-mortem, with the changes applied and checked in memory;
    with its status and values before, and the time of the change, for the history."""
    postmortem = _locked_postmortem(remediation.postmortem_id)
    locked = Remediation.objects.select_for_update().get(pk=remediation.pk)
    old_status = locked.status
    before = _remediation_values(locked)
    now = timezone.now()
    _apply_remediation(locked, changes, now)
    if locked.status == Remediation.Status.WONT_DO and old_status != Remediation.Status.WONT_DO:
        _check_keeps_publish_rule(postmortem, dropping=locked)
    return locked, old_status, before, now


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
    Remediation.DoesNotExist when it was deleted meanwhile (the views answer 404)."""
    postmortem = _locked_postmortem(remediation.postmortem_id)
    locked = Remediation.objects.select_for_update().get(pk=remediation.pk)
    refusal = remediation_delete_refusal(remediation=locked, postmortem=postmortem)
    if refusal is not None:
        raise ValidationError({"remediation": [refusal]})
    _record_change(locked, RemediationChange.Kind.DELETED, _remediation_values(locked), {}, by=by, at=timezone.now())
    locked.delete()


FACTOR_EDITABLE = ["slug", "name", "description", "position"]


@transaction.atomic
def factor_save(*, factor: ContributingFactor | None = None, data: dict) -> ContributingFactor:
    """Add a contributing factor (`factor` None) or change one. `data` takes FACTOR_EDITABLE; a factor's
    slug is kept once made (revisions and links name it). Raises ValidationError naming the fields:
    a slug or name (in any case) that another factor has, a blank name."""
    unknown = set(data) - set(FACTOR_EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    if factor is not None and "slug" in data and data["slug"] != factor.slug:
        raise ValidationError({"slug": ["A factor's slug stays as it was made: revisions and links name it."]})
    factor = factor if factor is not None else ContributingFactor()
    for name, value in data.items():
        setattr(factor, name, value.strip() if isinstance(value, str) else value)
    name_error = factor_name_taken(name=factor.name, factor=factor)
    if name_error:
        raise ValidationError({"name": [name_error]})
    factor.full_clean(exclude=["archived_at", "created_at"])
    try:
        with transaction.atomic():
            factor.save()
    except IntegrityError:
        # Another save took the slug or the name in between.
        raise ValidationError({"name": ["Another contributing factor has this slug or name."]}) from None
    return factor


def factor_name_taken(*, name: str, factor: ContributingFactor | None = None) -> str | None:
    """Why `name` can't be this factor's (another has it, in any case), or None."""
    other = ContributingFactor.objects.filter(name__iexact=name.strip())
    if factor is not None and factor.pk:
        other = other.exclude(pk=factor.pk)
    other = other.first()
    return f"“{other.name}” ({other.slug}) already has this name." if other else None


def factor_delete_refusal(*, factor: ContributingFactor) -> str | None:
    """Why the contributing factor can't be deleted (post-mortems name it), or None when it can."""
    used = factor.postmortem_links.count()
    if not used:
        return None
    return (
        f"“{factor.name}” is named by {used} post-mortem{'s' if used != 1 else ''}, so it can't be deleted: "
        "archive it instead (it stays on those post-mortems and in past insights, but isn't offered any more)."
    )


@transaction.atomic
def factor_delete(*, factor: ContributingFactor) -> None:
    """Delete a contributing factor no post-mortem names. Raises ValidationError saying why not."""
    locked = ContributingFactor.objects.select_for_update().get(pk=factor.pk)
    refusal = factor_delete_refusal(factor=locked)
    if refusal is not None:
        raise ValidationError({"factor": [refusal]})
    locked.delete()


def factor_archive(*, factor: ContributingFactor) -> bool:
    """Stop offering the factor; it stays on the post-mortems that name it. False if it already was."""
    return bool(
        ContributingFactor.objects.filter(pk=factor.pk, archived_at__isnull=True).update(archived_at=timezone.now())
    )


def factor_restore(*, factor: ContributingFactor) -> bool:
    """Offer an archived factor again. False if it wasn't archived."""
    return bool(ContributingFactor.objects.filter(pk=factor.pk, archived_at__isnull=False).update(archived_at=None))
