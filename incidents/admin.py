from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from taggit.admin import TagAdmin as TaggitTagAdmin
from taggit.models import Tag

from incidents import services
from incidents.models import Incident, IncidentDeploy, TaggedIncident, TimelineEntry

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
        "tag_list",
    ]
    # Tags change on the incident's page and the API (incidents.services.clean_tags, the timeline).
    exclude = ["services", "tags"]
    inlines = [IncidentDeployInline, TimelineEntryInline]

    @admin.display(description="Services")
    def services_list(self, incident):
        return ", ".join(s.slug for s in incident.services.all()) or "—"

    @admin.display(description="Tags")
    def tag_list(self, incident):
        return ", ".join(incident.tag_names) or "—"

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


# taggit's own Tag admin merges tags through its generic TaggedItem, which incidents don't use, and
# deletes a tag with every incident's use of it. This one shows the uses and keeps tags in use.
admin.site.unregister(Tag)


class TagForm(forms.ModelForm):
    """A renamed tag keeps the rules of tags typed on incidents: one spelling in any case."""

    class Meta:
        model = Tag
        fields = ["name", "slug"]

    def clean_name(self):
        try:
            names = services.clean_tags([self.cleaned_data["name"]])
        except ValidationError as error:
            raise ValidationError(error.message_dict["tags"]) from None
        if not names:
            raise ValidationError("Give the tag a name.")
        clash = Tag.objects.filter(name__iexact=names[0]).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise ValidationError(f"“{clash.name}” already exists: tags differing only in case are one tag.")
        return names[0]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    form = TagForm
    list_display = ["name", "slug", "incident_count"]
    search_fields = ["name", "slug"]
    ordering = ["name", "slug"]
    prepopulated_fields = TaggitTagAdmin.prepopulated_fields

    def get_queryset(self, request):
        uses = Count("incidents_taggedincident_items")
        return super().get_queryset(request).annotate(incident_count=uses)

    @admin.display(description="Incidents", ordering="incident_count")
    def incident_count(self, tag):
        query = urlencode({"tag": tag.name, "archived": "all"})
        return format_html('<a href="{}?{}">{}</a>', reverse("incidents:list"), query, tag.incident_count)

    def get_deleted_objects(self, objs, request):
        """A tag still on incidents is protected: Django's delete page and the bulk action then
        refuse, listing the incidents to untag first (on their pages, so the timeline records it)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        uses = (
            TaggedIncident.objects.filter(tag__in=[obj.pk for obj in objs])
            .select_related("tag", "content_object")
            .order_by("tag__name", "content_object_id")
        )
        in_use = [
            f"Tag “{use.tag.name}” is on incident #{use.content_object_id} {use.content_object.title}: "
            "remove it there first"
            for use in uses[:100]
        ]
        return deleted, counts, perms_needed, list(protected) + in_use
