from django.contrib import admin

from incidents.models import Incident, IncidentDeploy, PostMortem, PostMortemRevision, Remediation, TimelineEntry


class IncidentDeployInline(admin.TabularInline):
    model = IncidentDeploy
    extra = 0
    raw_id_fields = ["deploy", "created_by"]


class TimelineEntryInline(admin.TabularInline):
    model = TimelineEntry
    extra = 0
    fields = ["at", "kind", "text", "author"]
    readonly_fields = ["at", "kind", "text", "author"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "severity", "started_at", "detected_at", "resolved_at", "source"]
    list_filter = ["severity", "detected_by", "services"]
    search_fields = ["title", "summary", "external_id"]
    date_hierarchy = "started_at"
    filter_horizontal = ["services"]
    raw_id_fields = ["created_by", "updated_by"]
    inlines = [IncidentDeployInline, TimelineEntryInline]


@admin.register(IncidentDeploy)
class IncidentDeployAdmin(admin.ModelAdmin):
    list_display = ["incident", "deploy", "relation", "created_at", "created_by"]
    list_filter = ["relation"]
    raw_id_fields = ["incident", "deploy", "created_by"]


@admin.register(TimelineEntry)
class TimelineEntryAdmin(admin.ModelAdmin):
    list_display = ["incident", "at", "kind", "text", "author"]
    list_filter = ["kind"]
    search_fields = ["text"]
    raw_id_fields = ["incident", "author"]


class RemediationInline(admin.TabularInline):
    model = Remediation
    extra = 0
    raw_id_fields = ["owner"]
    fields = ["kind", "description", "owner", "owner_name", "due_date", "status", "wont_do_reason", "tracker_ref"]


@admin.register(PostMortem)
class PostMortemAdmin(admin.ModelAdmin):
    list_display = ["incident", "status", "facilitator", "meeting_date", "version", "updated_at"]
    list_filter = ["status"]
    search_fields = ["incident__title", "summary"]
    raw_id_fields = ["incident", "created_by", "updated_by"]
    readonly_fields = ["version"]
    inlines = [RemediationInline]


@admin.register(PostMortemRevision)
class PostMortemRevisionAdmin(admin.ModelAdmin):
    list_display = ["postmortem", "version", "saved_at", "saved_by"]
    raw_id_fields = ["postmortem", "saved_by"]

    def has_change_permission(self, request, obj=None):
        return False  # history is never rewritten


@admin.register(Remediation)
class RemediationAdmin(admin.ModelAdmin):
    list_display = ["description", "kind", "owner", "owner_name", "due_date", "status", "tracker_ref"]
    list_filter = ["kind", "status"]
    search_fields = ["description", "owner_name", "tracker_ref"]
    raw_id_fields = ["postmortem", "owner"]
