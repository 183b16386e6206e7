"""Writes for remediations in trackers: ask for an issue, create it (the task's one attempt), link
an existing one, and take a status change back from a tracker's webhook."""

import datetime as dt
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from incidents.models import TimelineEntry, entries_from
from incidents.services import incident_add_note
from integrations.models import TrackerConnection, TrackerLink
from integrations.trackers.client import Issue, TrackerError, client_for
from plumbing.queueing import publish
from postmortems.models import Remediation, RemediationChange
from postmortems.services import remediation_update

logger = logging.getLogger(__name__)

TITLE_MAX = 200  # GitHub takes 256, Jira's summary 255


def marker(remediation_id: int) -> str:
    """Put in every issue Opslog creates (body, and a Jira label): a retry after a lost answer
    searches for it before creating, so one remediation never gets two issues."""
    return f"opslog-remediation-{remediation_id}"


def issue_title(remediation: Remediation) -> str:
    first = next((line.strip() for line in remediation.description.splitlines() if line.strip()), "")
    title = first or f"Remediation {remediation.pk}"
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


def issue_body(remediation: Remediation) -> str:
    postmortem = remediation.postmortem
    incident = postmortem.incident
    path = reverse("postmortems:detail", args=[incident.pk]) + f"#remediation-{remediation.pk}"
    link = f"{settings.OPSLOG_BASE_URL.rstrip('/')}{path}" if settings.OPSLOG_BASE_URL else path
    lines = [
        remediation.description.strip(),
        "",
        f"A {remediation.get_kind_display().lower()} remediation from the post-mortem of incident "
        f"#{incident.pk} ({incident.title}).",
    ]
    if remediation.owner_display:
        lines.append(f"Owner: {remediation.owner_display}")
    if remediation.due_date:
        lines.append(f"Due: {remediation.due_date.isoformat()}")
    lines += ["", link, "", f"Opslog keeps this in step with the remediation. {marker(remediation.pk)}"]
    return "\n".join(lines)


def issue_labels(connection: TrackerConnection, remediation: Remediation) -> list[str]:
    labels = [*connection.label_list, remediation.kind]
    if connection.kind == TrackerConnection.Kind.JIRA:
        labels.append(marker(remediation.pk))
    return list(dict.fromkeys(labels))


def _sync_ref(remediation_id: int, link: TrackerLink) -> None:
    # The plain reference the pages, API and export already show. A GitHub issue's address when it
    # fits the field, else owner/repo#123.
    if link.connection.kind == TrackerConnection.Kind.JIRA:
        ref = link.issue_key
    else:
        ref = link.url if link.url and len(link.url) <= 100 else f"{link.connection.repository}#{link.issue_key}"[:100]
    remediation = (
        Remediation.objects.filter(pk=remediation_id).only("postmortem_id", "description", "tracker_ref").first()
    )
    if remediation is None or remediation.tracker_ref == ref:
        return
    Remediation.objects.filter(pk=remediation_id).update(tracker_ref=ref)
    # In the post-mortem's history like an edit on the page, by nobody (the tracker answered).
    RemediationChange.objects.create(
        postmortem_id=remediation.postmortem_id,
        remediation_id=remediation_id,
        description=remediation.description,
        kind=RemediationChange.Kind.EDITED,
        changes={"tracker_ref": {"old": remediation.tracker_ref, "new": ref}},
    )


def active_connections():
    return TrackerConnection.objects.filter(is_active=True)


def tracker_issue_request(*, remediation: Remediation, connection: TrackerConnection) -> tuple[TrackerLink, bool]:
    """Ask for the remediation's issue. Returns (link, created): a second click (even at the same
    moment) finds the first link and creates nothing — the one-to-one decides. A link that failed
    is tried again from the start."""
    if not connection.is_active:
        raise ValidationError({"connection": ["That tracker connection is turned off."]})
    try:
        with transaction.atomic():
            link = TrackerLink.objects.create(remediation=remediation, connection=connection)
    except IntegrityError:
        link = TrackerLink.objects.select_related("connection").get(remediation=remediation)
        if link.state != TrackerLink.State.FAILED:
            return link, False
        # A failed link keeps its attempts: the retry searches for the marker before creating.
        TrackerLink.objects.filter(pk=link.pk, state=TrackerLink.State.FAILED).update(
            state=TrackerLink.State.PENDING, connection=connection, last_error="", updated_at=timezone.now()
        )
        link.refresh_from_db()
    transaction.on_commit(lambda: tracker_create_queue(link.pk))
    return link, True


