import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident
from plumbing.markdown import StoredMarkdown


class PostMortemQuerySet(models.QuerySet):
    def naming_factors(self, factors):
        """Post-mortems naming any of `factors` (ContributingFactor rows or slugs), each once."""
        factors = list(factors)
        links = PostMortemFactor.objects.filter(postmortem=OuterRef("pk"))
        if all(isinstance(factor, str) for factor in factors):
            links = links.filter(factor__slug__in=factors)
        else:
            links = links.filter(factor__in=factors)
        return self.filter(Exists(links))


class PostMortem(StoredMarkdown, models.Model):
    """The blameless write-up of one incident. Every save keeps a revision; `version` guards
    against one person's save silently overwriting another's."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        PUBLISHED = "published", "Published"

    # (field, heading, prompt): the write-up's sections in order, after the Google SRE book's
    # template, PagerDuty's and Etsy's morgue.
    SECTIONS = [
        ("summary", "Summary", "What happened, in a few sentences."),
        ("impact", "Impact", "Who was hurt, and how much? Users, orders, revenue, duration."),
        ("timeline_narrative", "Timeline", "What happened when. Prefilled from the incident's timeline."),
        ("detection", "Detection", "How was it found, and why not sooner?"),
        (
            "contributing_factors",
            "Contributing factors",
            "The conditions that let it happen — there is rarely one root cause.",
        ),
        ("went_well", "What went well", ""),
        ("went_poorly", "What went poorly", ""),
        ("got_lucky", "Where we got lucky", ""),
        ("surprised", "Why were we surprised?", "What did we believe about the system that turned out not to be true?"),
    ]
    SECTION_FIELDS = [name for name, _, _ in SECTIONS]
    MARKDOWN_FIELDS = {name: f"{name}_html" for name in SECTION_FIELDS}

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    facilitator = models.CharField(max_length=200, blank=True)
    meeting_date = models.DateField(null=True, blank=True)
    summary = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    timeline_narrative = models.TextField(blank=True)
    detection = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    went_well = models.TextField(blank=True)
    went_poorly = models.TextField(blank=True)
    got_lucky = models.TextField(blank=True)
    surprised = models.TextField(blank=True)
    summary_html = models.TextField(blank=True, editable=False)
    impact_html = models.TextField(blank=True, editable=False)
    timeline_narrative_html = models.TextField(blank=True, editable=False)
    detection_html = models.TextField(blank=True, editable=False)
    contributing_factors_html = models.TextField(blank=True, editable=False)
    went_well_html = models.TextField(blank=True, editable=False)
    went_poorly_html = models.TextField(blank=True, editable=False)
    got_lucky_html = models.TextField(blank=True, editable=False)
    surprised_html = models.TextField(blank=True, editable=False)
    factors = models.ManyToManyField(
        "ContributingFactor", through="PostMortemFactor", related_name="postmortems", blank=True
    )
    no_action_needed = models.BooleanField(
        default=False, help_text="Publish without remediations; say why in the reason."
    )
    no_action_reason = models.TextField(blank=True)
    no_cause_reason = models.TextField(
        blank=True, help_text="Why no deploy is linked as the cause (the publish checklist asks for one or the other)."
    )
    version = models.PositiveIntegerField(default=1, help_text="Goes up by one with every save.")
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = PostMortemQuerySet.as_manager()

    class Meta:
        # Made in the incidents app, whose table it keeps (moved by state only).
        db_table = "incidents_postmortem"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Post-mortem of {self.incident}"

    def get_absolute_url(self) -> str:
        return reverse("postmortems:detail", args=[self.incident_id])

    def content(self) -> dict:
        """What a revision keeps: every field a person writes."""
        data = {name: getattr(self, name) for name in self.SECTION_FIELDS}
        data.update(
            status=self.status,
            facilitator=self.facilitator,
            meeting_date=self.meeting_date.isoformat() if self.meeting_date else None,
            no_action_needed=self.no_action_needed,
            no_action_reason=self.no_action_reason,
            no_cause_reason=self.no_cause_reason,
            factors=self.factor_list(),
        )
        return data

    def factor_list(self) -> list[dict]:
        """The contributing factors it names, as revisions and the API keep them: `{"factor": slug,
        "note": note}` in the taxonomy's order. Uses prefetched `factor_links__factor` when there."""
        return [{"factor": link.factor.slug, "note": link.note} for link in self.ordered_factor_links()]

    def ordered_factor_links(self) -> list:
        links = self.factor_links.all()
        if "factor_links" not in getattr(self, "_prefetched_objects_cache", {}):
            links = links.select_related("factor")
        # Sorted here, not by the query: a prefetch may come in any order.
        return sorted(links, key=lambda link: (link.factor.position, link.factor.name.lower(), link.factor.slug))


