from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# The strict input rules are shared with the deploy API; views import them from here too.
from deploys.api.serializers import ChangeRecordSerializer, PlainChoiceField  # noqa: F401
from deploys.models import Deploy, Service
from incidents.models import CLOCK_SKEW, Incident, IncidentDeploy, TimelineEntry
from incidents.services import IncidentInput
from plumbing.fields import AwareDateTimeField
from plumbing.markdown import render_markdown
from plumbing.serializers import StrictInputSerializer
from plumbing.validators import single_line_validator

STATUS_IS_DERIVED = "Status is derived from the timestamps: set acknowledged_at, mitigated_at or resolved_at instead."
READ_ONLY = "This field is read-only."
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


def _incident_output_keys() -> list[str]:
    return IncidentSerializer.Meta.fields


def _read_only(*, writable: set[str]) -> dict[str, str]:
    keys = {key: READ_ONLY for key in _incident_output_keys() if key not in writable}
    keys["status"] = STATUS_IS_DERIVED
    keys["causes"] = "This field is read-only: link deploys with POST /api/incidents/{id}/causes/."
    keys["remediations"] = "This field is read-only: link deploys with POST /api/incidents/{id}/remediating-deploys/."
    for key in ("archived", "archived_at", "archived_by", "archive_reason"):
        keys[key] = ARCHIVE_IS_AN_ACTION
    return keys


ARCHIVE_IS_AN_ACTION = (
    "This field is read-only: archive with POST /api/incidents/{id}/archive/ (with a reason), "
    "restore with POST /api/incidents/{id}/unarchive/."
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
    started_at = AwareDateTimeField(help_text="When the impact began.")
    detected_at = AwareDateTimeField(required=False, allow_null=True, help_text="When we knew; default now.")
    acknowledged_at = AwareDateTimeField(required=False, allow_null=True)
    mitigated_at = AwareDateTimeField(required=False, allow_null=True)
    resolved_at = AwareDateTimeField(required=False, allow_null=True)
    detected_by = serializers.ChoiceField(choices=Incident.DetectedBy.choices, default=Incident.DetectedBy.MONITORING)
    detection_source = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", validators=ONE_LINE
    )
    summary = serializers.CharField(required=False, allow_blank=True, default="", help_text="Markdown.")
    commander = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", validators=ONE_LINE)
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
    started_at = AwareDateTimeField()
    detected_at = AwareDateTimeField(allow_null=True)
    acknowledged_at = AwareDateTimeField(allow_null=True, help_text="Set it to acknowledge; null clears it.")
    mitigated_at = AwareDateTimeField(allow_null=True)
    resolved_at = AwareDateTimeField(allow_null=True)
    detected_by = serializers.ChoiceField(choices=Incident.DetectedBy.choices)
    detection_source = serializers.CharField(max_length=200, allow_blank=True, validators=ONE_LINE)
    summary = serializers.CharField(allow_blank=True, help_text="Markdown.")
    commander = serializers.CharField(max_length=200, allow_blank=True, validators=ONE_LINE)
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


class StampInputSerializer(StrictInputSerializer):
    at = AwareDateTimeField(required=False, help_text="When; default now. A stage already stamped keeps its time.")


def _not_in_future(value):
    if value > timezone.now() + CLOCK_SKEW:
        raise serializers.ValidationError("A note's time can't be in the future.")
    return value


class NoteInputSerializer(StrictInputSerializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=True, help_text="The note; Markdown-free text.")
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
        fields = ["id", "at", "kind", "kind_label", "text", "changes", "author", "created_at"]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer):
    """An incident as the API shows it. Durations are in seconds, unrounded; null until both ends exist."""

    url = serializers.HyperlinkedIdentityField(view_name="api:incident-detail")
    html_url = serializers.SerializerMethodField()
    severity_label = serializers.CharField(source="get_severity_display", read_only=True)
    status = DerivedStatusField(read_only=True)
    services = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
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
        return render_markdown(incident.summary)

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


# --- Post-mortems ---------------------------------------------------------------------------------

import difflib  # noqa: E402

from django.contrib.auth import get_user_model  # noqa: E402

from incidents.blame import find_blame  # noqa: E402
from incidents.models import PostMortem, PostMortemRevision, Remediation  # noqa: E402
from incidents.selectors import FIELD_HEADINGS  # noqa: E402
from incidents.services import POSTMORTEM_EDITABLE, REMEDIATION_EDITABLE  # noqa: E402
from plumbing.fields import RANGE_MESSAGE, is_plausible  # noqa: E402
from plumbing.markdown import tracker_links, tracker_url  # noqa: E402


