from django import forms
from django.contrib import admin, messages
from django.db import transaction

from deploys import contract, outbox, tasks
from deploys.models import (
    ApiToken,
    ChangeRecord,
    Deploy,
    DeployCommit,
    Environment,
    IngestToken,
    OutboxMessage,
    Service,
)
from deploys.services import (
    commit_deliveries_refresh,
    deploy_shas,
    ingest_token_create,
    ingest_token_revoke,
    service_delete,
    service_delete_refusal,
    service_set_archived,
)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    """A service in use is archived, not deleted (deploys.services.service_delete_refusal): the delete
    page and the bulk action list it as protected, with what uses it."""

    list_display = ["slug", "name", "dev_team", "ops_contact", "created_at", "archived_at"]
    list_filter = [("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["slug", "name", "dev_team", "ops_contact"]
    readonly_fields = ["created_at", "archived_at"]
    actions = ["archive", "restore"]

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        refusals = [refusal for service in objs if (refusal := service_delete_refusal(service=service))]
        if refusals:
            # Django would first say the user lacks permission to delete deploys, which reads as a
            # permission problem; the refusal says what uses the service and what to do instead.
            perms_needed = set()
            # The refusal first; a service with years of deploys would otherwise list them all above it.
            shown = list(protected)[:10]
            more = [f"… and {len(protected) - len(shown)} more"] if len(protected) > len(shown) else []
            return deleted, counts, perms_needed, [*refusals, *shown, *more]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        service_delete(service=obj)

    def delete_queryset(self, request, queryset):
        for service in queryset:
            service_delete(service=service)

    @admin.action(
        description="Archive the selected services (no longer offered for new records)", permissions=["change"]
    )
    def archive(self, request, queryset):
        for service in queryset:
            service_set_archived(service=service, archived=True)
        messages.success(request, f"Archived {queryset.count()} service(s).")

    @admin.action(description="Restore the selected archived services", permissions=["change"])
    def restore(self, request, queryset):
        for service in queryset:
            service_set_archived(service=service, archived=False)
        messages.success(request, f"Restored {queryset.count()} service(s).")


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


class NeverDeleted:
    """Deploys, their commits and change records are never deleted, here as in the API (issue #14):
    they are what the numbers are counted from. Without the permission, the delete page is a 403 and
    the bulk "Delete selected" action and an inline's delete checkboxes are gone."""

    def has_delete_permission(self, request, obj=None):
        return False


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
        if isinstance(cleaned.get("sha"), str):
            cleaned["sha"] = contract.normalise_sha(cleaned["sha"])
        values = {name: cleaned[name] for name in contract.API.commit if name in cleaned}
        _add_problems(self, contract.commit_problems(values))
        return cleaned


class DeployCommitInline(NeverDeleted, admin.TabularInline):
    model = DeployCommit
    form = DeployCommitForm
    extra = 0
    exclude = ["first_delivered_at", "lead_seconds"]


class RefreshesDeliveries(NeverDeleted):
    """An edit in the admin (a status, a time, a sha) can change which deploy shipped a commit
    first: recompute those shas' first-delivery fields in the same transaction."""

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


@admin.register(ChangeRecord)
class ChangeRecordAdmin(NeverDeleted, admin.ModelAdmin):
    list_display = ["title", "kind", "service", "owner", "planned_at"]
    list_filter = ["kind", "service"]
    search_fields = ["title", "description", "owner"]
    raw_id_fields = ["created_by"]


# --- Integrations -------------------------------------------------------------------------------


@admin.register(IngestToken)
class IngestTokenAdmin(admin.ModelAdmin):
    """Adding a token shows its key once; revoking keeps the row. Tokens are never edited or
    deleted, so who could post deploys, and when, stays on record."""

    list_display = ["name", "key_start", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "key_start"]
    fields = [
        "name",
        "services",
        "may_create_services",
        "key_start",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    ]
    filter_horizontal = ["services"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # Made once, then only revoked: a token's name and scope are what it was given out with.
        made = ["key_start", "created_at", "created_by", "last_used_at", "revoked_at"]
        return ["name", "services", "may_create_services", *made] if obj else made

    def save_model(self, request, obj, form, change):
        if change:
            return
        token, key = ingest_token_create(
            name=form.cleaned_data["name"],
            services=form.cleaned_data["services"],
            may_create_services=form.cleaned_data["may_create_services"],
            by=request.user,
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

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "services":
            kwargs["queryset"] = Service.objects.active()  # a new token isn't scoped to an archived service
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset:
            ingest_token_revoke(token=token)
        messages.success(request, f"Revoked {queryset.count()} token(s).")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """People's API tokens, without their keys (only digests are stored): who has one, since when, how
    its key starts. Each person makes theirs at /accounts/token/; deleting one here ends it at once."""

    list_display = ["user", "key_start", "created_at"]
    search_fields = ["user__username", "key_start"]
    fields = ["user", "key_start", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Outbox ---------------------------------------------------------------------------------------


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Outbound side effects (deploy notices…) as they stand: read-only, written and marked by the
    workers alone. Given-up (or pending) messages can be sent again now."""

    list_display = ["created_at", "kind", "key", "status", "attempts", "last_error", "next_attempt_at", "sent_at"]
    list_filter = ["status", "kind"]
    search_fields = ["key"]
    date_hierarchy = "created_at"
    actions = ["send_again"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_send_permission(self, request):
        # The rows are read-only; sending one again is what changing it means here.
        return request.user.has_perm("deploys.change_outboxmessage")

    @admin.action(description="Send the selected messages again now", permissions=["send"])
    def send_again(self, request, queryset):
        ids = outbox.send_again(message_ids=queryset.values_list("pk", flat=True))
        for message_id in ids:
            transaction.on_commit(lambda message_id=message_id: tasks.queue_outbox_message(message_id))
        messages.success(request, f"Queued {len(ids)} message(s) to be sent again (sent ones are left alone).")
