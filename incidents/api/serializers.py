from urllib.parse import urlencode

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deploys.models import Deploy, Service
from incidents.models import CLOCK_SKEW, Incident, IncidentDeploy, TimelineEntry
from incidents.services import TAG_MAX_LENGTH, TAGS_MAX, IncidentInput, clean_tags
from plumbing.fields import AwareDateTimeField
from plumbing.markdown import INCIDENT_SUMMARY_MAX_LENGTH, TIMELINE_NOTE_MAX_LENGTH
from plumbing.serializers import READ_ONLY, StrictInputSerializer
from plumbing.validators import single_line_validator

STATUS_IS_DERIVED = "Status is derived from the timestamps: set acknowledged_at, mitigated_at or resolved_at instead."
ONE_LINE = [single_line_validator]


class ServiceSlugsField(serializers.ListField):
    """Service slugs (`["web", "api"]`) that must exist; the answer is the Service objects."""

    child = serializers.CharField(max_length=100)

    def to_internal_value(self, data):
        slugs = list(dict.fromkeys(slug.strip().lower() for slug in super().to_internal_value(data)))
        found = Service.objects.in_bulk(slugs, field_name="slug")
        unknown = [slug for slug in slugs if slug not in found]
        if unknown:
            raise serializers.ValidationError([f'No service with slug "{slug}".' for slug in unknown])
        return [found[slug] for slug in slugs]


class TagsField(serializers.ListField):
    """Tag names (`["dns", "black-friday"]`), cleaned by the service's rule (clean_tags): trimmed,
    repeats in any case dropped, an existing tag's spelling kept; refused with a message per bad tag."""

    child = serializers.CharField(allow_blank=True, trim_whitespace=False)

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            f"Tag names, at most {TAGS_MAX}, each up to {TAG_MAX_LENGTH} characters, no commas or invisible "
            "characters. Any case: an existing tag's spelling is kept. Replaces the list.",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        names = super().to_internal_value(data)
        try:
            return clean_tags(names)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict["tags"]) from None


def _incident_output_keys() -> list[str]:
    return IncidentSerializer.Meta.fields


def _read_only(*, writable: set[str]) -> dict[str, str]:
    keys = {key: READ_ONLY for key in _incident_output_keys() if key not in writable}
    keys["status"] = STATUS_IS_DERIVED
    keys["causes"] = "This field is read-only: link deploys with POST /api/incidents/{id}/causes/."
    keys["remediations"] = "This field is read-only: link deploys with POST /api/incidents/{id}/remediating-deploys/."
    for key in ("archived", "archived_at", "archived_by", "archive_reason"):
        keys[key] = ARCHIVE_IS_AN_ACTION
    keys["roles"] = ROLES_ARE_SET_APART
    return keys


ROLES_ARE_SET_APART = (
    "This field is read-only: assign a role with POST /api/incidents/{id}/roles/ "
    '({"role": "lead", "name": "bob"}), or set commander, comms_lead or scribe.'
)


ARCHIVE_IS_AN_ACTION = (
    "This field is read-only: archive with POST /api/incidents/{id}/archive/ (with a reason), "
    "restore with POST /api/incidents/{id}/unarchive/."
)


def _role_field(help_text: str) -> serializers.CharField:
    """A role holder as filed: a name, optional."""
    return serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", validators=ONE_LINE, help_text=help_text
    )


