from django.contrib import admin

from incidents import services
from incidents.models import Incident, IncidentDeploy, PostMortem, PostMortemRevision, Remediation, TimelineEntry

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

    def has_delete_permission(self, request, obj=None):
        # Never deleted (issue #7, data safety): a post-mortem is archived with its incident.
        return False


@admin.register(PostMortemRevision)
class PostMortemRevisionAdmin(admin.ModelAdmin):
    list_display = ["postmortem", "version", "saved_at", "saved_by"]
    raw_id_fields = ["postmortem", "saved_by"]

    def has_change_permission(self, request, obj=None):
        return False  # history is never rewritten

    def has_delete_permission(self, request, obj=None):
        return False  # nor deleted


@admin.register(Remediation)
class RemediationAdmin(admin.ModelAdmin):
    list_display = ["description", "kind", "owner", "owner_name", "due_date", "status", "tracker_ref"]
    list_filter = ["kind", "status"]
    search_fields = ["description", "owner_name", "tracker_ref"]
    raw_id_fields = ["postmortem", "owner"]


from incidents.models import Alert  # noqa: E402


@admin.register(Alert)
class AlertAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Alerts as Alertmanager reported them; read-only here: they change only through the webhook,
    and are promoted from their page (/alerts/<id>/), which files the incident through the service."""

    list_display = ["name", "status", "starts_at", "ends_at", "fingerprint", "incident", "integration"]
    list_filter = ["status", "integration"]
    search_fields = ["name", "fingerprint"]
    date_hierarchy = "starts_at"
    raw_id_fields = ["incident", "integration"]
    readonly_fields = [
        "integration",
        "fingerprint",
        "name",
        "labels",
        "annotations",
        "starts_at",
        "ends_at",
        "status",
        "generator_url",
        "incident",
        "created_at",
        "updated_at",
    ]
