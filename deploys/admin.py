import secrets

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.urls import reverse

from deploys import contract
from deploys.models import (
    ChangeRecord,
    Delivery,
    Deploy,
    DeployCommit,
    DeployNotification,
    Environment,
    IngestToken,
    Integration,
    Service,
)
from deploys.services import commit_deliveries_refresh, deploy_shas, ingest_token_create, ingest_token_revoke


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "dev_team", "ops_contact", "created_at"]
    search_fields = ["slug", "name", "dev_team", "ops_contact"]


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_production"]
    list_filter = ["is_production"]
    search_fields = ["slug", "name"]


def _add_problems(form: forms.ModelForm, problems: dict[str, list[str]]) -> None:
    # The contract's messages under the form's own fields; any other (none today) above the form.
    for name, found in problems.items():
        if name in form.fields:
            form.add_error(name, found)
        else:
            form.add_error(None, [f"{name}: {message}" for message in found])


class DeployForm(forms.ModelForm):
    """A deploy edited by hand is held to the deploy contract (deploys.contract), as every other way
    in: the rules the model's columns don't carry (message and duration limits, times) included."""

    def clean(self):
        cleaned = super().clean()
        # Only the fields that passed their own field's checks; service and environment by slug.
        values = {name: cleaned[name] for name in contract.API.deploy if name in cleaned}
        for name in ("service", "environment"):
            if cleaned.get(name) is not None:
                values[name] = cleaned[name].slug
        _add_problems(self, contract.deploy_problems(values))
        return cleaned


class DeployCommitForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        values = {name: cleaned[name] for name in contract.API.commit if name in cleaned}
        _add_problems(self, contract.commit_problems(values))
        return cleaned


class DeployCommitInline(admin.TabularInline):
    model = DeployCommit
    form = DeployCommitForm
    extra = 0
    exclude = ["first_delivered_at", "lead_seconds"]


class RefreshesDeliveries:
    """An edit in the admin (a status, a time, a sha, a deletion) can change which deploy shipped a
    commit first: recompute those shas' first-delivery fields in the same transaction."""

    def _shas(self, obj) -> list[str]:
        if obj is None:
            return []
        return deploy_shas([obj.pk] if isinstance(obj, Deploy) else [obj.deploy_id])

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        with transaction.atomic():
            before = self._shas(self.model.objects.filter(pk=object_id).first()) if object_id else []
            response = super().changeform_view(request, object_id, form_url, extra_context)
            commit_deliveries_refresh(shas=before + getattr(request, "_opslog_saved_shas", []))
        return response

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        request._opslog_saved_shas = self._shas(form.instance)

    def delete_model(self, request, obj):
        shas = self._shas(obj)
        super().delete_model(request, obj)
        commit_deliveries_refresh(shas=shas)

    def delete_queryset(self, request, queryset):
        shas = [sha for obj in queryset for sha in self._shas(obj)]
        super().delete_queryset(request, queryset)
        commit_deliveries_refresh(shas=shas)


@admin.register(Deploy)
class DeployAdmin(RefreshesDeliveries, admin.ModelAdmin):
    form = DeployForm
    list_display = ["deployed_at", "service", "environment", "version", "previous_version", "deployer", "status"]
    list_filter = ["status", "environment", "service"]
    list_select_related = ["service", "environment"]
    search_fields = ["version", "deployer", "message", "external_id"]
    date_hierarchy = "deployed_at"
    raw_id_fields = ["change_record"]
    inlines = [DeployCommitInline]


@admin.register(DeployCommit)
class DeployCommitAdmin(RefreshesDeliveries, admin.ModelAdmin):
    form = DeployCommitForm
    list_display = ["sha", "authored_at", "deploy", "first_delivered_at", "lead_seconds"]
    readonly_fields = ["first_delivered_at", "lead_seconds"]
    list_select_related = ["deploy__service", "deploy__environment"]
    search_fields = ["sha", "message"]
    raw_id_fields = ["deploy"]


@admin.register(DeployNotification)
class DeployNotificationAdmin(admin.ModelAdmin):
    list_display = ["deploy", "channel", "sent_at", "attempts", "last_error", "updated_at"]
    list_filter = ["channel", ("sent_at", admin.EmptyFieldListFilter)]
    list_select_related = ["deploy__service", "deploy__environment"]
    raw_id_fields = ["deploy"]


@admin.register(ChangeRecord)
class ChangeRecordAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "service", "owner", "planned_at"]
    list_filter = ["kind", "service"]
    search_fields = ["title", "description", "owner"]
    raw_id_fields = ["created_by"]


# --- Integrations -------------------------------------------------------------------------------


def hook_url(kind: str) -> str:
    """Where a sender of this kind posts: absolute when OPSLOG_BASE_URL is set, else the path."""
    path = reverse("hooks:receive", args=[kind])
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
        return qs.defer("body", "headers") if match and match.url_name == "deploys_delivery_changelist" else qs

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IngestToken)
class IngestTokenAdmin(admin.ModelAdmin):
    """Adding a token shows its key once; revoking keeps the row. Tokens are never edited or
    deleted, so who could post deploys, and when, stays on record."""

    list_display = ["name", "key_start", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "key_start"]
    fields = ["name", "services", "key_start", "created_at", "created_by", "last_used_at", "revoked_at"]
    filter_horizontal = ["services"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # Made once, then only revoked: a token's name and scope are what it was given out with.
        made = ["key_start", "created_at", "created_by", "last_used_at", "revoked_at"]
        return ["name", "services", *made] if obj else made

    def save_model(self, request, obj, form, change):
        if change:
            return
        token, key = ingest_token_create(
            name=form.cleaned_data["name"], services=form.cleaned_data["services"], by=request.user
        )
        obj.pk = token.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            f"The key of ingest token “{token.name}” is {key} — copy it into your CI system's secrets now "
            "(header: Authorization: Token <key>); it won't be shown again.",
        )

    def save_related(self, request, form, formsets, change):
        pass  # ingest_token_create set the services; a made token's are read-only

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset:
            ingest_token_revoke(token=token)
        messages.success(request, f"Revoked {queryset.count()} token(s).")