def _plausible_date(value):
    if value is not None and not is_plausible(value):
        raise serializers.ValidationError(RANGE_MESSAGE)
    return value


def _diff_text(value) -> str:
    """A content value as the text a diff compares: Markdown as is, dates in ISO, booleans in JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def unified_diffs(old: dict, new: dict, *, old_label: str, new_label: str, fields=None) -> dict[str, str]:
    """`{field: unified diff}` for each field whose text differs between two contents, in the
    write-up's order. `fields` limits it to some fields."""
    diffs = {}
    for name in FIELD_HEADINGS:
        if fields is not None and name not in fields:
            continue
        before, after = _diff_text(old.get(name)), _diff_text(new.get(name))
        if before == after:
            continue
        lines = difflib.unified_diff(
            before.splitlines(), after.splitlines(), f"{name} ({old_label})", f"{name} ({new_label})", lineterm=""
        )
        diffs[name] = "\n".join(lines) + "\n"
    return diffs


def _postmortem_read_only(writable: set[str]) -> dict[str, str]:
    keys = {key: READ_ONLY for key in PostMortemSerializer.Meta.fields if key not in writable}
    keys["incident"] = "A post-mortem stays with its incident."
    keys["status"] = "Change the status with POST /api/postmortems/{id}/status/."
    keys["remediations"] = "Add and change remediations under /api/remediations/."
    keys["change_records"] = (
        "Change records come from the deploys that caused the incident: attach one with "
        "POST /api/deploys/{id}/change-record/."
    )
    return keys


class PostMortemCreateSerializer(StrictInputSerializer):
    incident = serializers.PrimaryKeyRelatedField(
        queryset=Incident.objects.all(),
        help_text="The incident's id. Starting a post-mortem that exists returns it.",
        error_messages={
            "does_not_exist": "No incident with id {pk_value}.",
            "incorrect_type": "Give the incident's id, a number.",
        },
    )

    @property
    def read_only_keys(self):
        keys = _postmortem_read_only(writable={"incident"})
        for name in POSTMORTEM_EDITABLE:
            keys[name] = "Start the post-mortem first, then write it with PATCH /api/postmortems/{id}/."
        return keys


def _section() -> serializers.CharField:
    # Markdown kept exactly as written: leading spaces and blank lines mean something.
    return serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, help_text="Markdown.")


class PostMortemUpdateSerializer(StrictInputSerializer):
    """The fields a PATCH may change (services.POSTMORTEM_EDITABLE), and the version they were edited on.

    Used without DRF's partial mode, so that `version` stays required; every other field is optional."""

    version = serializers.IntegerField(
        min_value=1,
        help_text="The version you edited (from the post-mortem as you loaded it). If someone saved since, "
        "the answer is a 409 with their text and the diff, and nothing is saved.",
        error_messages={
            "required": "Send the version you edited, from the post-mortem as you loaded it, so that a save "
            "made in between isn't overwritten."
        },
    )
    summary = _section()
    impact = _section()
    timeline_narrative = _section()
    detection = _section()
    contributing_factors = _section()
    went_well = _section()
    went_poorly = _section()
    got_lucky = _section()
    surprised = _section()
    facilitator = serializers.CharField(max_length=200, required=False, allow_blank=True, validators=ONE_LINE)
    meeting_date = serializers.DateField(
        required=False, allow_null=True, validators=[_plausible_date], help_text="YYYY-MM-DD."
    )
    no_action_needed = serializers.BooleanField(
        required=False, help_text="Publish without remediations; say why in no_action_reason."
    )
    no_action_reason = serializers.CharField(required=False, allow_blank=True)

    @property
    def read_only_keys(self):
        return _postmortem_read_only(writable=set(self.fields))

    def changes(self) -> dict:
        return {name: value for name, value in self.validated_data.items() if name != "version"}


class PostMortemStatusSerializer(StrictInputSerializer):
    status = PlainChoiceField(PostMortem.Status.choices)
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version you looked at; a 409 if someone saved since."
    )


class BlameHintSerializer(serializers.Serializer):
    start = serializers.IntegerField(
        help_text="Offset of the first character in the section's text, counted in Unicode code points."
    )
    end = serializers.IntegerField(help_text="Offset just past the last character, in code points.")
    text = serializers.CharField()
    message = serializers.CharField(help_text="Why it reads as blame, and what to write instead.")