class PostMortemRevision(models.Model):
    """The post-mortem as it was after one save. Never changed after it is written."""

    postmortem = models.ForeignKey(PostMortem, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    content = models.JSONField()
    saved_at = models.DateTimeField(default=timezone.now)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        # Made in the incidents app, whose table it keeps (moved by state only).
        db_table = "incidents_postmortemrevision"
        ordering = ["postmortem", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["postmortem", "version"], name="postmortemrevision_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.postmortem} v{self.version}"


class Remediation(models.Model):
    """A follow-up action from a post-mortem, for dev or for ops, tracked to done."""

    class Kind(models.TextChoices):
        DEV = "dev", "Dev"
        OPS = "ops", "Ops"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        WONT_DO = "wont_do", "Won't do"

    postmortem = models.ForeignKey(PostMortem, on_delete=models.CASCADE, related_name="remediations")
    description = models.TextField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="remediations",
        help_text="A user (gets reminder emails)…",
    )
    owner_name = models.CharField(max_length=200, blank=True, help_text="…or just a name.")
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    wont_do_reason = models.TextField(blank=True)
    tracker_ref = models.CharField(max_length=100, blank=True, help_text="e.g. OPS-123")
    completed_at = models.DateTimeField(null=True, blank=True, help_text="When it was marked done.")
    last_reminded_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Made in the incidents app, whose table it keeps (moved by state only).
        db_table = "incidents_remediation"
        ordering = ["due_date", "id"]
        indexes = [
            # The follow-through list (open ones, overdue first) and the daily reminders.
            models.Index(fields=["status", "due_date"], name="remediation_status_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="wont_do") | ~models.Q(wont_do_reason=""),
                name="remediation_wont_do_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.description[:60]}"

    @property
    def owner_display(self) -> str:
        if self.owner_id:
            return self.owner.get_full_name() or self.owner.get_username()
        return self.owner_name

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.OPEN, self.Status.IN_PROGRESS)

    def is_overdue(self, today: dt.date | None = None) -> bool:
        today = today or timezone.localdate()
        return self.is_open and self.due_date is not None and self.due_date < today

    @property
    def done_on_time(self) -> bool | None:
        """None unless done with a due date."""
        if self.status != self.Status.DONE or self.due_date is None or self.completed_at is None:
            return None
        return timezone.localtime(self.completed_at).date() <= self.due_date

    def clean(self):
        super().clean()
        errors = {}
        if self.status == self.Status.WONT_DO and not self.wont_do_reason.strip():
            errors["wont_do_reason"] = ["Say why it won't be done."]
        if not self.description.strip():
            errors["description"] = ["Describe what is to be done."]
        if errors:
            raise ValidationError(errors)


class RemediationChange(models.Model):
    """One change to a post-mortem's remediations (added, edited, its status changed, deleted), shown
    in the post-mortem's history beside its revisions. Only ever added, like an incident's timeline."""

    class Kind(models.TextChoices):
        ADDED = "added", "Remediation added"
        EDITED = "edited", "Remediation edited"
        STATUS = "status", "Remediation status changed"
        DELETED = "deleted", "Remediation deleted"

    postmortem = models.ForeignKey(PostMortem, on_delete=models.CASCADE, related_name="remediation_changes")
    # Kept, unlinked, when the remediation is deleted: the entry still says what it was.
    remediation = models.ForeignKey(Remediation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    description = models.TextField(help_text="The remediation's description after the change (before, if deleted).")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    changes = models.JSONField(
        default=dict, blank=True, help_text='{"field": {"old": …, "new": …}}, as an incident\'s timeline has them.'
    )
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # A post-mortem's history page, in order.
            models.Index(fields=["postmortem", "at", "id"], name="remediationchange_history_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()}: {self.description[:60]}"


class ContributingFactorQuerySet(models.QuerySet):
    def active(self):
        return self.filter(archived_at__isnull=True)


class ContributingFactor(models.Model):
    """One entry of the taxonomy an admin keeps. Archived factors stay on the post-mortems that
    name them (and in past insights) but are no longer offered; a factor in use is never deleted."""

    slug = models.SlugField(max_length=50, unique=True, help_text="Used in filters and the API, e.g. monitoring-gap.")
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=100, help_text="Lower comes first in pickers and charts.")
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ContributingFactorQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="contributingfactor_unique_name_ci"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class PostMortemFactor(models.Model):
    """A contributing factor named by one post-mortem, with a short note on how it contributed."""

    postmortem = models.ForeignKey(PostMortem, on_delete=models.CASCADE, related_name="factor_links")
    factor = models.ForeignKey(ContributingFactor, on_delete=models.PROTECT, related_name="postmortem_links")
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["factor__position", "factor__name"]
        constraints = [
            models.UniqueConstraint(fields=["postmortem", "factor"], name="postmortemfactor_unique_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.postmortem}: {self.factor}"