class IncidentInputSerializer(StrictInputSerializer):
    """An incident as a person or a tool files it. Times need a UTC offset."""

    title = serializers.CharField(max_length=200, validators=ONE_LINE)
    severity = serializers.ChoiceField(
        choices=Incident.Severity.choices,
        default=Incident.Severity.SEV3,
        help_text="1 (critical) … 4 (minor); default 3.",
    )
    services = ServiceSlugsField(required=False, default=list, help_text="Slugs of affected services; each must exist.")
    tags = TagsField(required=False, default=list)
    started_at = AwareDateTimeField(help_text="When the impact began.")
    detected_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        help_text="When we knew; default now for a live incident. Required when acknowledged_at, mitigated_at or "
        "resolved_at is given (an incident entered after the fact).",
    )
    acknowledged_at = AwareDateTimeField(required=False, allow_null=True)
    mitigated_at = AwareDateTimeField(required=False, allow_null=True)
    resolved_at = AwareDateTimeField(required=False, allow_null=True)
    detected_by = serializers.ChoiceField(choices=Incident.DetectedBy.choices, default=Incident.DetectedBy.MONITORING)
    detection_source = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", validators=ONE_LINE
    )
    summary = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=INCIDENT_SUMMARY_MAX_LENGTH, help_text="Markdown."
    )
    commander = _role_field("The incident lead (incident commander): a name.")
    comms_lead = _role_field("The communications lead: a name.")
    scribe = _role_field("A name.")
    participants = serializers.ListField(
        child=serializers.CharField(max_length=200, validators=ONE_LINE), required=False, default=list
    )
    source = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        validators=ONE_LINE,
        help_text="Who files it: a tool's name.",
    )
    external_id = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        validators=ONE_LINE,
        help_text="Your idempotency key: a repeat with the same source and external_id returns the first incident.",
    )

    @property
    def read_only_keys(self):
        return _read_only(writable=set(self.fields))

    def to_incident_input(self) -> IncidentInput:
        return IncidentInput(**self.validated_data)


class IncidentUpdateSerializer(StrictInputSerializer):
    """The fields a PATCH may change (services.EDITABLE). Each change lands in the timeline."""

    title = serializers.CharField(max_length=200, validators=ONE_LINE)
    severity = serializers.ChoiceField(choices=Incident.Severity.choices)
    services = ServiceSlugsField(help_text="Slugs of affected services; each must exist. Replaces the list.")
    tags = TagsField()
    started_at = AwareDateTimeField()
    detected_at = AwareDateTimeField(allow_null=True)
    acknowledged_at = AwareDateTimeField(allow_null=True, help_text="Set it to acknowledge; null clears it.")
    mitigated_at = AwareDateTimeField(allow_null=True)
    resolved_at = AwareDateTimeField(allow_null=True)
    detected_by = serializers.ChoiceField(choices=Incident.DetectedBy.choices)
    detection_source = serializers.CharField(max_length=200, allow_blank=True, validators=ONE_LINE)
    summary = serializers.CharField(allow_blank=True, max_length=INCIDENT_SUMMARY_MAX_LENGTH, help_text="Markdown.")
    commander = serializers.CharField(
        max_length=200,
        allow_blank=True,
        validators=ONE_LINE,
        help_text='The incident lead; a change is recorded as a handover. "" clears it.',
    )
    comms_lead = serializers.CharField(max_length=200, allow_blank=True, validators=ONE_LINE)
    scribe = serializers.CharField(max_length=200, allow_blank=True, validators=ONE_LINE)
    participants = serializers.ListField(child=serializers.CharField(max_length=200, validators=ONE_LINE))

    @property
    def read_only_keys(self):
        keys = _read_only(writable=set(self.fields))
        for key in ("source", "external_id"):
            keys[key] = "This field can't be changed after filing."
        return keys


class ArchiveInputSerializer(StrictInputSerializer):
    reason = serializers.CharField(
        max_length=500,
        help_text="Why it is archived, e.g. “duplicate of #12” or “filed by mistake”.",
        error_messages={
            "required": "Say why it is archived, e.g. “duplicate of #12” or “filed by mistake”.",
            "blank": "Say why it is archived, e.g. “duplicate of #12” or “filed by mistake”.",
        },
    )


class UnarchiveInputSerializer(StrictInputSerializer):
    """No fields: the timeline records who restored it and when."""


class ReopenInputSerializer(StrictInputSerializer):
    """No fields: the timeline records who reopened it, when, and the resolution time it had."""


class RoleInputSerializer(StrictInputSerializer):
    """Hand a role over: to a name, or to nobody with "". The timeline records the handover."""

    role = serializers.ChoiceField(
        choices=Incident.Role.choices,
        help_text="lead (the incident commander), comms (communications lead) or scribe.",
        error_messages={"invalid_choice": '"{input}" is not a role: use lead, comms or scribe.'},
    )
    name = serializers.CharField(
        max_length=200,
        allow_blank=True,
        validators=ONE_LINE,
        help_text='Who takes the role: any name on one line (a username, a full name). "" clears it.',
        error_messages={"required": 'Say who takes the role, or "" to clear it.'},
    )


