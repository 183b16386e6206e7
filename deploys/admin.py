from django.contrib import admin

from deploys.models import ChangeRecord, Deploy, DeployCommit, DeployNotification, Environment, Service


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


@admin.register(Deploy)
class DeployAdmin(admin.ModelAdmin):
    list_display = ["deployed_at", "service", "environment", "version", "previous_version", "deployer", "status"]
    list_filter = ["status", "environment", "service"]
    list_select_related = ["service", "environment"]
    search_fields = ["version", "deployer", "message", "external_id"]
    date_hierarchy = "deployed_at"
    raw_id_fields = ["change_record"]
    inlines = [DeployCommitInline]


@admin.register(DeployCommit)
class DeployCommitAdmin(admin.ModelAdmin):
    list_display = ["sha", "authored_at", "deploy"]
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
