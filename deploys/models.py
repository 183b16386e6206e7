from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from deploys.querysets import DeployQuerySet, ServiceQuerySet
from plumbing.markdown import CHANGE_DESCRIPTION_MAX_LENGTH, StoredMarkdown, max_length_validator
from plumbing.validators import single_line_validator, slug_validator

# (slug, name, is_production): there from the first migration on.
DEFAULT_ENVIRONMENTS = [
    ("qa", "QA", False),
    ("staging", "Staging", False),
    ("production", "Production", True),
]


class Service(models.Model):
    """Something that is deployed (`web`, `api`, `search`)."""

    slug = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200, blank=True)
    dev_team = models.CharField(max_length=200, blank=True)
    ops_contact = models.CharField(
        max_length=200, blank=True, help_text="The designated ops person or rota for this service."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # A service in use is archived, never deleted: it leaves the pickers for new records and stays
    # on its old records and in the reports.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ServiceQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def display_name(self) -> str:
        return self.name or self.slug


class Environment(models.Model):
    """Where a deploy goes. Only production environments count in the numbers."""

    slug = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200, blank=True)
    is_production = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_production", "slug"]

    def __str__(self) -> str:
        return self.slug


class Deploy(models.Model):
    """One version of one service going live in one environment."""

    # A production deploy with one of these statuses went live and counts in the monthly numbers.
    COUNTED_STATUSES = ("succeeded", "rolled_back")

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        ROLLED_BACK = "rolled_back", "Rolled back"

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="deploys")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="deploys")
    version = models.CharField(max_length=200, validators=[single_line_validator])
    previous_version = models.CharField(max_length=200, blank=True, validators=[single_line_validator])
    deployer = models.CharField(max_length=200, validators=[single_line_validator])
    message = models.TextField(blank=True)
    deployed_at = models.DateTimeField(default=timezone.now, help_text="When it went live.")
    duration_seconds = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUCCEEDED)
    diff_url = models.URLField(max_length=1000, blank=True)
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The sender's idempotency key, unique per service."
    )
    change_record = models.ForeignKey(
        "ChangeRecord",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deploys",
        help_text="The risky change this deploy ships, if it had a change record.",
    )
    # A webhook deploy's own identity, whatever service the integration's mapping gives it: the
    # integration and the sender's id of the deployment (deploys.services.deploy_record_from_hook).
    delivery_key = models.CharField(max_length=250, blank=True, default="", db_default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = DeployQuerySet.as_manager()

    class Meta:
        ordering = ["-deployed_at", "-id"]
        constraints = [
            # Idempotent ingest: a retried POST finds the first one instead of doubling it.
            models.UniqueConstraint(
                fields=["service", "external_id"],
                condition=~models.Q(external_id=""),
                name="deploy_unique_external_id_per_service",
            ),
            # Idempotent webhooks: a replay finds the deploy its delivery made, even after the
            # integration's service mapping changed (then the key per service would miss it).
            models.UniqueConstraint(
                fields=["delivery_key"], condition=~models.Q(delivery_key=""), name="deploy_unique_delivery_key"
            ),
            models.CheckConstraint(
                condition=models.Q(duration_seconds__isnull=True) | models.Q(duration_seconds__gte=0),
                name="deploy_duration_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["succeeded", "failed", "rolled_back"]),
                name="deploy_status_valid",
            ),
        ]
        indexes = [
            # The deploy log, newest first, and `since`/`until` filters.
            models.Index(fields=["-deployed_at", "-id"], name="deploy_log_idx"),
            # previous_version lookup and the current version per service and environment.
            models.Index(fields=["service", "environment", "-deployed_at"], name="deploy_svc_env_time_idx"),
            # A push's backfill of the deploys recorded before it (deploys.services.
            # _backfill_head_only_deploys): this service's deploys whose version is one of the pushed shas.
            models.Index(fields=["service", "version"], name="deploy_service_version_idx"),
            # Filtering the log by deployer; the distinct deployers of a report (a loose index scan).
            models.Index(fields=["deployer", "-deployed_at"], name="deploy_deployer_time_idx"),
            # reports.selectors deploy counts per month (deploys, deployers, failed, rework): an
            # index-only scan of the range's rows with every column those aggregates read (PostgreSQL).
            models.Index(
                fields=["deployed_at"],
                include=["environment", "status", "service", "deployer", "id"],
                name="deploy_report_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.version} to {self.environment}"

    def get_absolute_url(self) -> str:
        return reverse("deploys:detail", args=[self.pk])


class DeployCommit(models.Model):
    """A commit that a deploy shipped; its authored time gives the lead time for changes."""

    deploy = models.ForeignKey(Deploy, on_delete=models.CASCADE, related_name="commits")
    sha = models.CharField(max_length=64)
    authored_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)
    # Kept by deploys.services.commit_deliveries_refresh, never written anywhere else: set only on
    # the row of the counted production deploy that shipped this sha first (the glossary's "reaches
    # production for the first time"), so the report needs no anti-join over every commit.
    first_delivered_at = models.DateTimeField(null=True, blank=True, editable=False)
    # deployed_at − authored_at on that same row when positive (the glossary drops values ≤ 0).
    lead_seconds = models.FloatField(null=True, blank=True, editable=False)
    # The same pair within the deploy's environment (#19): set on the row of the counted deploy that
    # shipped this sha first to that environment, whether or not it is a production one. A report
    # filtered on one environment takes its lead times from these (reports_envleadtimerollup).
    env_first_delivered_at = models.DateTimeField(null=True, blank=True, editable=False)
    env_lead_seconds = models.FloatField(null=True, blank=True, editable=False)
    # That environment, on the same row: the report reads one environment's lead times off an
    # index holding it (reports_commit_envlead_bucket_idx) instead of looking up each deploy. A
    # copy of the deploy's, not a constraint of its own: the deploys already protect environments.
    env_delivered_to = models.ForeignKey(
        Environment,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )

    class Meta:
        ordering = ["authored_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["deploy", "sha"], name="deploycommit_unique_sha_per_deploy"),
        ]
        indexes = [
            # Finding the first deploy that shipped a commit (commit_deliveries_refresh).
            models.Index(fields=["sha"], name="deploycommit_sha_idx"),
            # reports.selectors lead-time median per month and over the range: an index-only scan of
            # the first deliveries in the range, lead seconds included (PostgreSQL).
            models.Index(
                fields=["first_delivered_at"],
                include=["lead_seconds", "deploy"],
                condition=models.Q(lead_seconds__isnull=False),
                name="deploycommit_lead_idx",
            ),
            # reports.selectors lead-time median over the whole range: the middle values read in
            # lead order instead of sorting every first delivery of the range (PostgreSQL).
            models.Index(
                fields=["lead_seconds"],
                include=["first_delivered_at", "deploy"],
                condition=models.Q(lead_seconds__isnull=False),
                name="deploycommit_lead_order_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.sha[:12]


class OutboxMessage(models.Model):
    """One outbound side effect (a deploy's chat line or email; later a tracker sync or an event
    sink's post), written in the same transaction as the record that causes it and sent by a
    worker after commit, so a broker or receiver outage delays it and never loses it.

    `kind` names the sender registered in deploys.outbox; `payload` holds the ids it needs (the
    sender reads the records again when it sends). `key` makes a side effect recorded twice one row."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        GAVE_UP = "gave_up", "Gave up"

    kind = models.CharField(max_length=50)
    key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When a pending message may next be tried: now at first, then later after each failure.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The beat task's sweep: pending messages whose next attempt is due.
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.get_status_display().lower()}"


class ChangeRecord(StoredMarkdown, models.Model):
    """Etsy's four questions, asked before a risky change (schema, new feature, storage) ships."""

    class Kind(models.TextChoices):
        SCHEMA = "schema", "Schema change"
        FEATURE = "feature", "New feature"
        STORAGE = "storage", "Storage change"
        INFRASTRUCTURE = "infrastructure", "Infrastructure change"
        OTHER = "other", "Other"

    title = models.CharField(max_length=200, help_text="What is changing, in a line.")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="change_records"
    )
    owner = models.CharField(max_length=200, help_text="Who is making the change.")
    planned_at = models.DateTimeField(default=timezone.now, help_text="When it is meant to happen.")
    description = models.TextField(
        blank=True,
        help_text="What will change, in Markdown.",
        validators=[max_length_validator(CHANGE_DESCRIPTION_MAX_LENGTH)],
    )
    description_html = models.TextField(blank=True, editable=False, help_text="The description rendered and sanitized.")
    done_before = models.TextField(help_text="Have you done this before?")
    failure_impact = models.TextField(help_text="What will happen when it goes wrong?")
    failure_response = models.TextField(help_text="What will you do when it does go wrong?")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    MARKDOWN_FIELDS = {"description": "description_html"}

    class Meta:
        ordering = ["-planned_at", "-id"]

    def __str__(self) -> str:
        return f"CR-{self.pk} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("deploys:change", args=[self.pk])


class PushedCommit(models.Model):
    """A commit pushed to a service's default branch and not necessarily deployed yet.

    When a deploy of that service arrives through a webhook with only a head sha, the commits pushed
    up to that sha become its DeployCommits, so lead time can be computed.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="pushed_commits")
    sha = models.CharField(max_length=64)
    authored_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)
    pushed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["service", "sha"], name="pushedcommit_unique_sha_per_service"),
        ]

    def __str__(self) -> str:
        return self.sha[:12]


class IngestToken(models.Model):
    """A key for a CI system: it may post deploys (one or in bulk) and nothing else.

    Only the key's SHA-256 digest is stored; the key is shown once, when the token is made
    (``manage.py create_ingest_token`` or the admin). A revoked token is kept, for the record.
    """

    KEY_PREFIX = "oli_"

    name = models.CharField(max_length=100, unique=True, help_text="Who uses it, e.g. 'Jenkins deploy job'.")
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    # The key's first characters, so people can tell tokens apart without the key.
    key_start = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        editable=False,
        related_name="+",
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    services = models.ManyToManyField(
        Service,
        blank=True,
        related_name="+",
        help_text="The services it may post deploys of; none: any service. "
        "A leaked key then can't write another team's history.",
    )
    may_create_services = models.BooleanField(
        default=False,
        help_text="A deploy of a service Opslog doesn't know yet creates it. Off: such a deploy is refused "
        "(400) until the service is made in the admin. Only for a token of any service.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_start}…)"

    def refused_services(self, slugs) -> list[str]:
        """Of these service slugs, those this token may not post deploys of (sorted)."""
        allowed = {service.slug for service in self.services.all()}
        return sorted(set(slugs) - allowed) if allowed else []

    def refused_change_records(self, ids) -> list[str]:
        """Of these change record ids, those this token may not attach, as `5 (of api)` (sorted): a
        token limited to services may attach only the records of those services."""
        wanted = set(ids)
        allowed = {service.pk for service in self.services.all()}
        if not allowed or not wanted:
            return []
        others = (
            ChangeRecord.objects.filter(pk__in=wanted)
            .exclude(service_id__in=allowed)
            .order_by("pk")
            .values_list("pk", "service__slug")
        )
        return [f"{pk} (of {slug or 'no service'})" for pk, slug in others]

    def uncreatable_services(self, slugs) -> set[str]:
        """Of these service slugs, those that don't exist yet and that this token may not create."""
        wanted = set(slugs)
        if self.may_create_services or not wanted:
            return set()
        return wanted - set(Service.objects.filter(slug__in=wanted).values_list("slug", flat=True))

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiToken(models.Model):
    """A person's API token (`Authorization: Token <key>`): it acts as its user, with their role.

    Only the key's SHA-256 digest is stored, as for ingest tokens; the key is shown once, when it is
    made (/accounts/token/). One per person: making a new one ends the old.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    # The key's first characters, so a person can tell which key a script holds without the key.
    key_start = models.CharField(max_length=8, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["user__username"]
        verbose_name = "user API token"

    def __str__(self) -> str:
        return f"{self.user} ({self.key_start}…)"