class StampInputSerializer(StrictInputSerializer):
    at = AwareDateTimeField(required=False, help_text="When; default now. A stage already stamped keeps its time.")


def _not_in_future(value):
    if value > timezone.now() + CLOCK_SKEW:
        raise serializers.ValidationError("A note's time can't be in the future.")
    return value


class NoteInputSerializer(StrictInputSerializer):
    text = serializers.CharField(
        allow_blank=True, trim_whitespace=True, max_length=TIMELINE_NOTE_MAX_LENGTH, help_text="The note, in Markdown."
    )
    at = AwareDateTimeField(required=False, validators=[_not_in_future], help_text="When; default now.")


class WholeIdField(serializers.PrimaryKeyRelatedField):
    """A record's id: 12 or "12", never 12.5 (which a plain lookup would quietly read as 12)."""

    def to_internal_value(self, data):
        if (
            isinstance(data, bool)
            or (isinstance(data, float))
            or (isinstance(data, str) and not data.strip().isdigit())
        ):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class LinkInputSerializer(StrictInputSerializer):
    deploy = WholeIdField(
        queryset=Deploy.objects.with_related(),
        error_messages={
            "does_not_exist": "No deploy with id {pk_value}.",
            "incorrect_type": "Give the deploy's id, a number.",
        },
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")


class SuspectQuerySerializer(serializers.Serializer):
    # A year: a longer window is no longer "suspect", and it keeps date arithmetic in range.
    window_hours = serializers.FloatField(required=False, max_value=24 * 366)

    def validate_window_hours(self, value):
        if value <= 0:
            raise serializers.ValidationError("Give a positive number of hours.")
        return value


# A plain string in the schema: an enum named "status" would clash with the deploy's and rename it.
@extend_schema_field(
    {
        "type": "string",
        "readOnly": True,
        "description": "open, acknowledged, mitigated or resolved: derived from the timestamps.",
    }
)
class DerivedStatusField(serializers.CharField):
    """open → acknowledged → mitigated → resolved: the latest stage stamped."""


class DeployLinkSerializer(serializers.Serializer):
    """A deploy linked to an incident, as a cause or as a remediation."""

    deploy = serializers.IntegerField(source="deploy.pk", read_only=True)
    url = serializers.HyperlinkedRelatedField(source="deploy", view_name="api:deploy-detail", read_only=True)
    service = serializers.CharField(source="deploy.service.slug", read_only=True)
    environment = serializers.CharField(source="deploy.environment.slug", read_only=True)
    version = serializers.CharField(source="deploy.version", read_only=True)
    previous_version = serializers.CharField(source="deploy.previous_version", read_only=True)
    deployed_at = AwareDateTimeField(source="deploy.deployed_at", read_only=True)
    note = serializers.CharField(read_only=True)
    linked_at = AwareDateTimeField(source="created_at", read_only=True)
    linked_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)


class TimelineEntrySerializer(serializers.ModelSerializer):
    at = AwareDateTimeField(read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, allow_null=True)
    created_at = AwareDateTimeField(read_only=True)

    class Meta:
        model = TimelineEntry
        fields = ["id", "at", "kind", "kind_label", "text", "changes", "author", "source", "created_at"]
        read_only_fields = fields


class RolesSerializer(serializers.Serializer):
    """Who holds each role now: a name, or "" when nobody does."""

    lead = serializers.CharField(source="commander", read_only=True, help_text="The incident lead (`commander`).")
    comms = serializers.CharField(source="comms_lead", read_only=True, help_text="The communications lead.")
    scribe = serializers.CharField(read_only=True)


