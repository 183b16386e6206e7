import secrets

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse

from integrations.models import Delivery, Integration


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
