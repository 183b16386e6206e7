import secrets
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.urls import reverse

from integrations.cdevents_out.services import allowed_hosts, host_allowed
from integrations.models import (
    CDEventSink,
    CDEventSinkHost,
    Delivery,
    Integration,
    MattermostIncident,
    MattermostRequest,
    MattermostServer,
    MattermostUser,
    SlackDeployPost,
    SlackUser,
    SlackWorkspace,
    TrackerConnection,
    TrackerLink,
)


def hook_url(kind: str) -> str:
    """Where a sender of this kind posts: absolute when OPSLOG_BASE_URL is set, else the path."""
    path = reverse("integrations:hook", args=[kind])
    return f"{settings.OPSLOG_BASE_URL.rstrip('/')}{path}" if settings.OPSLOG_BASE_URL else path


def new_secret() -> str:
    # 32 random bytes, URL-safe: fits every sender's secret field (GitHub, GitLab, Alertmanager).
    return secrets.token_urlsafe(32)


class IntegrationForm(forms.ModelForm):
    """The secret is write-only: a field to paste or generate one, never one showing the stored value."""

    # render_value=False: a form redisplayed after an error doesn't send a pasted secret back either.
    secret = forms.CharField(
        required=False,
        strip=True,
        min_length=16,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave blank to generate a strong one. Paste one only when the sender makes its own "
        "(PagerDuty shows a signing secret when you add the webhook). Shown once, after saving.",
    )
    generate_secret = forms.BooleanField(
        required=False,
        label="Generate a new secret",
        help_text="Replace the secret with a newly generated one, shown once after saving. The sender "
        "must be given it: deliveries signed with the old one are refused from then on.",
    )

    class Meta:
        model = Integration
        fields = ["kind", "name", "service_mapping", "options", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # self.fields is this form's own copy: the add form keeps its label and help.
            self.fields["secret"].label = "New secret"
            self.fields[
                "secret"
            ].help_text = (
                "The current secret can't be shown. Paste a new one here to replace it; leave blank to keep it."
            )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("secret") and cleaned.get("generate_secret"):
            raise forms.ValidationError("Paste a new secret or generate one, not both.")
        return cleaned

    def chosen_secret(self, *, creating: bool) -> str | None:
        """The secret to store: pasted, generated, or None to keep the current one."""
        if self.cleaned_data.get("secret"):
            return self.cleaned_data["secret"]
        if creating or self.cleaned_data.get("generate_secret"):
            return new_secret()
        return None


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    form = IntegrationForm
    list_display = ["name", "kind", "is_active", "webhook_url", "created_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]
    readonly_fields = ["webhook_url", "created_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["kind", "name", "secret", "service_mapping", "options", "is_active"]
        return [
            "kind",
            "name",
            "webhook_url",
            "secret",
            "generate_secret",
            "service_mapping",
            "options",
            "is_active",
            "created_at",
        ]

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj: Integration) -> str:
        return hook_url(obj.kind) if obj.kind else "—"

    def save_model(self, request, obj, form, change):
        secret = form.chosen_secret(creating=not change)
        if secret is not None:
            obj.set_secret(secret)
        super().save_model(request, obj, form, change)
        if secret is not None:
            # The one time it is readable: encrypted at rest, and no page shows it again.
            messages.warning(
                request,
                f"The secret of “{obj.name}” is {secret} — copy it into the sender's webhook settings now; "
                f"it won't be shown again. Webhook URL: {hook_url(obj.kind)}",
            )


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only: deliveries are a record of what senders sent. Replay them from /integrations/deliveries/."""

    list_display = ["received_at", "direction", "kind", "event", "status", "attempts", "integration", "sink"]
    list_filter = ["direction", "kind", "status", "integration", "sink"]
    list_select_related = ["integration", "sink"]
    search_fields = ["delivery_id", "event", "outcome"]
    date_hierarchy = "received_at"
    fields = [
        "direction",
        "integration",
        "sink",
        "kind",
        "event",
        "delivery_id",
        "ordering_key",
        "status",
        "outcome",
        "attempts",
        "received_at",
        "processed_at",
        "headers",
        "body",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        # The list shows no body, and a body can be megabytes.
        match = request.resolver_match
        return qs.defer("body", "headers") if match and match.url_name == "integrations_delivery_changelist" else qs

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CDEventSinkForm(forms.ModelForm):
    """The URL must be http(s) to an allowed host; the secret is write-only."""

    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        help_text="Where events are posted: http(s), to an allowed host (CDEvents sink hosts).",
    )
    events = forms.MultipleChoiceField(
        choices=CDEventSink.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The events posted to this sink (docs/integrations/cdevents-out.md).",
    )
    secret = forms.CharField(
        required=False,
        strip=True,
        min_length=16,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Optional: each post then carries X-Opslog-Signature: sha256=<HMAC-SHA256 of the body, hex>. "
        "Never shown again once saved.",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the secret (send unsigned)")

    class Meta:
        model = CDEventSink
        fields = ["name", "url", "events", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.secret_encrypted:
            self.fields[
                "secret"
            ].help_text = "Stored and not shown. Paste a new one to replace it; leave blank to keep it."
        if not self.instance.pk:
            self.initial.setdefault("events", [choice for choice, _ in CDEventSink.Event.choices])

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url", "")
        if url and not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("Use an https:// (or http://) address.")
        if url and not host_allowed(url):
            allowed = ", ".join(allowed_hosts()) or "none yet"
            raise forms.ValidationError(
                f"The host is not allowed (allowed: {allowed}). Add it under CDEvents sink hosts first."
            )
        return url

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("secret") and cleaned.get("clear_secret"):
            raise forms.ValidationError("Paste a new secret or remove it, not both.")
        return cleaned


class CDEventSinkHostForm(forms.ModelForm):
    class Meta:
        model = CDEventSinkHost
        fields = ["host", "note"]

    def clean_host(self) -> str:
        value = self.cleaned_data["host"].strip().lower()
        # A host and an optional port, nothing else: no scheme, user, path or query to smuggle.
        try:
            parts = urlsplit(f"//{value}")
            port = parts.port
        except ValueError:
            raise forms.ValidationError(
                "Give a host, optionally with :port (1–65535), e.g. events.example.com:8443."
            ) from None
        if not parts.hostname or parts.path or parts.query or parts.fragment or "@" in value:
            raise forms.ValidationError("Give only a host, optionally with :port, e.g. events.example.com.")
        labels = parts.hostname.strip("[]").split(".")
        if not all(
            label and len(label) <= 63 and label.replace("-", "").replace(":", "").isalnum() and label.isascii()
            for label in labels
        ):
            raise forms.ValidationError(
                "That is not a host name: letters, digits, hyphens and dots (IDN hosts in their xn-- form)."
            )
        host = parts.hostname
        return f"{host}:{port}" if port is not None else host


@admin.register(CDEventSinkHost)
class CDEventSinkHostAdmin(admin.ModelAdmin):
    """The hosts CDEvents sinks may be at, beside the operator's OPSLOG_CDEVENTS_SINK_HOSTS (which
    admins can't change): a sink can only post where someone chose to allow."""

    form = CDEventSinkHostForm
    list_display = ["host", "note", "created_at"]
    search_fields = ["host", "note"]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "title": "CDEvents sink hosts"}
        if settings.OPSLOG_CDEVENTS_SINK_HOSTS:
            self.message_user(
                request,
                "Also allowed by the operator (OPSLOG_CDEVENTS_SINK_HOSTS): "
                + ", ".join(settings.OPSLOG_CDEVENTS_SINK_HOSTS),
                messages.INFO,
            )
        return super().changelist_view(request, extra_context)


@admin.register(CDEventSink)
class CDEventSinkAdmin(admin.ModelAdmin):
    form = CDEventSinkForm
    list_display = ["name", "url", "is_active", "signed", "created_at"]
    list_filter = ["is_active"]
    fields = ["name", "url", "events", "secret", "clear_secret", "is_active"]

    @admin.display(boolean=True, description="Signed")
    def signed(self, obj: CDEventSink) -> bool:
        return bool(obj.secret_encrypted)

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("secret"):
            obj.set_secret(form.cleaned_data["secret"])
        elif form.cleaned_data.get("clear_secret"):
            obj.set_secret("")
        super().save_model(request, obj, form, change)


class SlackWorkspaceForm(forms.ModelForm):
    """The bot token and signing secret are write-only: pasted once from Slack's app page, never shown."""

    bot_token = forms.CharField(
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="The app's Bot User OAuth Token (xoxb-…), from OAuth & Permissions.",
    )
    signing_secret = forms.CharField(
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="The app's Signing Secret, from Basic Information → App Credentials.",
    )

    class Meta:
        model = SlackWorkspace
        fields = [
            "team_id",
            "name",
            "announce_channel",
            "channel_per_incident",
            "channel_prefix",
            "pin_reaction",
            "command",
            "deploy_channel",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in ("bot_token", "signing_secret"):
                self.fields[
                    name
                ].help_text = "Stored and not shown. Paste a new one to replace it; leave blank to keep it."

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk:
            for name in ("bot_token", "signing_secret"):
                if not cleaned.get(name):
                    self.add_error(name, "Paste it from the Slack app's page: Opslog can't talk to Slack without it.")
        token = cleaned.get("bot_token")
        if token and not token.startswith("xoxb-"):
            self.add_error("bot_token", "A bot token starts with xoxb-.")
        return cleaned


@admin.register(SlackWorkspace)
class SlackWorkspaceAdmin(admin.ModelAdmin):
    form = SlackWorkspaceForm
    list_display = ["name", "team_id", "announce_channel", "channel_per_incident", "deploy_channel", "is_active"]
    fields = [
        "team_id",
        "name",
        "bot_token",
        "signing_secret",
        "announce_channel",
        "channel_per_incident",
        "channel_prefix",
        "pin_reaction",
        "command",
        "deploy_channel",
        "is_active",
    ]

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("bot_token"):
            obj.set_bot_token(form.cleaned_data["bot_token"])
        if form.cleaned_data.get("signing_secret"):
            obj.set_signing_secret(form.cleaned_data["signing_secret"])
        super().save_model(request, obj, form, change)


@admin.register(SlackUser)
class SlackUserAdmin(admin.ModelAdmin):
    """Explicit mappings, for someone whose Slack e-mail isn't their Opslog one; the others are
    found by e-mail the first time they act."""

    list_display = ["slack_user_id", "user", "workspace", "source", "created_at"]
    list_filter = ["workspace", "source"]
    list_select_related = ["user", "workspace"]
    search_fields = ["slack_user_id", "user__username", "user__email"]
    autocomplete_fields = ["user"]
    fields = ["workspace", "slack_user_id", "user", "source"]


@admin.register(SlackDeployPost)
class SlackDeployPostAdmin(admin.ModelAdmin):
    """What was posted about each deploy, read-only: a row is what keeps a retry from posting again
    (deleting one would let the next retry post the message a second time)."""

    list_display = ["deploy", "kind", "incident", "workspace", "channel", "ts", "posted_at"]
    list_filter = ["kind", "workspace"]
    list_select_related = ["deploy__service", "deploy__environment", "incident", "workspace"]
    search_fields = ["deploy__service__slug", "deploy__version", "channel", "ts"]
    fields = ["deploy", "kind", "incident", "workspace", "channel", "ts", "posted_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WriteOnlyTextarea(forms.Textarea):
    """Renders empty even when the form comes back with an error: a secret is never sent to a page."""

    def format_value(self, value):
        return None


class MattermostServerForm(forms.ModelForm):
    """The bot's token and the slash command's tokens are write-only: pasted once, never shown."""

    bot_token = forms.CharField(
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="The Opslog bot account's access token (Integrations → Bot Accounts → Create New Token).",
    )
    command_tokens = forms.CharField(
        required=False,
        strip=True,
        max_length=5000,
        widget=WriteOnlyTextarea(attrs={"rows": 2, "autocomplete": "off"}),
        help_text="The /incident slash command's token (Integrations → Slash Commands); one per line when "
        "the command is set up in several teams.",
    )

    class Meta:
        model = MattermostServer
        # The url joins through the admin's form factory, which gives it formfield_overrides.
        fields = ["name", "announce_channel", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in ("bot_token", "command_tokens"):
                self.fields[
                    name
                ].help_text = "Stored and not shown. Paste new ones to replace them; leave blank to keep."

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url", "")
        # URLField also takes ftp://; Opslog sends the bot token there, so only the web API's schemes.
        if url and not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("Use the server's https:// (or http://) address.")
        return url

    def clean_command_tokens(self) -> list[str]:
        tokens = [t.strip() for t in self.cleaned_data.get("command_tokens", "").splitlines() if t.strip()]
        if any(len(t) < 16 for t in tokens):
            raise forms.ValidationError("A slash command token is 26 characters; paste it whole.")
        return tokens

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk:
            if not cleaned.get("bot_token"):
                self.add_error("bot_token", "Paste it: Opslog can't post to Mattermost without it.")
            if "command_tokens" in cleaned and not cleaned["command_tokens"]:
                self.add_error("command_tokens", "Paste it: Opslog refuses slash commands it can't verify.")
        return cleaned


@admin.register(MattermostServer)
class MattermostServerAdmin(admin.ModelAdmin):
    form = MattermostServerForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "url", "announce_channel", "is_active", "command_url"]
    fields = ["name", "url", "bot_token", "command_tokens", "announce_channel", "is_active", "command_url"]
    readonly_fields = ["command_url"]

    @admin.display(description="Slash command request URL")
    def command_url(self, obj=None) -> str:
        path = reverse("integrations:mattermost_command")
        return f"{settings.OPSLOG_BASE_URL.rstrip('/')}{path}" if settings.OPSLOG_BASE_URL else path

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("bot_token"):
            obj.set_bot_token(form.cleaned_data["bot_token"])
        if form.cleaned_data.get("command_tokens"):
            obj.set_command_tokens(form.cleaned_data["command_tokens"])
        super().save_model(request, obj, form, change)


@admin.register(MattermostUser)
class MattermostUserAdmin(admin.ModelAdmin):
    """Explicit mappings, for someone whose Mattermost e-mail isn't their Opslog one (or is hidden
    from the bot); the others are found by e-mail the first time they act."""

    list_display = ["mattermost_user_id", "user", "server", "source", "created_at"]
    list_filter = ["server", "source"]
    list_select_related = ["user", "server"]
    search_fields = ["mattermost_user_id", "user__username", "user__email"]
    autocomplete_fields = ["user"]
    fields = ["server", "mattermost_user_id", "user", "source"]


@admin.register(MattermostIncident)
class MattermostIncidentAdmin(admin.ModelAdmin):
    """Which post announces each incident, and which channel is linked to it (unlink by clearing it)."""

    list_display = ["incident", "server", "channel_id", "post_id", "linked_channel_id", "created_at"]
    list_filter = ["server"]
    list_select_related = ["incident", "server"]
    search_fields = ["incident__title", "post_id", "linked_channel_id"]
    fields = ["server", "incident", "channel_id", "post_id", "linked_channel_id", "created_at"]
    readonly_fields = ["server", "incident", "channel_id", "post_id", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(MattermostRequest)
class MattermostRequestAdmin(admin.ModelAdmin):
    """Read-only: what Mattermost sent and what became of it."""

    list_display = ["received_at", "kind", "status", "server", "outcome"]
    list_filter = ["server", "kind", "status"]
    list_select_related = ["server"]
    fields = ["server", "kind", "key", "status", "outcome", "received_at", "payload"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TrackerConnectionForm(forms.ModelForm):
    """The API token and the webhook secret are write-only: pasted (or made) once, never shown."""

    token = forms.CharField(
        required=False,
        strip=True,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="GitHub: a fine-grained token with Issues read and write on the repository. Jira Cloud: an API "
        "token of the account whose e-mail is above. Jira Server / Data Center: a personal access token.",
    )
    webhook_secret = forms.CharField(
        required=False,
        strip=True,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="The secret the tracker's webhook signs with. Leave blank to have one made: it is shown once.",
    )

    class Meta:
        model = TrackerConnection
        fields = [
            "name",
            "kind",
            "repository",
            "flavour",
            "project_key",
            "issue_type",
            "email",
            "labels",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in ("token", "webhook_secret"):
                self.fields[
                    name
                ].help_text = "Stored and not shown. Paste a new one to replace it; leave blank to keep."

    def clean_base_url(self) -> str:
        url = self.cleaned_data.get("base_url", "")
        # URLField also takes ftp://; Opslog sends the token there, so only the web API's schemes.
        if url and not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("Use an https:// (or http://) address.")
        return url

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("token"):
            self.add_error("token", "Paste it: Opslog can't create issues without it.")
        return cleaned


@admin.register(TrackerConnection)
class TrackerConnectionAdmin(admin.ModelAdmin):
    form = TrackerConnectionForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "kind", "where", "is_demo", "is_active", "webhook_url"]
    fields = [
        "name",
        "kind",
        "base_url",
        "repository",
        "flavour",
        "project_key",
        "issue_type",
        "email",
        "labels",
        "token",
        "webhook_secret",
        "is_active",
        "is_demo",
        "webhook_url",
    ]
    readonly_fields = ["is_demo", "webhook_url"]

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj=None) -> str:
        if obj is None or not obj.pk:
            return "Shown once saved."
        name = (
            "integrations:tracker_github_hook"
            if obj.kind == TrackerConnection.Kind.GITHUB
            else "integrations:tracker_jira_hook"
        )
        path = reverse(name, args=[obj.pk])
        return f"{settings.OPSLOG_BASE_URL.rstrip('/')}{path}" if settings.OPSLOG_BASE_URL else path

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("token"):
            obj.set_token(form.cleaned_data["token"])
        made = None
        if form.cleaned_data.get("webhook_secret"):
            obj.set_webhook_secret(form.cleaned_data["webhook_secret"])
        elif not change:
            made = new_secret()
            obj.set_webhook_secret(made)
        super().save_model(request, obj, form, change)
        if made:
            messages.warning(
                request,
                f"The webhook secret (shown this once; give it to the tracker's webhook): {made} — "
                f"URL: {self.webhook_url(obj)}",
            )


@admin.register(TrackerLink)
class TrackerLinkAdmin(admin.ModelAdmin):
    """What each remediation's issue is, and why one failed. Made from the post-mortem page."""

    list_display = ["remediation", "connection", "state", "issue_key", "attempts", "updated_at"]
    list_filter = ["state", "connection"]
    list_select_related = ["remediation", "connection"]
    readonly_fields = [
        "remediation",
        "connection",
        "state",
        "issue_key",
        "url",
        "last_error",
        "attempts",
        "created_at",
        "updated_at",
        "linked_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