class IncidentSerializer(serializers.ModelSerializer):
    """An incident as the API shows it. Durations are in seconds, unrounded; null until both ends exist."""

    url = serializers.HyperlinkedIdentityField(view_name="api:incident-detail")
    html_url = serializers.SerializerMethodField()
    severity_label = serializers.CharField(source="get_severity_display", read_only=True)
    status = DerivedStatusField(read_only=True)
    services = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    tags = serializers.ListField(
        child=serializers.CharField(),
        source="tag_names",
        read_only=True,
        help_text="Tag names, sorted without regard to case.",
    )
    started_at = AwareDateTimeField(read_only=True)
    detected_at = AwareDateTimeField(read_only=True, allow_null=True)
    acknowledged_at = AwareDateTimeField(read_only=True, allow_null=True)
    mitigated_at = AwareDateTimeField(read_only=True, allow_null=True)
    resolved_at = AwareDateTimeField(read_only=True, allow_null=True)
    summary_html = serializers.SerializerMethodField()
    deploy_related = serializers.SerializerMethodField()
    causes = serializers.SerializerMethodField()
    remediations = serializers.SerializerMethodField()
    time_to_detect_seconds = serializers.FloatField(read_only=True, allow_null=True)
    time_to_repair_seconds = serializers.FloatField(
        read_only=True, allow_null=True, help_text="resolved_at − detected_at (MTTR's measure)."
    )
    time_to_restore_seconds = serializers.FloatField(
        read_only=True, allow_null=True, help_text="resolved_at − started_at."
    )
    created_at = AwareDateTimeField(read_only=True)
    updated_at = AwareDateTimeField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    updated_by = serializers.CharField(source="updated_by.username", read_only=True, allow_null=True)
    archived = serializers.BooleanField(
        source="is_archived",
        read_only=True,
        help_text="Archived incidents are left out of the lists (unless `archived=true|all`) and of the numbers.",
    )
    archived_at = AwareDateTimeField(read_only=True, allow_null=True)
    archived_by = serializers.CharField(source="archived_by.username", read_only=True, allow_null=True)
    roles = RolesSerializer(
        source="*",
        read_only=True,
        help_text="The current holders, keyed by role; assign with POST /api/incidents/{id}/roles/.",
    )

    class Meta:
        model = Incident
        fields = [
            "id",
            "url",
            "html_url",
            "title",
            "severity",
            "severity_label",
            "status",
            "services",
            "tags",
            "started_at",
            "detected_at",
            "acknowledged_at",
            "mitigated_at",
            "resolved_at",
            "detected_by",
            "detection_source",
            "summary",
            "summary_html",
            "commander",
            "comms_lead",
            "scribe",
            "roles",
            "participants",
            "source",
            "external_id",
            "deploy_related",
            "causes",
            "remediations",
            "time_to_detect_seconds",
            "time_to_repair_seconds",
            "time_to_restore_seconds",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
            "archived",
            "archived_at",
            "archived_by",
            "archive_reason",
        ]
        read_only_fields = fields

    def get_html_url(self, incident: Incident) -> str:
        request = self.context.get("request")
        path = incident.get_absolute_url()
        return request.build_absolute_uri(path) if request else path

    def get_summary_html(self, incident: Incident) -> str:
        # Rendered and sanitized when the summary was saved (plumbing.markdown.StoredMarkdown).
        return incident.summary_html

    def _links(self, incident: Incident, relation: str) -> list[IncidentDeploy]:
        # From the prefetched deploy_links: no query per incident.
        return [link for link in incident.deploy_links.all() if link.relation == relation]

    def get_deploy_related(self, incident: Incident) -> bool:
        return bool(self._links(incident, IncidentDeploy.Relation.CAUSE))

    @extend_schema_field(DeployLinkSerializer(many=True))
    def get_causes(self, incident: Incident) -> list[dict]:
        links = self._links(incident, IncidentDeploy.Relation.CAUSE)
        return DeployLinkSerializer(links, many=True, context=self.context).data

    @extend_schema_field(DeployLinkSerializer(many=True))
    def get_remediations(self, incident: Incident) -> list[dict]:
        links = self._links(incident, IncidentDeploy.Relation.REMEDIATION)
        return DeployLinkSerializer(links, many=True, context=self.context).data


class TagSerializer(serializers.Serializer):
    """A tag in use, with how many incidents carry it (archived ones left out)."""

    name = serializers.CharField(read_only=True)
    incident_count = serializers.IntegerField(read_only=True, help_text="Incidents with this tag, not archived.")
    incidents_url = serializers.SerializerMethodField(help_text="The incident list filtered by this tag.")

    def get_incidents_url(self, tag) -> str:
        request = self.context.get("request")
        path = f"{reverse('api:incident-list')}?{urlencode({'tag': tag.name})}"
        return request.build_absolute_uri(path) if request else path


class TagQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=TAG_MAX_LENGTH,
        help_text="Tags starting with this, in any case.",
    )
