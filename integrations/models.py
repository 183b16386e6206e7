"""Webhook senders (integrations) and the deliveries they make, stored before they are processed; the Slack app's and the Mattermost command's records."""

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


class CDEventSinkHost(models.Model):
    """A host CDEvents sinks may be at, kept by admins beside the operator's
    OPSLOG_CDEVENTS_SINK_HOSTS: `events.example.com` (any port) or `cdviz.internal:8080` (that port)."""

    host = models.CharField(
        max_length=260,
        unique=True,
        help_text="A host name or IP address, lower case, optionally with :port (that port only).",
    )
    note = models.CharField(max_length=200, blank=True, help_text="Why it is allowed, e.g. 'CDviz, platform team'.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["host"]
        verbose_name = "CDEvents sink host"

    def __str__(self) -> str:
        return self.host


class CDEventSink(models.Model):
    """A receiver of CDEvents (integrations/cdevents_out): each deploy and incident stage of the
    chosen kinds is posted to its URL as a binary-mode CloudEvent, signed with its secret when it has one.

    The URL's host must be allowed: listed in the admin (CDEventSinkHost) or in OPSLOG_CDEVENTS_SINK_HOSTS
    (checked when saved and again when sending).
    The secret is kept encrypted (integrations.crypto) and never shown again once saved.
    """

    class Event(models.TextChoices):
        SERVICE_DEPLOYED = "service.deployed", "service.deployed (first deploy of a service to an environment)"
        SERVICE_UPGRADED = "service.upgraded", "service.upgraded (a later deploy)"
        SERVICE_ROLLEDBACK = "service.rolledback", "service.rolledback (a rollback)"
        INCIDENT_DETECTED = "incident.detected", "incident.detected"
        INCIDENT_REPORTED = "incident.reported", "incident.reported (filed in Opslog)"
        INCIDENT_ACKNOWLEDGED = "incident.acknowledged", "acknowledged (Opslog's stage, as incident.reported)"
        INCIDENT_MITIGATED = "incident.mitigated", "mitigated (Opslog's stage, as incident.reported)"
        INCIDENT_RESOLVED = "incident.resolved", "incident.resolved"

    name = models.CharField(max_length=100, unique=True, help_text="A name for people, e.g. 'CDviz'.")
    url = models.URLField(max_length=500, help_text="Where events are posted (http or https).")
    secret_encrypted = models.TextField(blank=True, editable=False)
    events = models.JSONField(default=list, blank=True, help_text="The events sent to this sink.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "CDEvents sink"

    def __str__(self) -> str:
        return self.name

    @property
    def secret(self) -> str:
        return decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    def set_secret(self, value: str) -> None:
        self.secret_encrypted = encrypt(value) if value else ""

    def wants(self, event: str) -> bool:
        return isinstance(self.events, list) and event in self.events


def _delivery_kinds() -> list[tuple[str, str]]:
    kinds = dict(Integration.Kind.choices)
    # Outgoing deliveries to CDEvents sinks (the incoming CDEvents endpoint shares the kind).
    kinds.setdefault("cdevents", "CDEvents")
    return list(kinds.items())


class Delivery(models.Model):
    """One webhook request as it arrived, stored before it is processed so it can be replayed; or
    (direction "out") one CDEvent for one sink, stored before it is sent so it is sent once, in
    order, and can be sent again."""

    class Direction(models.TextChoices):
        IN = "in", "Received"
        OUT = "out", "Sent"

    class Status(models.TextChoices):
        # Outgoing: waiting to be sent (or retried), sent, not sent (the sink is off), given up.
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.IN)
    integration = models.ForeignKey(
        Integration, on_delete=models.PROTECT, related_name="deliveries", null=True, blank=True
    )
    # A sink removed has nothing left to send or replay to: its deliveries go with it.
    sink = models.ForeignKey(CDEventSink, on_delete=models.CASCADE, related_name="deliveries", null=True, blank=True)
    kind = models.CharField(max_length=20, choices=_delivery_kinds())
    # The sender's id for this delivery (X-GitHub-Delivery, PagerDuty's event id, …) or a digest of
    # the body where the sender has none: the same delivery sent again finds this row. Outgoing:
    # the CDEvent's id (stable for a record and its stage).
    delivery_id = models.CharField(max_length=200)
    event = models.CharField(max_length=100, blank=True)
    # Outgoing: the events of one record ("incident:42", "deploy:7") are sent in the order recorded.
    ordering_key = models.CharField(max_length=50, blank=True)
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
            # Each event is sent to each sink once: recording it again finds this row.
            models.UniqueConstraint(
                fields=["sink", "delivery_id"], condition=models.Q(sink__isnull=False), name="delivery_unique_per_sink"
            ),
            models.CheckConstraint(
                condition=models.Q(direction="in", integration__isnull=False, sink__isnull=True)
                | models.Q(direction="out", integration__isnull=True, sink__isnull=False),
                name="delivery_in_from_integration_out_to_sink",
            ),
        ]
        indexes = [
            # The staff deliveries page, newest first, filtered by kind and status.
            models.Index(fields=["kind", "status", "-received_at"], name="delivery_kind_status_idx"),
            # Sending: a record's pending events for one sink, oldest first.
            models.Index(fields=["sink", "ordering_key", "status", "id"], name="delivery_sink_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.event or 'delivery'} {self.delivery_id}"

    @property
    def outgoing(self) -> bool:
        return self.direction == self.Direction.OUT

    @property
    def status_label(self) -> str:
        """The status in the words of its direction: an outgoing one is queued or sent, not received."""
        if self.outgoing:
            return {"received": "Queued", "processed": "Sent", "ignored": "Not sent", "failed": "Failed"}.get(
                self.status, self.status
            )
        return self.get_status_display()

    @property
    def party(self) -> str:
        """Who sent it (incoming) or where it goes (outgoing)."""
        other = self.sink if self.outgoing else self.integration
        return other.name if other else ""


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
    deploy_channel = models.CharField(
        max_length=32,
        blank=True,
        help_text="The channel id (C…) where production deploys are announced, as the chat webhook's line; "
        "empty: none. Invite the app there.",
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


class SlackDeployPost(models.Model):
    """A message Opslog posted about a deploy, so that it is posted once: the deploy's notice in a
    workspace's deploy channel, or its flag as a suspect in an incident's channel (or its
    announcement's thread). A retried outbox message finds the row and posts nothing again."""

    class Kind(models.TextChoices):
        NOTICE = "notice", "Deploy notice"
        SUSPECT = "suspect", "Suspect flag"

    workspace = models.ForeignKey(SlackWorkspace, on_delete=models.CASCADE, related_name="deploy_posts")
    deploy = models.ForeignKey("deploys.Deploy", on_delete=models.CASCADE, related_name="slack_posts")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The incident a suspect flag was posted for; none for a notice.
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, null=True, blank=True, related_name="slack_deploy_flags"
    )
    channel = models.CharField(max_length=32)
    ts = models.CharField(max_length=32, help_text="The posted message's ts.")
    posted_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-posted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "deploy"], condition=models.Q(kind="notice"), name="slackdeploypost_one_notice"
            ),
            models.UniqueConstraint(
                fields=["workspace", "deploy", "incident"],
                condition=models.Q(kind="suspect"),
                name="slackdeploypost_one_flag",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="notice", incident__isnull=True)
                | models.Q(kind="suspect", incident__isnull=False),
                name="slackdeploypost_flag_has_incident",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of deploy {self.deploy_id} in {self.channel}"


