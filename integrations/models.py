"""Webhook senders (integrations) and the deliveries they make, stored before they are processed."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from integrations.crypto import decrypt, encrypt
from plumbing.validators import slug_validator


class Integration(models.Model):
    """A sender of webhooks (GitHub, GitLab, PagerDuty, Alertmanager) and the secret it signs with.

    The secret is kept encrypted (integrations.crypto): the admin shows it once, when it is created.
    """

    class Kind(models.TextChoices):
        GITHUB = "github", "GitHub"
        GITLAB = "gitlab", "GitLab"
        PAGERDUTY = "pagerduty", "PagerDuty"
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=100, unique=True, help_text="A name for people, e.g. 'GitHub acme org'.")
    secret_encrypted = models.TextField(editable=False)
    service_mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text='The sender\'s name for a service → an Opslog service slug, e.g. {"acme/web-app": "web"}. '
        "Unmapped names fall back to the sender's own (for GitHub, the repository name).",
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Kind-specific settings, e.g. for Alertmanager {"promote_labels": {"severity": "critical"}}.',
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        # Made in the deploys app, whose table it keeps (moved by state only).
        db_table = "deploys_integration"
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"

    @property
    def secret(self) -> str:
        return decrypt(self.secret_encrypted)

    def set_secret(self, value: str) -> None:
        self.secret_encrypted = encrypt(value)

    def clean(self) -> None:
        errors = {}
        mapping = self.service_mapping
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            errors["service_mapping"] = 'Give a JSON object of names to service slugs, e.g. {"acme/web-app": "web"}.'
        else:
            bad = sorted(v for v in mapping.values() if not slug_validator.regex.match(v))
            if bad:
                errors["service_mapping"] = f"Not a service slug: {', '.join(bad)}."
        if not isinstance(self.options, dict):
            errors["options"] = 'Give a JSON object, e.g. {"promote_labels": {"severity": "critical"}}.'
        if errors:
            raise ValidationError(errors)

    def map_service(self, name: str) -> str:
        mapping = self.service_mapping if isinstance(self.service_mapping, dict) else {}
        return mapping.get(name) or name


class Delivery(models.Model):
    """One webhook request as it arrived, stored before it is processed so it can be replayed."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="deliveries")
    kind = models.CharField(max_length=20, choices=Integration.Kind.choices)
    # The sender's id for this delivery (X-GitHub-Delivery, PagerDuty's event id, …) or a digest of
    # the body where the sender has none: the same delivery sent again finds this row.
    delivery_id = models.CharField(max_length=200)
    event = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict)
    body = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    outcome = models.TextField(blank=True, help_text="What processing did, or why it failed.")
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Made in the deploys app, whose table it keeps (moved by state only).
        db_table = "deploys_delivery"
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["integration", "delivery_id"], name="delivery_unique_per_integration"),
        ]
        indexes = [
            # The staff deliveries page, newest first, filtered by kind and status.
            models.Index(fields=["kind", "status", "-received_at"], name="delivery_kind_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.event or 'delivery'} {self.delivery_id}"