def _per_section(name: str, field_factory, doc: str) -> type[serializers.Serializer]:
    # One property per section, so the schema names them.
    attrs = {field: field_factory() for field in PostMortem.SECTION_FIELDS}
    attrs["__doc__"] = doc
    return type(name, (serializers.Serializer,), attrs)


PostMortemHtmlSerializer = _per_section(
    "PostMortemHtmlSerializer",
    lambda: serializers.CharField(read_only=True),
    "Each section's Markdown as sanitized HTML (no script, event handler, javascript: or data: URL).",
)
PostMortemBlameHintsSerializer = _per_section(
    "PostMortemBlameHintsSerializer",
    lambda: BlameHintSerializer(many=True, read_only=True),
    "Blame language in each section, a gentle hint: it never blocks a save.",
)


class RemediationSerializer(serializers.ModelSerializer):
    """A follow-up action, for dev or for ops, tracked to done."""

    url = serializers.HyperlinkedIdentityField(view_name="api:remediation-detail")
    postmortem = serializers.IntegerField(source="postmortem_id", read_only=True)
    postmortem_url = serializers.HyperlinkedRelatedField(
        source="postmortem", view_name="api:postmortem-detail", read_only=True
    )
    incident = serializers.IntegerField(source="postmortem.incident_id", read_only=True)
    incident_title = serializers.CharField(source="postmortem.incident.title", read_only=True)
    services = serializers.SerializerMethodField()
    description_html = serializers.SerializerMethodField()
    kind = PlainChoiceField(Remediation.Kind.choices, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True)
    owner_display = serializers.CharField(read_only=True, help_text="The user's full name or username, or the name.")
    status = PlainChoiceField(Remediation.Status.choices, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    tracker_url = serializers.SerializerMethodField()
    is_overdue = serializers.SerializerMethodField()
    done_on_time = serializers.BooleanField(
        read_only=True,
        allow_null=True,
        help_text="Whether it was done on or before its due date, in the reporting time zone; null unless done "
        "with a due date.",
    )
    completed_at = AwareDateTimeField(read_only=True, allow_null=True, help_text="When it was marked done.")
    created_at = AwareDateTimeField(read_only=True)
    updated_at = AwareDateTimeField(read_only=True)

    class Meta:
        model = Remediation
        fields = [
            "id",
            "url",
            "postmortem",
            "postmortem_url",
            "incident",
            "incident_title",
            "services",
            "description",
            "description_html",
            "kind",
            "kind_label",
            "owner",
            "owner_name",
            "owner_display",
            "due_date",
            "status",
            "status_label",
            "wont_do_reason",
            "tracker_ref",
            "tracker_url",
            "is_overdue",
            "done_on_time",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_services(self, remediation: Remediation) -> list[str]:
        # From the prefetched services of the incident: no query per remediation.
        return sorted(service.slug for service in remediation.postmortem.incident.services.all())

    def get_description_html(self, remediation: Remediation) -> str:
        """The description, escaped, with tracker keys (OPS-123) as links."""
        return tracker_links(remediation.description)

    def get_tracker_url(self, remediation: Remediation) -> str | None:
        """The tracker_ref itself when it is a web address, else OPSLOG_TRACKER_URL with it; null without either."""
        ref = remediation.tracker_ref.strip()
        if not ref:
            return None
        if ref.lower().startswith(("https://", "http://")):
            return ref
        return tracker_url(ref)

    def get_is_overdue(self, remediation: Remediation) -> bool:
        """Open or in progress, and due before today (reporting time zone)."""
        return remediation.is_overdue()


User = get_user_model()


def _remediation_read_only(writable: set[str]) -> dict[str, str]:
    keys = {key: READ_ONLY for key in RemediationSerializer.Meta.fields if key not in writable}
    keys["completed_at"] = "This field is read-only: it is stamped when the status becomes done."
    keys["postmortem"] = "A remediation stays with its post-mortem."
    return keys


class RemediationInputSerializer(StrictInputSerializer):
    """A remediation as it is added. `owner` is a user's username (they get reminder emails);
    `owner_name` is just a name."""

    postmortem = serializers.PrimaryKeyRelatedField(
        queryset=PostMortem.objects.all(),
        help_text="The post-mortem's id.",
        error_messages={
            "does_not_exist": "No post-mortem with id {pk_value}.",
            "incorrect_type": "Give the post-mortem's id, a number.",
        },
    )
    description = serializers.CharField(help_text="What is to be done; tracker keys such as OPS-123 become links.")
    kind = PlainChoiceField(Remediation.Kind.choices)
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A user's username; they get reminder emails when it is due.",
        error_messages={"does_not_exist": 'No user with username "{value}".'},
    )
    owner_name = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        validators=ONE_LINE,
        help_text="…or just a name.",
    )
    due_date = serializers.DateField(
        required=False, allow_null=True, default=None, validators=[_plausible_date], help_text="YYYY-MM-DD."
    )
    status = PlainChoiceField(Remediation.Status.choices, default=Remediation.Status.OPEN)
    wont_do_reason = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Required when the status is wont_do."
    )
    tracker_ref = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        validators=ONE_LINE,
        help_text="e.g. OPS-123.",
    )

    @property
    def read_only_keys(self):
        return _remediation_read_only(writable=set(self.fields))

    def data_for_service(self) -> dict:
        return {name: value for name, value in self.validated_data.items() if name in REMEDIATION_EDITABLE}