def tracker_create_queue(link_id: int) -> None:
    from integrations import tasks

    publish(tasks.tracker_create_issue, link_id)


def tracker_requeue_stale(*, older_than) -> int:
    """Queue again the links still pending with nothing tried for `older_than`. Running an attempt
    twice is safe (the row is locked; a link already linked is left alone)."""
    stale = list(
        TrackerLink.objects.filter(state=TrackerLink.State.PENDING, updated_at__lt=timezone.now() - older_than)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:500]
    )
    for link_id in stale:
        tracker_create_queue(link_id)
    return len(stale)


@dataclass(frozen=True)
class Attempt:
    done: bool
    retry: bool = False
    retry_after: float | None = None
    message: str = ""


def tracker_create_attempt(*, link_id: int, last_chance: bool) -> Attempt:
    """One attempt at creating the link's issue. The link's row is locked throughout, so two tasks
    for it take turns; one already linked is left alone. After an earlier attempt (whose answer may
    have been lost) the tracker is searched for the marker first. `last_chance`: a retryable
    failure marks the link failed instead of leaving it pending."""
    with transaction.atomic():
        link = (
            TrackerLink.objects.select_for_update(of=("self",))
            .select_related("connection", "remediation__postmortem__incident", "remediation__owner")
            .filter(pk=link_id)
            .first()
        )
        if link is None or link.state != TrackerLink.State.PENDING:
            return Attempt(done=True)
        connection, remediation = link.connection, link.remediation
        if connection.is_demo:
            return _fail(link, "This is a demo connection: Opslog doesn't call it.")
        link.attempts += 1
        try:
            client = client_for(connection)
            since = link.created_at - dt.timedelta(minutes=5)  # a little clock skew
            issue = client.find_marker(marker(remediation.pk), since=since) if link.attempts > 1 else None
            if issue is None:
                issue = client.create_issue(
                    title=issue_title(remediation),
                    body=issue_body(remediation),
                    labels=issue_labels(connection, remediation),
                )
        except TrackerError as exc:
            if exc.retryable and not last_chance:
                link.last_error = f"{exc.message}; trying again."
                link.updated_at = timezone.now()
                link.save(update_fields=["attempts", "last_error", "updated_at"])
                return Attempt(done=False, retry=True, retry_after=exc.retry_after, message=exc.message)
            if exc.retryable:
                return _fail(link, f"{exc.message}; gave up after {link.attempts} attempts. Try again later.")
            return _fail(link, exc.message)
        _linked(link, issue)
        return Attempt(done=True)


def _fail(link: TrackerLink, message: str) -> Attempt:
    link.state, link.last_error, link.updated_at = TrackerLink.State.FAILED, message, timezone.now()
    link.save(update_fields=["state", "last_error", "attempts", "updated_at"])
    return Attempt(done=True, message=message)


def _safe_url(url: str) -> str:
    # Shown as a link on the page: only a web address that fits the field, whatever a tracker (or
    # something posing as one) answered.
    return url if url.lower().startswith(("https://", "http://")) and len(url) <= 500 and url.isprintable() else ""


def _linked(link: TrackerLink, issue: Issue) -> None:
    now = timezone.now()
    url = _safe_url(issue.url)
    link.state, link.issue_key, link.url, link.last_error = TrackerLink.State.LINKED, issue.key[:100], url, ""
    link.linked_at = link.updated_at = now
    link.save()
    _sync_ref(link.remediation_id, link)


GITHUB_REF = re.compile(r"#?(\d{1,9})")
JIRA_REF = re.compile(r"([A-Za-z][A-Za-z0-9_]{0,19})-(\d{1,9})")


