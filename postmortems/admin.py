from django.contrib import admin

from postmortems.models import PostMortem, PostMortemRevision, Remediation


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
