from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deploys.api.serializers import ChangeRecordSerializer, PlainChoiceField
from incidents.api.serializers import ONE_LINE
from incidents.models import Incident
from plumbing.fields import RANGE_MESSAGE, AwareDateTimeField, is_plausible
from plumbing.markdown import POSTMORTEM_SECTION_MAX_LENGTH, tracker_links
from plumbing.serializers import READ_ONLY, StrictInputSerializer
from plumbing.trackers import tracker_ref_url
from postmortems.blame import find_blame
from postmortems.models import ContributingFactor, PostMortem, PostMortemRevision, Remediation
from postmortems.services import FACTOR_NOTE_MAX_LENGTH, FACTORS, MAX_FACTORS, POSTMORTEM_EDITABLE, REMEDIATION_EDITABLE


def _plausible_date(value):
    if value is not None and not is_plausible(value):
        raise serializers.ValidationError(RANGE_MESSAGE)
    return value


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
        for name in [*POSTMORTEM_EDITABLE, FACTORS]:
            keys[name] = "Start the post-mortem first, then write it with PATCH /api/postmortems/{id}/."
        return keys


def _section() -> serializers.CharField:
    # Markdown kept exactly as written: leading spaces and blank lines mean something.
    return serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=POSTMORTEM_SECTION_MAX_LENGTH,
        help_text="Markdown.",
    )


class FactorEntrySerializer(StrictInputSerializer):
    """One contributing factor a post-mortem names, with a short note on how it contributed."""

    factor = serializers.CharField(
        max_length=50, help_text="The factor's slug (GET /api/factors/), e.g. monitoring-gap."
    )
    note = serializers.CharField(
        max_length=FACTOR_NOTE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        validators=ONE_LINE,
        help_text=f"How it contributed: one line, up to {FACTOR_NOTE_MAX_LENGTH} characters.",
    )


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
    no_cause_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=5000,
        help_text="Why no deploy is linked as the cause, when none is (the publish checklist asks).",
    )
    factors = FactorEntrySerializer(
        many=True,
        required=False,
        max_length=MAX_FACTORS,
        help_text="Every contributing factor it names, replacing the list: each once, active ones only (an "
        "archived factor the post-mortem already names may stay). [] names none.",
    )

    @property
    def read_only_keys(self):
        return _postmortem_read_only(writable=set(self.fields))

    def changes(self) -> dict:
        changes = {name: value for name, value in self.validated_data.items() if name not in ("version", FACTORS)}
        if FACTORS in self.validated_data:
            changes[FACTORS] = [dict(entry) for entry in self.validated_data[FACTORS]]
        return changes


class PostMortemStatusSerializer(StrictInputSerializer):
    status = PlainChoiceField(PostMortem.Status.choices)
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version you looked at; a 409 if someone saved since."
    )
    confirm = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Publish even though the publish checklist has problems (without it, a 400 lists them).",
    )


class ChecklistProblemSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="blame_language, empty_section, no_contributing_factor, remediation_without_owner, "
        "remediation_without_due_date or no_causing_deploy."
    )
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True, help_text="The section or field it is about.")
    remediation = serializers.IntegerField(allow_null=True, help_text="The remediation's id, for its problems.")
    fix_url = serializers.SerializerMethodField(help_text="The page (and field) where it is fixed.")

    def get_fix_url(self, problem) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(problem.fix_url) if request else problem.fix_url


class PublishChecklistSerializer(serializers.Serializer):
    ready = serializers.BooleanField(help_text="True when there is nothing to look at before publishing.")
    problems = ChecklistProblemSerializer(many=True)


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
        """The tracker_ref itself when it is a web address, else OPSLOG_TRACKER_URL with it when it is a
        tracker key such as OPS-123; null otherwise."""
        return tracker_ref_url(remediation.tracker_ref)

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


class PostMortemFactorSerializer(serializers.Serializer):
    factor = serializers.CharField(source="factor.slug", help_text="The factor's slug.")
    note = serializers.CharField(help_text="How it contributed.")


class ContributingFactorSerializer(serializers.ModelSerializer):
    """One entry of the contributing-factor taxonomy that admins keep."""

    archived = serializers.BooleanField(
        source="is_archived", read_only=True, help_text="No longer offered; kept where it was named."
    )
    archived_at = AwareDateTimeField(read_only=True, allow_null=True)
    postmortems = serializers.IntegerField(
        source="postmortem_count", read_only=True, help_text="How many post-mortems name it."
    )

    class Meta:
        model = ContributingFactor
        fields = ["slug", "name", "description", "position", "archived", "archived_at", "postmortems"]
        read_only_fields = fields


class ContributingFactorInputSerializer(StrictInputSerializer):
    """A contributing factor as an admin adds or changes it (slug only when adding)."""

    slug = serializers.SlugField(max_length=50, help_text="Used in filters and the API, e.g. monitoring-gap.")
    name = serializers.CharField(max_length=80, validators=ONE_LINE)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True, validators=ONE_LINE)
    position = serializers.IntegerField(
        min_value=0, max_value=32767, required=False, help_text="Lower comes first in the picker and in charts."
    )

    @property
    def read_only_keys(self):
        keys = {key: READ_ONLY for key in ContributingFactorSerializer.Meta.fields if key not in self.fields}
        keys["archived"] = "Archive with POST /api/factors/{slug}/archive/, restore with …/restore/."
        return keys


class ContributingFactorUpdateSerializer(ContributingFactorInputSerializer):
    def get_fields(self):
        fields = super().get_fields()
        del fields["slug"]
        for field in fields.values():
            field.required = False
        return fields

    @property
    def read_only_keys(self):
        keys = super().read_only_keys
        keys["slug"] = "A factor's slug stays as it was made: revisions and links name it."
        return keys


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
    factors = serializers.SerializerMethodField()
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
            "no_cause_reason",
            "factors",
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
        return {name: getattr(postmortem, f"{name}_html") for name in PostMortem.SECTION_FIELDS}

    @extend_schema_field(PostMortemBlameHintsSerializer)
    def get_blame_hints(self, postmortem: PostMortem) -> dict:
        return {
            name: [
                {"start": h.start, "end": h.end, "text": h.text, "message": h.message}
                for h in find_blame(getattr(postmortem, name))
            ]
            for name in PostMortem.SECTION_FIELDS
        }

    @extend_schema_field(PostMortemFactorSerializer(many=True))
    def get_factors(self, postmortem: PostMortem) -> list[dict]:
        """The contributing factors it names, in the taxonomy's order, from the prefetched links."""
        return postmortem.factor_list()

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