# --- Mattermost ----------------------------------------------------------------------------------
# The Mattermost slash command and message buttons (integrations/mattermost/): a server Opslog
# talks to, who its people are in Opslog, each incident's announcement and linked channel, and the
# requests it has handled.


class MattermostServer(models.Model):
    """A Mattermost server with an Opslog bot account and `/incident` slash command. The bot's
    access token and the slash command's token(s) are kept encrypted (integrations.crypto) and
    never shown again once saved."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(help_text="The server's address, e.g. https://chat.example.com (without /api/v4).")
    bot_token_encrypted = models.TextField(editable=False)
    # One token per line: a server may have the command in several teams, each with its own token.
    command_tokens_encrypted = models.TextField(editable=False)
    announce_channel = models.CharField(
        max_length=64, blank=True, help_text="The channel id where new incidents are announced; empty: none."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def bot_token(self) -> str:
        return decrypt(self.bot_token_encrypted)

    def set_bot_token(self, value: str) -> None:
        self.bot_token_encrypted = encrypt(value)

    @property
    def command_tokens(self) -> list[str]:
        return [t for t in decrypt(self.command_tokens_encrypted).splitlines() if t]

    def set_command_tokens(self, values: list[str]) -> None:
        self.command_tokens_encrypted = encrypt("\n".join(v.strip() for v in values if v.strip()))


class MattermostUser(models.Model):
    """A Mattermost user known as an Opslog user: set by an admin, or found by the e-mail the
    REST API gives (GET /users/{id}) the first time they act."""

    class Source(models.TextChoices):
        EMAIL = "email", "Matched by e-mail"
        ADMIN = "admin", "Set by an admin"

    server = models.ForeignKey(MattermostServer, on_delete=models.CASCADE, related_name="users")
    mattermost_user_id = models.CharField(max_length=64, help_text="The Mattermost user's id (26 characters).")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mattermost_accounts")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "Mattermost user mapping"
        constraints = [
            models.UniqueConstraint(fields=["server", "mattermost_user_id"], name="mattermostuser_unique_per_server"),
        ]

    def __str__(self) -> str:
        return f"{self.mattermost_user_id} → {self.user}"


class MattermostIncident(models.Model):
    """An incident's announcement post on a server (updated in place) and the channel linked to it
    (`/incident here #42`), whose commands act on it."""

    server = models.ForeignKey(MattermostServer, on_delete=models.CASCADE, related_name="incidents")
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="mattermost_links")
    channel_id = models.CharField(max_length=64, blank=True, help_text="Where the announcement is.")
    post_id = models.CharField(max_length=64, blank=True, help_text="The announcement's post id; empty until posted.")
    linked_channel_id = models.CharField(max_length=64, blank=True, help_text="The channel linked to the incident.")
    # A digest of the announcement last posted: an update that would show the same is skipped.
    posted_digest = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["server", "incident"], name="mattermostincident_unique_per_server"),
        ]
        # A channel command finds its incident by the channel it was typed in.
        indexes = [models.Index(fields=["server", "linked_channel_id"], name="mattermostincident_channel_idx")]

    def __str__(self) -> str:
        return f"{self.incident} on {self.server}"


class MattermostRequest(models.Model):
    """A request from Mattermost, stored once under its trigger id (or a digest of the body): the
    same request sent again finds this row and does nothing more. The work is done by a task that
    takes this row's id; rows older than OPSLOG_DELIVERY_RETENTION_DAYS are purged daily."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    server = models.ForeignKey(MattermostServer, on_delete=models.CASCADE, related_name="requests")
    key = models.CharField(max_length=200, help_text="Mattermost's trigger id, or a digest of the body.")
    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    outcome = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["server", "key"], name="mattermostrequest_unique_key")]
        # The daily purge deletes by age.
        indexes = [models.Index(fields=["received_at"], name="mattermostrequest_received_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


# --- Trackers -------------------------------------------------------------------------------------
# Remediations pushed into the team's tracker (integrations/trackers/): a GitHub repository's issues
# or a Jira project, and the one issue each remediation has there.


class TrackerConnection(models.Model):
    """Where remediations become issues: a GitHub repository or a Jira project. The API token and
    the webhook secret are kept encrypted (integrations.crypto) and never shown again once saved."""

    class Kind(models.TextChoices):
        GITHUB = "github", "GitHub Issues"
        JIRA = "jira", "Jira"

    class Flavour(models.TextChoices):
        CLOUD = "cloud", "Jira Cloud (REST v3, e-mail + API token)"
        SERVER = "server", "Jira Server / Data Center (REST v2, personal access token)"

    name = models.CharField(max_length=100, unique=True, help_text="A name for people, e.g. 'acme/web issues'.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    base_url = models.URLField(
        max_length=300,
        blank=True,
        help_text="GitHub: the API's address (empty: https://api.github.com; GitHub Enterprise: "
        "https://github.example.com/api/v3). Jira: the site, e.g. https://acme.atlassian.net.",
    )
    repository = models.CharField(max_length=200, blank=True, help_text="GitHub: owner/repo.")
    flavour = models.CharField(max_length=10, choices=Flavour.choices, blank=True, help_text="Jira only.")
    project_key = models.CharField(max_length=20, blank=True, help_text="Jira: the project's key, e.g. OPS.")
    issue_type = models.CharField(max_length=50, blank=True, default="Task", help_text="Jira: e.g. Task.")
    email = models.CharField(max_length=254, blank=True, help_text="Jira Cloud: the API token's account e-mail.")
    labels = models.CharField(
        max_length=300,
        blank=True,
        default="opslog",
        help_text="Comma-separated labels put on every issue; dev or ops is added from the remediation.",
    )
    token_encrypted = models.TextField(editable=False)
    webhook_secret_encrypted = models.TextField(editable=False)
    is_demo = models.BooleanField(
        default=False, help_text="Demo data: never called (its address isn't reachable); links are made up."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def token(self) -> str:
        return decrypt(self.token_encrypted)

    def set_token(self, value: str) -> None:
        self.token_encrypted = encrypt(value)

    @property
    def webhook_secret(self) -> str:
        return decrypt(self.webhook_secret_encrypted)

    def set_webhook_secret(self, value: str) -> None:
        self.webhook_secret_encrypted = encrypt(value)

    @property
    def label_list(self) -> list[str]:
        return [label.strip() for label in self.labels.split(",") if label.strip()]

    @property
    def api_url(self) -> str:
        if self.kind == self.Kind.GITHUB:
            return (self.base_url or "https://api.github.com").rstrip("/")
        return self.base_url.rstrip("/")

    @property
    def where(self) -> str:
        """The repository or project, for people."""
        return self.repository if self.kind == self.Kind.GITHUB else self.project_key

    def clean(self) -> None:
        errors = {}
        if self.base_url and not self.base_url.lower().startswith(("https://", "http://")):
            errors["base_url"] = "Use an https:// (or http://) address."
        if self.kind == self.Kind.GITHUB:
            parts = self.repository.split("/")
            if len(parts) != 2 or not all(parts) or any(c.isspace() for c in self.repository):
                errors["repository"] = "Give the repository as owner/repo."
        elif self.kind == self.Kind.JIRA:
            if not self.base_url:
                errors["base_url"] = "Give the Jira site's address, e.g. https://acme.atlassian.net."
            if not self.flavour:
                errors["flavour"] = "Choose Jira Cloud or Server / Data Center."
            if not self.project_key or not self.project_key.isalnum() or not self.project_key[0].isalpha():
                errors["project_key"] = "Give the project's key, e.g. OPS."
            if not self.issue_type.strip():
                errors["issue_type"] = "Give an issue type, e.g. Task."
            if self.flavour == self.Flavour.CLOUD and "@" not in self.email:
                errors["email"] = "Jira Cloud's API token goes with its account's e-mail address."
        if any(c.isspace() for c in self.labels.replace(", ", ",").strip()):
            errors["labels"] = "Labels can't hold spaces (Jira refuses them): separate them with commas."
        if errors:
            raise ValidationError(errors)


class TrackerLink(models.Model):
    """A remediation's issue in a tracker: one per remediation, made before the issue is (pending),
    so a second "Create issue" finds it and never makes a second issue."""

    class State(models.TextChoices):
        PENDING = "pending", "Creating the issue"
        LINKED = "linked", "Linked"
        FAILED = "failed", "Failed"

    remediation = models.OneToOneField("postmortems.Remediation", on_delete=models.CASCADE, related_name="tracker_link")
    connection = models.ForeignKey(TrackerConnection, on_delete=models.PROTECT, related_name="links")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # GitHub: the issue's number ("123"); Jira: its key ("OPS-12"). Empty until linked.
    issue_key = models.CharField(max_length=100, blank=True)
    url = models.URLField(max_length=500, blank=True)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    linked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # A tracker's webhook finds the remediation by its issue.
            models.Index(fields=["connection", "issue_key"], name="trackerlink_issue_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connection}: {self.display_key or self.get_state_display()}"

    @property
    def display_key(self) -> str:
        if not self.issue_key:
            return ""
        return f"#{self.issue_key}" if self.connection.kind == TrackerConnection.Kind.GITHUB else self.issue_key
