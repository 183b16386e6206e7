"""Webhook senders (integrations) and the deliveries they make, stored before they are processed; the Slack app's records."""

from django.conf import settings
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


# --- Slack ---------------------------------------------------------------------------------------
# The Slack app (integrations/slack/): a workspace Opslog is installed in, who its people are in
# Opslog, the messages and channels it keeps for each incident, and the requests it has handled.


def slack_command_validator(value: str) -> None:
    if not (value.startswith("/") and 2 <= len(value) <= 32 and value[1:].replace("-", "").replace("_", "").isalnum()):
        raise ValidationError("A slash command like /incident: a slash, then letters, digits, - or _.")


class SlackWorkspace(models.Model):
    """A Slack workspace with the Opslog app installed. The bot token and signing secret are kept
    encrypted (integrations.crypto) and never shown again once saved."""

    team_id = models.CharField(
        max_length=32, unique=True, help_text="The workspace's id (T…): Slack sends it with every request."
    )
    name = models.CharField(max_length=100)
    bot_token_encrypted = models.TextField(editable=False)
    signing_secret_encrypted = models.TextField(editable=False)
    announce_channel = models.CharField(
        max_length=32, blank=True, help_text="The channel id (C…) where new incidents are announced; empty: none."
    )
    channel_per_incident = models.BooleanField(
        default=False, help_text="Open a channel for each incident filed, named from its id and title."
    )
    channel_prefix = models.CharField(
        max_length=20, default="inc", help_text="The start of each incident channel's name, e.g. inc-42-checkout-down."
    )
    pin_reaction = models.CharField(
        max_length=100,
        default="pushpin",
        help_text="The reaction (its name, without colons) that copies a message to the incident's timeline.",
    )
    command = models.CharField(
        max_length=32, default="/incident", validators=[slack_command_validator], help_text="The slash command's name."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.team_id})"

    @property
    def bot_token(self) -> str:
        return decrypt(self.bot_token_encrypted)

    def set_bot_token(self, value: str) -> None:
        self.bot_token_encrypted = encrypt(value)

    @property
    def signing_secret(self) -> str:
        return decrypt(self.signing_secret_encrypted)

    def set_signing_secret(self, value: str) -> None:
        self.signing_secret_encrypted = encrypt(value)

    def clean(self) -> None:
        prefix = self.channel_prefix
        if prefix and not all(c.islower() or c.isdigit() or c in "-_" for c in prefix):
            raise ValidationError(
                {"channel_prefix": "Lowercase letters, digits, - and _ only (Slack's channel names)."}
            )
        if ":" in self.pin_reaction or " " in self.pin_reaction:
            raise ValidationError({"pin_reaction": "The reaction's name without colons, e.g. pushpin."})


class SlackUser(models.Model):
    """A Slack user known as an Opslog user: found by e-mail (`users.info`) the first time they act,
    or set by an admin (for someone whose Slack e-mail isn't their Opslog one)."""

    class Source(models.TextChoices):
        EMAIL = "email", "Matched by e-mail"
        ADMIN = "admin", "Set by an admin"

    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="users")
    slack_user_id = models.CharField(max_length=32, help_text="The Slack user's id (U… or W…).")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_accounts")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "Slack user mapping"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slack_user_id"], name="slackuser_unique_per_workspace"),
        ]

    def __str__(self) -> str:
        return f"{self.slack_user_id} → {self.user}"


class SlackIncident(models.Model):
    """An incident's announcement in a workspace (updated in place) and its own channel, if any."""

    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="incidents")
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="slack_links")
    channel = models.CharField(max_length=32, blank=True, help_text="Where the announcement is.")
    ts = models.CharField(max_length=32, blank=True, help_text="The announcement's message ts; empty until posted.")
    incident_channel = models.CharField(max_length=32, blank=True, help_text="The incident's own channel, if any.")
    # A digest of the announcement last posted: an update that would show the same is skipped.
    posted_digest = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "incident"], name="slackincident_unique_per_workspace"),
        ]
        indexes = [models.Index(fields=["workspace", "incident_channel"], name="slackincident_channel_idx")]

    def __str__(self) -> str:
        return f"{self.incident} in {self.workspace}"


class SlackRequest(models.Model):
    """A request from Slack, stored once: the same event id (an Events API retry) or trigger id
    (a button pressed and delivered twice) finds this row and does nothing more. The work is done
    by a task that takes this row's id."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="requests")
    key = models.CharField(max_length=200, help_text="Slack's event id or trigger id.")
    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    outcome = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="slackrequest_unique_key")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class SlackPin(models.Model):
    """A message copied to an incident's timeline by its pin reaction: removing the reaction
    removes the entry."""

    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="pins")
    channel = models.CharField(max_length=32)
    message_ts = models.CharField(max_length=32)
    entry = models.OneToOneField("incidents.TimelineEntry", on_delete=models.CASCADE, related_name="slack_pin")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "channel", "message_ts"], name="slackpin_unique_message"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.message_ts}"
