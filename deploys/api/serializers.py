import re
from collections.abc import Mapping

from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from deploys.fields import FUTURE_SLACK, AwareDateTimeField
from deploys.models import ChangeRecord, Deploy, DeployCommit, Service, single_line_validator, slug_validator
from deploys.services import CommitInput, DeployInput
# A leaf module (Markdown → sanitized HTML), shared by every write-up.
from incidents.markdown import render_markdown

MAX_BULK = 1000


class CommitInputSerializer(serializers.Serializer):
    sha = serializers.CharField(max_length=64, validators=[single_line_validator])
    authored_at = AwareDateTimeField(required=False, allow_null=True)
    message = serializers.CharField(required=False, allow_blank=True, default="")


class DeployInputSerializer(serializers.Serializer):
    """A deploy as a CI system reports it. Unknown service and environment slugs are created."""

    service = serializers.CharField(max_length=100, help_text="Service slug, e.g. `web`.")
    environment = serializers.CharField(max_length=100, help_text="Environment slug, e.g. `production`.")
    version = serializers.CharField(max_length=200, validators=[single_line_validator])
    previous_version = serializers.CharField(
        max_length=200,
        validators=[single_line_validator],
        required=False,
        allow_blank=True,
        help_text="Omit it to take the version of the latest earlier successful deploy here.",
    )
    deployer = serializers.CharField(max_length=200, validators=[single_line_validator])
    message = serializers.CharField(required=False, allow_blank=True, default="")
    deployed_at = AwareDateTimeField(required=False, help_text="When it went live; default now.")
    duration_seconds = serializers.FloatField(required=False, allow_null=True, min_value=0)
    status = serializers.ChoiceField(choices=Deploy.Status.choices, default=Deploy.Status.SUCCEEDED)
    diff_url = serializers.URLField(max_length=1000, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        validators=[single_line_validator],
        help_text="Your idempotency key: a repeat with the same service and external_id returns the first deploy.",
    )
    commits = CommitInputSerializer(many=True, required=False, default=list)
    change_record = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The id of the change record (the four questions) this deploy ships, if it has one.",
    )

    def _slug(self, value: str) -> str:
        value = value.strip().lower()
        slug_validator(value)
        return value

    def validate_deployed_at(self, value):
        # A little slack for CI clocks running ahead of ours.
        if value > timezone.now() + FUTURE_SLACK:
            raise serializers.ValidationError("A deploy can't have gone live in the future.")
        return value

    def validate_service(self, value):
        return self._slug(value)

    def validate_environment(self, value):
        return self._slug(value)

    def validate_change_record(self, value):
        if value is None:
            return None
        # One instance validates every item of a bulk request: each id is looked up once.
        if not hasattr(self, "_change_record_exists"):
            self._change_record_exists = {}
        if value not in self._change_record_exists:
            self._change_record_exists[value] = ChangeRecord.objects.filter(pk=value).exists()
        if not self._change_record_exists[value]:
            raise serializers.ValidationError(f"No change record with id {value}.")
        return value

    def to_deploy_input(self) -> DeployInput:
        return to_deploy_input(self.validated_data)


def to_deploy_input(data: dict) -> DeployInput:
    return DeployInput(
        service=data["service"],
        environment=data["environment"],
        version=data["version"],
        previous_version=data.get("previous_version"),
        deployer=data["deployer"],
        message=data["message"],
        deployed_at=data.get("deployed_at"),
        duration_seconds=data.get("duration_seconds"),
        status=data["status"],
        diff_url=data["diff_url"],
        external_id=data["external_id"],
        commits=[CommitInput(**commit) for commit in data["commits"]],
        change_record_id=data.get("change_record"),
    )


class DeployBulkInputSerializer(serializers.Serializer):
    deploys = DeployInputSerializer(many=True, allow_empty=False, max_length=MAX_BULK)

    def validate_deploys(self, items):
        # Errors keyed by item index, the way DRF reports the items' own field errors.
        seen: dict[tuple[str, str], int] = {}
        errors = {}
        for index, item in enumerate(items):
            if not item["external_id"]:
                continue
            key = (item["service"], item["external_id"])
            if key in seen:
                errors[str(index)] = {
                    "external_id": [f"Repeats the external_id of item {seen[key]} for the same service."]
                }
            seen.setdefault(key, index)
        if errors:
            raise serializers.ValidationError(errors)
        return items


class DeployCommitSerializer(serializers.ModelSerializer):
    authored_at = AwareDateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = DeployCommit
        fields = ["sha", "authored_at", "message"]


class DeploySerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:deploy-detail")
    html_url = serializers.SerializerMethodField()
    service = serializers.CharField(source="service.slug", read_only=True)
    environment = serializers.CharField(source="environment.slug", read_only=True)
    production = serializers.BooleanField(source="environment.is_production", read_only=True)
    deployed_at = AwareDateTimeField(read_only=True)
    created_at = AwareDateTimeField(read_only=True)
    commits = DeployCommitSerializer(many=True, read_only=True)
    # Not a URLField: a deploy recorded without a diff link has "" here, which isn't a URI.
    diff_url = serializers.CharField(read_only=True, help_text="A link to the deploy's diff, or empty.")
    change_record = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The id of the change record this deploy ships, or null."
    )

    class Meta:
        model = Deploy
        fields = [
            "id",
            "url",
            "html_url",
            "service",
            "environment",
            "production",
            "version",
            "previous_version",
            "deployer",
            "message",
            "deployed_at",
            "duration_seconds",
            "status",
            "diff_url",
            "external_id",
            "commits",
            "change_record",
            "created_at",
        ]
        read_only_fields = fields

    def get_html_url(self, deploy: Deploy) -> str:
        request = self.context.get("request")
        path = deploy.get_absolute_url()
        return request.build_absolute_uri(path) if request else path


class DeployBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    deploys = DeploySerializer(many=True)


# --- Strict input, shared with the incidents API -----------------------------------------------------

UNKNOWN = "Unknown field."
READ_ONLY = "This field is read-only."


class StrictInputSerializer(serializers.Serializer):
    """Refuses keys it doesn't take instead of dropping them: a misspelt `acknowleged_at` or a
    `status` must not look as if it had been saved."""

    # Keys of the output that can't be written here, with the reason.
    read_only_keys: dict[str, str] = {}

    def to_internal_value(self, data):
        errors = {}
        if isinstance(data, Mapping):
            for key in data:
                # The browsable API's forms send the CSRF token along.
                if key not in self.fields and key != "csrfmiddlewaretoken":
                    errors[key] = [self.read_only_keys.get(key, UNKNOWN)]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if errors and isinstance(exc.detail, Mapping):
                raise serializers.ValidationError({**exc.detail, **errors}) from None
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value


class PlainChoiceField(serializers.ChoiceField):
    """A choice the schema shows as a string listing its values rather than as an enum: drf-spectacular
    names enums after the field, and `status` and `kind` have several choice sets across the API."""

    def __init__(self, choices, **kwargs):
        values = ", ".join(f"`{value}`" for value, _ in choices)
        help_text = kwargs.pop("help_text", "")
        kwargs["help_text"] = f"{help_text} One of {values}.".strip()
        super().__init__(choices, **kwargs)


class _PlainChoiceFieldSchema(OpenApiSerializerFieldExtension):
    target_class = PlainChoiceField

    def map_serializer_field(self, auto_schema, direction):
        values = "|".join(re.escape(str(value)) for value in self.target.choices)
        return {"type": "string", "pattern": f"^({values})$"}


# --- Change records ----------------------------------------------------------------------------------


class BriefDeploySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api:deploy-detail")
    service = serializers.CharField(source="service.slug", read_only=True)
    environment = serializers.CharField(source="environment.slug", read_only=True)
    version = serializers.CharField(read_only=True)
    deployed_at = AwareDateTimeField(read_only=True)


class ChangeRecordSerializer(serializers.ModelSerializer):
    """A risky change and the answers to Etsy's four questions (who, what and when is the first)."""

    url = serializers.HyperlinkedIdentityField(view_name="api:changerecord-detail")
    html_url = serializers.SerializerMethodField()
    kind = PlainChoiceField(ChangeRecord.Kind.choices, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    service = serializers.CharField(source="service.slug", read_only=True, allow_null=True)
    planned_at = AwareDateTimeField(read_only=True)
    description_html = serializers.SerializerMethodField()
    deploys = BriefDeploySerializer(many=True, read_only=True, help_text="The deploys that shipped this change.")
    created_at = AwareDateTimeField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)

    class Meta:
        model = ChangeRecord
        fields = [
            "id",
            "url",
            "html_url",
            "title",
            "kind",
            "kind_label",
            "service",
            "owner",
            "planned_at",
            "description",
            "description_html",
            "done_before",
            "failure_impact",
            "failure_response",
            "deploys",
            "created_at",
            "created_by",
        ]
        read_only_fields = fields

    def get_html_url(self, record: ChangeRecord) -> str:
        request = self.context.get("request")
        path = record.get_absolute_url()
        return request.build_absolute_uri(path) if request else path

    def get_description_html(self, record: ChangeRecord) -> str:
        return render_markdown(record.description)


class ServiceSlugField(serializers.SlugRelatedField):
    """An existing service's slug, matched case-insensitively."""

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", Service.objects.all())
        kwargs.setdefault("error_messages", {"does_not_exist": 'No service with slug "{value}".'})
        super().__init__(slug_field="slug", **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(str(data).strip().lower())


def _change_record_read_only(writable: set[str]) -> dict[str, str]:
    keys = {key: READ_ONLY for key in ChangeRecordSerializer.Meta.fields if key not in writable}
    keys["deploys"] = (
        "This field is read-only: attach the record to a deploy with POST /api/deploys/{id}/change-record/ "
        "or send change_record with the deploy."
    )
    return keys


class ChangeRecordInputSerializer(StrictInputSerializer):
    """A risky change (schema, new feature, storage…) and the answers to the four questions."""

    title = serializers.CharField(max_length=200, validators=[single_line_validator], help_text="What, in a line.")
    kind = PlainChoiceField(ChangeRecord.Kind.choices, default=ChangeRecord.Kind.OTHER)
    service = ServiceSlugField(required=False, allow_null=True, default=None, help_text="A service's slug.")
    owner = serializers.CharField(
        max_length=200, validators=[single_line_validator], help_text="Who is making the change."
    )
    planned_at = AwareDateTimeField(required=False, help_text="When it is meant to happen; default now.")
    description = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="What will change, in Markdown."
    )
    done_before = serializers.CharField(help_text="Have you done this before?")
    failure_impact = serializers.CharField(help_text="What will happen when it goes wrong?")
    failure_response = serializers.CharField(help_text="What will you do when it does go wrong?")

    @property
    def read_only_keys(self):
        return _change_record_read_only(writable=set(self.fields))


class ChangeRecordUpdateSerializer(ChangeRecordInputSerializer):
    """Used with partial=True: only the fields sent change."""


class DeployChangeRecordSerializer(StrictInputSerializer):
    change_record = serializers.PrimaryKeyRelatedField(
        queryset=ChangeRecord.objects.all(),
        allow_null=True,
        help_text="The change record's id; null detaches it.",
        error_messages={
            "does_not_exist": "No change record with id {pk_value}.",
            "incorrect_type": "Give the change record's id, a number, or null.",
        },
    )
