from django.contrib import admin

from incidents import services
from incidents.models import Incident, IncidentDeploy, TimelineEntry

# The admin shows incidents' history but doesn't change it: timestamps, severity, services and
# deploy links change through the incident pages and the API, which write the timeline.


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class IncidentDeployInline(ReadOnlyMixin, admin.TabularInline):
    model = IncidentDeploy
    extra = 0
    fields = ["deploy", "relation", "note", "created_at", "created_by"]
    readonly_fields = fields


class TimelineEntryInline(ReadOnlyMixin, admin.TabularInline):
    model = TimelineEntry
    extra = 0
    fields = ["at", "kind", "text", "author"]
    readonly_fields = fields


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "severity", "started_at", "detected_at", "resolved_at", "source", "archived_at"]
    list_filter = ["severity", "detected_by", "services", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "summary", "external_id"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "severity",
        "services_list",
        "started_at",
        "detected_at",
        "acknowledged_at",
        "mitigated_at",
        "resolved_at",
        "source",
        "external_id",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "archived_at",
        "archived_by",
        "archive_reason",
    ]
    exclude = ["services"]
    inlines = [IncidentDeployInline, TimelineEntryInline]

    @admin.display(description="Services")
    def services_list(self, incident):
        return ", ".join(s.slug for s in incident.services.all()) or "—"

    def has_add_permission(self, request):
        return False  # filed from /incidents/new/ or the API, so the timeline starts

    def save_model(self, request, obj, form, change):
        # Through the service, so even an admin's edit lands in the timeline.
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in services.EDITABLE}
        services.incident_update(incident=obj, changes=changes, by=request.user)

    def has_delete_permission(self, request, obj=None):
        # Never deleted, not even here (issue #7, data safety): one filed by mistake or twice is
        # archived from its page or the API, which keeps it restorable and out of the numbers.
        return False


@admin.register(IncidentDeploy)
class IncidentDeployAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["incident", "deploy", "relation", "created_at", "created_by"]
    list_filter = ["relation"]
    raw_id_fields = ["incident", "deploy", "created_by"]


@admin.register(TimelineEntry)
class TimelineEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["incident", "at", "kind", "text", "author"]
    list_filter = ["kind"]
    search_fields = ["text"]
    raw_id_fields = ["incident", "author"]
