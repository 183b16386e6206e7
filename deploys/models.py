from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from deploys.querysets import DeployQuerySet

# One-line values end up in chat lines and email headers: no line breaks or control characters.
single_line_validator = RegexValidator(
    r"^[^\x00-\x1f\x7f]*\Z", "Use a single line of text, without line breaks or control characters."
)

slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]*$",
    "Use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit.",
)

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
        "ChangeRecord", null=True, blank=True, on_delete=models.SET_NULL, related_name="deploys",
        help_text="The risky change this deploy ships, if it had a change record.",
    )
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
            # Filtering the log by deployer.
            models.Index(fields=["deployer", "-deployed_at"], name="deploy_deployer_time_idx"),
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

    class Meta:
        ordering = ["authored_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["deploy", "sha"], name="deploycommit_unique_sha_per_deploy"),
        ]
        indexes = [
            # Finding the first deploy that shipped a commit (lead time).
            models.Index(fields=["sha"], name="deploycommit_sha_idx"),
        ]

    def __str__(self) -> str:
        return self.sha[:12]


class DeployNotification(models.Model):
    """Whether a deploy's announcement went out on a channel, so a retried task never sends it twice."""

    class Channel(models.TextChoices):
        CHAT = "chat", "Chat"
        EMAIL = "email", "Email"

    deploy = models.ForeignKey(Deploy, on_delete=models.CASCADE, related_name="notifications")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["deploy", "channel"], name="deploynotification_unique_channel"),
        ]

    def __str__(self) -> str:
        state = "sent" if self.sent_at else f"not sent after {self.attempts} attempt(s)"
        return f"{self.get_channel_display()} for {self.deploy}: {state}"


class ChangeRecord(models.Model):
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
    description = models.TextField(blank=True, help_text="What will change, in Markdown.")
    done_before = models.TextField(help_text="Have you done this before?")
    failure_impact = models.TextField(help_text="What will happen when it goes wrong?")
    failure_response = models.TextField(help_text="What will you do when it does go wrong?")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-planned_at", "-id"]

    def __str__(self) -> str:
        return f"CR-{self.pk} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("deploys:change", args=[self.pk])
