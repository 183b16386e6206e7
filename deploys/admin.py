from django.contrib import admin

from django.db import transaction

from deploys.models import ChangeRecord, Deploy, DeployCommit, DeployNotification, Environment, Service
from deploys.services import commit_deliveries_refresh, deploy_shas


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "dev_team", "ops_contact", "created_at"]
    search_fields = ["slug", "name", "dev_team", "ops_contact"]


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_production"]
    list_filter = ["is_production"]
    search_fields = ["slug", "name"]


class DeployCommitInline(admin.TabularInline):
    model = DeployCommit
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
    list_display = ["deployed_at", "service", "environment", "version", "previous_version", "deployer", "status"]
    list_filter = ["status", "environment", "service"]
    list_select_related = ["service", "environment"]
    search_fields = ["version", "deployer", "message", "external_id"]
    date_hierarchy = "deployed_at"
    raw_id_fields = ["change_record"]
    inlines = [DeployCommitInline]


@admin.register(DeployCommit)
class DeployCommitAdmin(RefreshesDeliveries, admin.ModelAdmin):
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
