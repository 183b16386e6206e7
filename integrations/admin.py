import secrets

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse

from integrations.models import Delivery, Integration, SlackUser, SlackWorkspace


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

    list_display = ["received_at", "kind", "event", "status", "attempts", "integration"]
    list_filter = ["kind", "status", "integration"]
    list_select_related = ["integration"]
    search_fields = ["delivery_id", "event", "outcome"]
    date_hierarchy = "received_at"
    fields = [
        "integration",
        "kind",
        "event",
        "delivery_id",
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
    list_display = ["name", "team_id", "announce_channel", "channel_per_incident", "is_active"]
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