def parse_issue_ref(connection: TrackerConnection, ref: str) -> str:
    """The issue key in `ref` (GitHub: #123, 123 or the issue's address; Jira: OPS-12 or its
    /browse/ address) for this connection's repository or project. Raises ValidationError."""
    ref = (ref or "").strip()
    if len(ref) > 500:
        raise ValidationError({"ref": ["That is too long for an issue reference."]})
    if connection.kind == TrackerConnection.Kind.GITHUB:
        found = GITHUB_REF.fullmatch(ref)
        if found:
            return found.group(1)
        parts = urlsplit(ref)
        path = parts.path.strip("/").split("/")
        if parts.scheme in ("http", "https") and len(path) == 4 and path[2] == "issues" and path[3].isdigit():
            if f"{path[0]}/{path[1]}".lower() != connection.repository.lower():
                raise ValidationError({"ref": [f"That issue is in {path[0]}/{path[1]}, not {connection.repository}."]})
            return path[3]
        raise ValidationError({"ref": ["Give the issue as #123 or its GitHub address."]})
    candidate = ref
    parts = urlsplit(ref)
    if parts.scheme in ("http", "https"):
        path = parts.path.strip("/").split("/")
        if len(path) < 2 or path[-2] != "browse":
            raise ValidationError({"ref": ["Give the issue as OPS-12 or its /browse/OPS-12 address."]})
        candidate = path[-1]
    found = JIRA_REF.fullmatch(candidate)
    if not found:
        raise ValidationError({"ref": [f"Give the issue as {connection.project_key}-12 or its address."]})
    if found.group(1).upper() != connection.project_key.upper():
        raise ValidationError(
            {"ref": [f"That issue is in project {found.group(1).upper()}, not {connection.project_key}."]}
        )
    return f"{found.group(1).upper()}-{found.group(2)}"


def tracker_link_existing(*, remediation: Remediation, connection: TrackerConnection, ref: str) -> TrackerLink:
    """Link an issue that already exists, after asking the tracker that it does (its address and
    canonical key come from there). Raises ValidationError with a per-field message; a remediation
    already linked (or being linked) is refused."""
    key = parse_issue_ref(connection, ref)
    if TrackerLink.objects.filter(remediation=remediation).exclude(state=TrackerLink.State.FAILED).exists():
        raise ValidationError({"ref": ["This remediation already has an issue."]})
    if connection.is_demo:
        raise ValidationError({"ref": ["This is a demo connection: Opslog doesn't call it."]})
    # One remediation per issue: the issue's webhook changes the one remediation it finds.
    taken = TrackerLink.objects.filter(connection=connection, issue_key__iexact=key, state=TrackerLink.State.LINKED)
    other = taken.exclude(remediation=remediation).values_list("remediation_id", flat=True).first()
    if other is not None:
        raise ValidationError({"ref": [f"That issue is already linked to remediation {other}."]})
    try:
        issue = client_for(connection).get_issue(key)
    except TrackerError as exc:
        raise ValidationError({"ref": [exc.message]}) from None
    with transaction.atomic():
        link, _ = TrackerLink.objects.select_for_update().get_or_create(
            remediation=remediation, defaults={"connection": connection}
        )
        if link.state == TrackerLink.State.LINKED:
            raise ValidationError({"ref": ["This remediation already has an issue."]})
        link.connection = connection
        _linked(link, issue)
    return link


# --- status back from the tracker ------------------------------------------------------------------


def tracker_issue_status(*, connection: TrackerConnection, issue_key: str, done: bool, words: str) -> str:
    """The linked issue was closed (done) or reopened: the remediation follows, with an entry on
    the incident's timeline (source "tracker") and one in the post-mortem's history. Returns what
    happened, in one line. A remediation won't do stays so; one already there is left alone."""
    link = (
        TrackerLink.objects.select_related("remediation__postmortem__incident")
        .filter(connection=connection, issue_key=issue_key, state=TrackerLink.State.LINKED)
        .first()
    )
    if link is None:
        return f"no remediation is linked to {issue_key}: ignored"
    remediation = link.remediation
    if done and remediation.is_open:
        new, verb = Remediation.Status.DONE, "done"
    elif not done and remediation.status == Remediation.Status.DONE:
        new, verb = Remediation.Status.OPEN, "open again"
    else:
        return f"remediation {remediation.pk} is already {remediation.get_status_display().lower()}: nothing to do"
    with transaction.atomic(), entries_from(TimelineEntry.Source.TRACKER):
        remediation_update(remediation=remediation, changes={"status": new})
        incident_add_note(
            incident=remediation.postmortem.incident,
            text=f"Remediation {remediation.pk} ({issue_title(remediation)}) is {verb}: "
            f"{connection.get_kind_display()} {link.display_key} was {words}.",
        )
    return f"remediation {remediation.pk} is {verb}"