class RemediationUpdateSerializer(RemediationInputSerializer):
    """The fields a PATCH may change (services.REMEDIATION_EDITABLE)."""

    postmortem = None

    @property
    def read_only_keys(self):
        return _remediation_read_only(writable=set(self.fields))


class FollowThroughSerializer(serializers.Serializer):
    open = serializers.IntegerField(help_text="Open or in progress.")
    overdue = serializers.IntegerField(help_text="Open or in progress, and due before today.")
    done = serializers.IntegerField()
    done_on_time = serializers.IntegerField(help_text="Done on or before the due date (reporting time zone).")
    done_late = serializers.IntegerField()
    on_time_rate = serializers.FloatField(
        allow_null=True, help_text="done_on_time ÷ (done_on_time + done_late); null when none is done with a due date."
    )


class PostMortemSerializer(serializers.ModelSerializer):
    """A post-mortem as the API shows it: each section in Markdown, its sanitized HTML and its
    blame hints; the remediations; and the change records of the deploys that caused the incident."""

    url = serializers.HyperlinkedIdentityField(view_name="api:postmortem-detail")
    html_url = serializers.SerializerMethodField()
    incident = serializers.IntegerField(source="incident_id", read_only=True)
    incident_url = serializers.HyperlinkedRelatedField(
        source="incident", view_name="api:incident-detail", read_only=True
    )
    incident_title = serializers.CharField(source="incident.title", read_only=True)
    archived = serializers.BooleanField(
        source="incident.is_archived",
        read_only=True,
        help_text="Archived with its incident: left out of the list unless `archived=true|all`.",
    )
    services = serializers.SerializerMethodField()
    status = PlainChoiceField(PostMortem.Status.choices, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    meeting_date = serializers.DateField(read_only=True, allow_null=True)
    html = serializers.SerializerMethodField()
    blame_hints = serializers.SerializerMethodField()
    remediations = RemediationSerializer(many=True, read_only=True)
    change_records = serializers.SerializerMethodField()
    published_at = AwareDateTimeField(read_only=True, allow_null=True)
    created_at = AwareDateTimeField(read_only=True)
    updated_at = AwareDateTimeField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    updated_by = serializers.CharField(source="updated_by.username", read_only=True, allow_null=True)

    class Meta:
        model = PostMortem
        fields = [
            "id",
            "url",
            "html_url",
            "incident",
            "incident_url",
            "incident_title",
            "archived",
            "services",
            "status",
            "status_label",
            "version",
            "facilitator",
            "meeting_date",
            *PostMortem.SECTION_FIELDS,
            "html",
            "blame_hints",
            "no_action_needed",
            "no_action_reason",
            "remediations",
            "change_records",
            "published_at",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
        ]
        read_only_fields = fields

    def get_html_url(self, postmortem: PostMortem) -> str:
        request = self.context.get("request")
        path = postmortem.get_absolute_url()
        return request.build_absolute_uri(path) if request else path

    def get_services(self, postmortem: PostMortem) -> list[str]:
        return sorted(service.slug for service in postmortem.incident.services.all())

    @extend_schema_field(PostMortemHtmlSerializer)
    def get_html(self, postmortem: PostMortem) -> dict:
        return {name: render_markdown(getattr(postmortem, name)) for name in PostMortem.SECTION_FIELDS}

    @extend_schema_field(PostMortemBlameHintsSerializer)
    def get_blame_hints(self, postmortem: PostMortem) -> dict:
        return {
            name: [
                {"start": h.start, "end": h.end, "text": h.text, "message": h.message}
                for h in find_blame(getattr(postmortem, name))
            ]
            for name in PostMortem.SECTION_FIELDS
        }

    @extend_schema_field(ChangeRecordSerializer(many=True))
    def get_change_records(self, postmortem: PostMortem) -> list[dict]:
        """Change records of the deploys linked as causes, from the prefetched `cause_links`
        (see the view's queryset): no query per post-mortem."""
        records = {}
        for link in postmortem.incident.cause_links:
            record = link.deploy.change_record
            if record is not None:
                records.setdefault(record.pk, record)
        ordered = sorted(records.values(), key=lambda r: (r.planned_at, r.pk))
        return ChangeRecordSerializer(ordered, many=True, context=self.context).data


class PostMortemRevisionSerializer(serializers.ModelSerializer):
    saved_at = AwareDateTimeField(read_only=True)
    saved_by = serializers.CharField(source="saved_by.username", read_only=True, allow_null=True)
    content = serializers.DictField(read_only=True, help_text="Every field a person writes, as it was after this save.")

    class Meta:
        model = PostMortemRevision
        fields = ["version", "saved_at", "saved_by", "content"]
        read_only_fields = fields


class PostMortemDiffQuerySerializer(serializers.Serializer):
    """?from=1&to=3. `to` defaults to the current version, `from` to the one before `to`."""

    def get_fields(self):
        # `from` is a Python keyword: declared here rather than as a class attribute.
        return {
            # Bounded: a database integer overflows past 2**31.
            "from": serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False),
            "to": serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False),
        }


