from django.contrib import admin

from reports.models import SummarySent


@admin.register(SummarySent)
class SummarySentAdmin(admin.ModelAdmin):
    """Read-only record of the monthly summaries beat sent. Deleting one lets beat send that month
    again (`send_monthly_summary` with a month sends by hand at any time)."""

    list_display = ["month", "sent_at", "recipients"]
    readonly_fields = ["month", "sent_at", "recipients"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
