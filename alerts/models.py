from django.db import models
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident


class Alert(models.Model):
    """One firing of a monitoring alert, as Prometheus Alertmanager reports it.

    An alert is identified by its label set's fingerprint and when it started firing: the same rule
    firing again later is a new Alert. Every notification about it updates this one row (upsert).
    Promoted to an incident by a person or by the integration's label rule; the monthly alert review
    counts the promoted ones as signal and the rest as noise.
    """

    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    integration = models.ForeignKey(
        "integrations.Integration",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="alerts",
        help_text="The Alertmanager that first reported it.",
    )
    fingerprint = models.CharField(max_length=100, help_text="Alertmanager's hash of the alert's labels.")
    name = models.CharField(max_length=200, blank=True, help_text="The `alertname` label.")
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField(help_text="When it started firing.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="When it resolved; empty while it fires.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.FIRING)
    generator_url = models.TextField(blank=True, help_text="The rule's graph in Prometheus.")
    incident = models.ForeignKey(
        Incident,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
        help_text="The incident it was promoted to.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Made in the incidents app, whose table it keeps (moved by state only).
        db_table = "incidents_alert"
        ordering = ["-starts_at", "-id"]
        constraints = [
            # The upsert key. Not per integration: the replicas of an Alertmanager cluster each send
            # the same alert, and it is one alert.
            models.UniqueConstraint(fields=["fingerprint", "starts_at"], name="alert_unique_firing"),
        ]
        indexes = [
            # The alerts list (newest first) and the monthly review's month range on starts_at.
            models.Index(fields=["-starts_at", "-id"], name="alert_starts_idx"),
            # The alerts list filtered by alert name (and the review's drill-down to one name).
            models.Index(fields=["name", "-starts_at"], name="alert_name_starts_idx"),
            # The alerts list filtered by status: "what is firing now".
            models.Index(fields=["status", "-starts_at"], name="alert_status_starts_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.fingerprint} since {self.starts_at:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("alerts:detail", args=[self.pk])

    @property
    def firing_seconds(self) -> float | None:
        """How long it fired; None while it still fires."""
        if self.ends_at is None:
            return None
        return (self.ends_at - self.starts_at).total_seconds()

    @property
    def summary(self) -> str:
        return str(self.annotations.get("summary") or "") if isinstance(self.annotations, dict) else ""

    @property
    def generator_link(self) -> str:
        """generator_url when it is safe to link to (http or https), else ""."""
        return self.generator_url if self.generator_url.lower().startswith(("http://", "https://")) else ""