class PostMortemDiffSerializer(serializers.Serializer):
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    from_saved_at = AwareDateTimeField()
    to_saved_at = AwareDateTimeField()
    from_saved_by = serializers.CharField(allow_null=True)
    to_saved_by = serializers.CharField(allow_null=True)
    diff = serializers.DictField(
        child=serializers.CharField(),
        help_text="{field: unified diff} for each field that differs; {} when none does.",
    )


class EditConflictSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Who saved, and that nothing of yours was saved.")
    current_version = serializers.IntegerField(help_text="Send this as `version` once you have merged.")
    your_version = serializers.IntegerField(allow_null=True, help_text="The version you sent.")
    saved_by = serializers.CharField(allow_null=True)
    saved_at = AwareDateTimeField()
    current = serializers.DictField(help_text="The post-mortem as it is now: every field a person writes.")
    diff = serializers.DictField(
        child=serializers.CharField(),
        help_text="{field: unified diff from the current text to yours}, for each field you sent that differs.",
    )
    changes_since_your_version = serializers.DictField(
        child=serializers.CharField(),
        help_text="{field: unified diff from your version to the current one}: what the others changed.",
    )


# --- The monthly alert review ------------------------------------------------------------------


class AlertReviewRowSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The alert's name (its `alertname` label).")
    fired = serializers.IntegerField(help_text="Times it started firing in the month.")
    signal = serializers.IntegerField(help_text="Of those, how many were promoted to an incident.")
    noise = serializers.IntegerField(help_text="Of those, how many were not.")
    signal_ratio = serializers.FloatField(allow_null=True, help_text="signal ÷ fired.")
    median_firing_seconds = serializers.FloatField(
        allow_null=True,
        help_text="Median of ends − starts over its resolved firings, in seconds; null if none resolved.",
    )


class AlertReviewMonthSerializer(serializers.Serializer):
    month = serializers.SerializerMethodField()
    fired = serializers.IntegerField()
    signal = serializers.IntegerField()
    noise = serializers.IntegerField()
    alerts = AlertReviewRowSerializer(source="rows", many=True, help_text="Noisiest first.")

    def get_month(self, review) -> str:
        return f"{review.month:%Y-%m}"


class AlertReviewSerializer(serializers.Serializer):
    time_zone = serializers.CharField(help_text="The reporting time zone the months are in.")
    months = AlertReviewMonthSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        # `from` is a Python keyword, so these two are added here.
        fields["from"] = serializers.CharField(help_text="The first month, YYYY-MM.")
        fields["to"] = serializers.CharField(help_text="The last month, YYYY-MM.")
        return fields
