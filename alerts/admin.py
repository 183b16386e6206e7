from django.contrib import admin

from alerts.models import Alert
from incidents.admin import ReadOnlyMixin


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
