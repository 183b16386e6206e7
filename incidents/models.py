import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone
from taggit.managers import TaggableManager
from taggit.models import TaggedItemBase

from deploys.models import Deploy, Service
from incidents.querysets import IncidentQuerySet
from plumbing.markdown import INCIDENT_SUMMARY_MAX_LENGTH, StoredMarkdown, max_length_validator

# The lifecycle in order; each present timestamp must be at or after every earlier present one.
LIFECYCLE = ["started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at"]
LIFECYCLE_LABELS = {
    "started_at": "started",
    "detected_at": "detected",
    "acknowledged_at": "acknowledged",
    "mitigated_at": "mitigated",
    "resolved_at": "resolved",
}
# Senders' clocks drift; a stamp this far ahead of ours is still "now".
CLOCK_SKEW = dt.timedelta(minutes=1)


class Incident(StoredMarkdown, models.Model):
    """Something that hurt users. Its status is derived from its timestamps, never stored."""

    class Severity(models.IntegerChoices):
        SEV1 = 1, "SEV1 · critical"
        SEV2 = 2, "SEV2 · major"
        SEV3 = 3, "SEV3 · moderate"
        SEV4 = 4, "SEV4 · minor"

    SEVERITY_DESCRIPTIONS = {
        1: "The product is down or data is at risk for many users.",
        2: "A core feature is broken or badly degraded for many users.",
        3: "A feature is degraded for some users; there is a workaround.",
        4: "Little user impact: cosmetic, internal, or a near miss.",
    }

    class DetectedBy(models.TextChoices):
        MONITORING = "monitoring", "Monitoring alert"
        CUSTOMER = "customer", "Customer report"
        STAFF = "staff", "Staff"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        MITIGATED = "mitigated", "Mitigated"
        RESOLVED = "resolved", "Resolved"

    class Role(models.TextChoices):
        """The people running the response. Each is a name (text, as typed), or empty."""

        LEAD = "lead", "Incident lead"
        COMMS = "comms", "Communications lead"
        SCRIBE = "scribe", "Scribe"

    # Each role's column. The lead keeps the column it always had (`commander`), so the API's and
    # the exports' `commander` still means the same person.
    ROLE_FIELDS = {Role.LEAD: "commander", Role.COMMS: "comms_lead", Role.SCRIBE: "scribe"}

    title = models.CharField(max_length=200)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.SEV3)
    services = models.ManyToManyField(Service, related_name="incidents", blank=True)
    tags = TaggableManager(through="TaggedIncident", blank=True, help_text="Free-form labels, e.g. dns, black-friday.")
    started_at = models.DateTimeField(help_text="When the impact began.")
    detected_at = models.DateTimeField(null=True, blank=True, help_text="When we knew.")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    detected_by = models.CharField(max_length=20, choices=DetectedBy.choices, default=DetectedBy.MONITORING)
    detection_source = models.CharField(
        max_length=200, blank=True, help_text="The alert's name, the customer ticket, who noticed…"
    )
    summary = models.TextField(
        blank=True,
        help_text="What is happening, in Markdown.",
        validators=[max_length_validator(INCIDENT_SUMMARY_MAX_LENGTH)],
    )
    summary_html = models.TextField(blank=True, editable=False, help_text="The summary rendered and sanitized.")
    commander = models.CharField(
        "incident lead",
        max_length=200,
        blank=True,
        help_text="The incident commander: leads the response and makes the calls.",
    )
    comms_lead = models.CharField(
        "communications lead",
        max_length=200,
        blank=True,
        help_text="Keeps customers, support and the company informed.",
    )
    scribe = models.CharField(max_length=200, blank=True, help_text="Keeps the timeline.")
    participants = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=50, blank=True, help_text="Who filed it: a tool's name, or empty.")
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The source's idempotency key, unique per source."
    )
    # The new-incident form's idempotency key, made when the form is shown: submitting the same
    # form again (Back, then submit) finds this incident instead of filing a twin. Unique; NULLs
    # (incidents filed otherwise) don't clash on SQLite or PostgreSQL.
    filing_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deploys = models.ManyToManyField(Deploy, through="IncidentDeploy", related_name="incidents", blank=True)
    # Archived, never deleted: hidden from the lists and left out of the numbers (an incident filed
    # by mistake or twice must not distort MTTR), still at its address, restorable. Its post-mortem
    # goes with it. Set and cleared only by services.incident_archive / incident_unarchive.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    archive_reason = models.CharField(
        max_length=500, blank=True, editable=False, help_text="Why it was archived, e.g. “duplicate of #12”."
    )

    objects = IncidentQuerySet.as_manager()

    MARKDOWN_FIELDS = {"summary": "summary_html"}

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~models.Q(external_id=""),
                name="incident_unique_external_id_per_source",
            ),
            models.CheckConstraint(condition=models.Q(severity__in=[1, 2, 3, 4]), name="incident_severity_valid"),
        ]
        indexes = [
            # The incident list (newest first) and month bucketing by started_at.
            models.Index(fields=["-started_at", "-id"], name="incident_started_idx"),
            # "Unresolved" filters and the open-first ordering.
            models.Index(fields=["resolved_at"], name="incident_resolved_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:detail", args=[self.pk])

    @property
    def roles(self) -> dict[str, str]:
        """Each role's current holder ("" when nobody holds it), keyed by Role value."""
        return {role.value: getattr(self, name) for role, name in self.ROLE_FIELDS.items()}

    @property
    def role_holders(self) -> list[tuple[str, str, str]]:
        """(role, label, holder) for each role in order: what the incident page's top shows."""
        return [(role.value, role.label, getattr(self, name)) for role, name in self.ROLE_FIELDS.items()]

    @property
    def tag_names(self) -> list[str]:
        """Its tags' names, sorted without regard to case; from prefetch_related("tags") when given."""
        return sorted((tag.name for tag in self.tags.all()), key=lambda name: (name.casefold(), name))

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def status(self) -> str:
        if self.resolved_at:
            return self.Status.RESOLVED
        if self.mitigated_at:
            return self.Status.MITIGATED
        if self.acknowledged_at:
            return self.Status.ACKNOWLEDGED
        return self.Status.OPEN

    def get_status_display(self) -> str:
        return self.Status(self.status).label

    @property
    def severity_description(self) -> str:
        return self.SEVERITY_DESCRIPTIONS[self.severity]

    @staticmethod
    def _seconds(start, end) -> float | None:
        if start is None or end is None:
            return None
        return (end - start).total_seconds()

    @property
    def time_to_detect_seconds(self) -> float | None:
        return self._seconds(self.started_at, self.detected_at)

    @property
    def time_to_repair_seconds(self) -> float | None:
        """From detection to resolution: the glossary's MTTR."""
        return self._seconds(self.detected_at, self.resolved_at)

    @property
    def time_to_restore_seconds(self) -> float | None:
        """The impact's whole length: started to resolved."""
        return self._seconds(self.started_at, self.resolved_at)

    def clean(self):
        super().clean()
        validate_lifecycle({name: getattr(self, name) for name in LIFECYCLE})


def validate_lifecycle(values: dict, *, now: dt.datetime | None = None) -> None:
    """Raise a ValidationError naming each timestamp that is out of order or in the future."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    present = [(name, values.get(name)) for name in LIFECYCLE if values.get(name) is not None]
    for index, (name, value) in enumerate(present):
        if value > now + CLOCK_SKEW:
            errors.setdefault(name, []).append(f"{LIFECYCLE_LABELS[name].capitalize()} time can't be in the future.")
        for earlier_name, earlier_value in present[:index]:
            if value < earlier_value:
                errors.setdefault(name, []).append(
                    f"{LIFECYCLE_LABELS[name].capitalize()} time can't be before the "
                    f"{LIFECYCLE_LABELS[earlier_name]} time ({earlier_name} ≤ {name})."
                )
                break
    if values.get("started_at") is None:
        errors.setdefault("started_at", []).append("When did the impact start?")
    if errors:
        raise ValidationError(errors)


class IncidentDeploy(models.Model):
    """A deploy that caused an incident, or one made to fix it (rollback, hotfix)."""

    class Relation(models.TextChoices):
        CAUSE = "cause", "Caused it"
        REMEDIATION = "remediation", "Remediated it"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="deploy_links")
    deploy = models.ForeignKey(Deploy, on_delete=models.PROTECT, related_name="incident_links")
    relation = models.CharField(max_length=20, choices=Relation.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "deploy", "relation"], name="incidentdeploy_unique_link"),
        ]
        indexes = [
            # The deploy page's "incidents it caused or fixed", and change failure rate per deploy.
            models.Index(fields=["deploy", "relation"], name="incidentdeploy_deploy_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.deploy} {self.get_relation_display().lower()} {self.incident}"


# Where the timeline entries made now come from (the web page, the API, Slack…). Set around a
# whole request or task by entries_from(), and read by TimelineEntry's default, so no service
# needs a `source` parameter threaded through it: every entry made inside is marked.
_entry_source: contextvars.ContextVar[str] = contextvars.ContextVar("timeline_entry_source", default="")


def current_entry_source() -> str:
    """The source new timeline entries take: the innermost entries_from(), else "" (not recorded)."""
    return _entry_source.get()


@contextlib.contextmanager
def entries_from(source: str) -> Iterator[None]:
    """Mark every timeline entry made inside with `source` (a TimelineEntry.Source value);
    nested, the innermost wins. Raises ValueError for an unknown source."""
    if source not in TimelineEntry.Source.values:
        raise ValueError(f"unknown timeline entry source {source!r}")
    token = _entry_source.set(source)
    try:
        yield
    finally:
        _entry_source.reset(token)


class TimelineEntry(StoredMarkdown, models.Model):
    """One thing that happened during an incident. Entries are only ever added, never rewritten."""

    class Kind(models.TextChoices):
        NOTE = "note", "Note"
        STATUS = "status", "Status change"
        EDIT = "edit", "Field edited"
        DEPLOY_LINKED = "deploy_linked", "Deploy linked"
        DEPLOY_UNLINKED = "deploy_unlinked", "Deploy unlinked"
        IMPORTED = "imported", "Imported"
        ARCHIVED = "archived", "Archived"
        RESTORED = "restored", "Restored"
        HANDOVER = "handover", "Role handover"

    class Source(models.TextChoices):
        """Where an entry was made. "" for entries made before sources were recorded, and by
        management commands, the admin's imports and scheduled tasks."""

        UNRECORDED = "", "Not recorded"
        WEB = "web", "Web page"
        API = "api", "API"
        SLACK = "slack", "Slack"
        MATTERMOST = "mattermost", "Mattermost"
        HOOK = "hook", "Webhook"
        TRACKER = "tracker", "Issue tracker"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now, help_text="When it happened.")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.TextField()
    text_html = models.TextField(blank=True, editable=False, help_text="A note's text rendered and sanitized.")
    changes = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"field": {"old": …, "new": …}} for edits, status changes and role handovers.',
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(
        max_length=20,
        choices=Source.choices,
        blank=True,
        default=current_entry_source,
        help_text="Where it was made: the web page, the API, Slack…; empty when not recorded.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "timeline entries"
        indexes = [
            # An incident's timeline in order.
            models.Index(fields=["incident", "at", "id"], name="timeline_incident_at_idx"),
        ]

    MARKDOWN_FIELDS = {"text": "text_html"}
    MARKDOWN_ROWS = {"kind": "note"}

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()}: {self.text[:60]}"

    @property
    def via(self) -> str:
        """ "Slack", "API"… for the page's "via …" marker; "" for the web page and the unrecorded."""
        return "" if self.source in ("", self.Source.WEB) else self.get_source_display()

    def markdown_text(self, field: str) -> str:
        # Only notes are Markdown; the other entries are shown as plain text.
        return self.text if self.kind == self.Kind.NOTE else ""


class TaggedIncident(TaggedItemBase):
    """One tag on one incident: a real foreign key (not taggit's generic one), so tag filters are
    plain joins and deleting an incident takes its tags with it."""

    content_object = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="tagged_items")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["content_object", "tag"], name="taggedincident_unique_tag"),
        ]
