import datetime as dt
import re
from functools import cached_property

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse as django_reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers
from rest_framework.reverse import reverse as drf_reverse

from deploys import contract
from deploys.contract import CommitInput, DeployInput, commit_problems, deploy_problems
from deploys.limits import MAX_DEPLOY_COMMITS
from deploys.models import ChangeRecord, Deploy, DeployCommit, Service
from plumbing.fields import AwareDateTimeField, is_plausible

# A leaf module (Markdown → sanitized HTML), shared by every write-up.
from plumbing.markdown import CHANGE_DESCRIPTION_MAX_LENGTH
from plumbing.serializers import READ_ONLY, BoundedListSerializer, StrictCharField, StrictInputSerializer
from plumbing.validators import single_line_validator

MAX_BULK = 1000
# The API's rules (deploys.contract.API): any version control's commit ids, any valid URL.
DEPLOY_RULES, COMMIT_RULES = contract.API.deploy, contract.API.commit


# --- The bulk endpoint's fast path ---------------------------------------------------------------
# DRF's field-by-field machinery costs about 45 µs per deploy (75 with two commits), a third of a
# 1,000-deploy batch once the rest was made fast. An item that is plainly valid is checked by the plain
# functions below instead: they parse what DRF's field types parse, and the deploy contract
# (deploys.contract.deploy_problems) checks the rules, the same ones DRF runs as field validators.
# Anything else (a wrong type, a value that breaks a rule) is left to DRF, which words the errors, so
# messages and the error shape stay DRF's. tests/deploys/test_bulk_fast_path.py holds the two to the
# same answers.


class _Defer(Exception):
    """Not plainly valid: DRF's own validation looks at the item."""


class _FastPath:
    @cached_property
    def _field_names(self) -> frozenset[str]:
        # A key the serializer doesn't take (StrictInputSerializer refuses it) is left to DRF. A set:
        # `in` on the serializer's own field mapping costs a few µs an item.
        return frozenset(self.fields)


def _text(value, *, blank: bool = False) -> str:
    # CharField's type: a string, stripped, not blank unless allowed. Its refusal of NUL and lone
    # surrogates, and every rule, is the contract's.
    if type(value) is not str:
        raise _Defer
    value = value.strip()
    if not value and not blank:
        raise _Defer
    return value


def _time(value) -> dt.datetime:
    # AwareDateTimeField: ISO 8601 with an offset, between 1970 and 2999, kept in UTC.
    if type(value) is not str or value != value.strip():
        raise _Defer
    try:
        parsed = parse_datetime(value)
    except ValueError:
        raise _Defer from None
    if parsed is None or timezone.is_naive(parsed) or not is_plausible(parsed):
        raise _Defer
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise _Defer from None


class CommitListSerializer(BoundedListSerializer):
    """A deploy's commits. Too many is one message under `commits`, naming the limit, rather than DRF's
    non_field_errors inside it; checked before any commit is (the contract's rule). `max_length` is
    only what the schema shows as maxItems: the contract refuses a longer list first."""

    def to_internal_value(self, data):
        if isinstance(data, list):
            try:
                for rule in DEPLOY_RULES["commits"]:
                    rule(data)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages, code=exc.code) from None
        return super().to_internal_value(data)


class CommitInputSerializer(_FastPath, StrictInputSerializer):
    sha = StrictCharField(
        validators=COMMIT_RULES["sha"],
        help_text="The commit's id, e.g. a git sha (4 to 64 letters, digits, '.', '_' or '-').",
    )
    authored_at = AwareDateTimeField(required=False, allow_null=True, validators=COMMIT_RULES["authored_at"])
    message = serializers.CharField(required=False, allow_blank=True, default="")

    class Meta:
        list_serializer_class = CommitListSerializer

    def parse(self, data) -> dict:
        """The fast path's reading of one commit, types only (see DeployInputSerializer.fast_internal_value)."""
        if type(data) is not dict or not data.keys() <= self._field_names:
            raise _Defer
        value = {"sha": _text(data.get("sha"))}
        if "authored_at" in data:
            value["authored_at"] = None if data["authored_at"] is None else _time(data["authored_at"])
        value["message"] = _text(data["message"], blank=True) if "message" in data else self.fields["message"].default
        return value

    def fast_internal_value(self, data) -> dict:
        """See DeployInputSerializer.fast_internal_value."""
        value = self.parse(data)
        if commit_problems(value):
            raise _Defer
        return value


class DeployListSerializer(BoundedListSerializer):
    """The bulk endpoint's list: each item through the fast path, or through DRF when it defers or a
    validate_* method refuses it (DRF then reports the item's every error, under its index)."""

    def run_child_validation(self, data):
        try:
            return self.child.fast_internal_value(data)
        except (_Defer, serializers.ValidationError):
            return super().run_child_validation(data)


class DeployInputSerializer(_FastPath, StrictInputSerializer):
    """A deploy as a CI system reports it. Unknown environment slugs are created, and unknown
    services too, except by an ingest token without the "may create services" scope (a 400)."""

    # The fields check JSON types; their validators are the deploy contract's rules
    # (deploys.contract), which also give the schema its limits.

    service = StrictCharField(validators=DEPLOY_RULES["service"], help_text="Service slug, e.g. `web`.")
    environment = StrictCharField(
        validators=DEPLOY_RULES["environment"], help_text="Environment slug, e.g. `production`."
    )
    version = StrictCharField(validators=DEPLOY_RULES["version"])
    previous_version = StrictCharField(
        validators=DEPLOY_RULES["previous_version"],
        required=False,
        allow_blank=True,
        help_text="Omit it to take the version of the latest earlier successful deploy here.",
    )
    deployer = StrictCharField(validators=DEPLOY_RULES["deployer"])
    message = serializers.CharField(validators=DEPLOY_RULES["message"], required=False, allow_blank=True, default="")
    deployed_at = AwareDateTimeField(
        validators=DEPLOY_RULES["deployed_at"], required=False, help_text="When it went live; default now."
    )
    duration_seconds = serializers.FloatField(
        validators=DEPLOY_RULES["duration_seconds"],
        required=False,
        allow_null=True,
        help_text="Up to a week.",
    )
    status = serializers.ChoiceField(
        choices=Deploy.Status.choices, default=Deploy.Status.SUCCEEDED, validators=DEPLOY_RULES["status"]
    )
    diff_url = serializers.CharField(validators=DEPLOY_RULES["diff_url"], required=False, allow_blank=True, default="")
    external_id = serializers.CharField(
        validators=DEPLOY_RULES["external_id"],
        required=False,
        allow_blank=True,
        default="",
        help_text="Your idempotency key: a repeat with the same service and external_id returns the first deploy.",
    )
    commits = CommitInputSerializer(many=True, required=False, default=list, max_length=MAX_DEPLOY_COMMITS)
    change_record = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The id of the change record (the four questions) this deploy ships, if it has one.",
    )

    # What GET answers and can't be sent.
    read_only_keys = dict.fromkeys(("id", "url", "html_url", "production", "created_at"), READ_ONLY)

    class Meta:
        list_serializer_class = DeployListSerializer

    def validate_service(self, value):
        # The contract's slug rule takes any case; the service is stored in lowercase.
        return value.lower()

    def validate_environment(self, value):
        return value.lower()

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

    def fast_internal_value(self, data) -> dict:
        """What run_validation returns for a plainly valid item, or _Defer (see above).

        Reads each field as DRF's field type would, then asks the deploy contract; raises
        serializers.ValidationError from the validate_* methods it shares with DRF's path."""
        fields = self.fields
        if type(data) is not dict or not data.keys() <= self._field_names:
            raise _Defer
        value = {
            "service": _text(data.get("service")).lower(),
            "environment": _text(data.get("environment")).lower(),
            "version": _text(data.get("version")),
        }
        if "previous_version" in data:
            value["previous_version"] = _text(data["previous_version"], blank=True)
        value["deployer"] = _text(data.get("deployer"))
        value["message"] = _text(data["message"], blank=True) if "message" in data else fields["message"].default
        if "deployed_at" in data:
            value["deployed_at"] = _time(data["deployed_at"])
        if "duration_seconds" in data:
            duration = data["duration_seconds"]
            if duration is not None:
                if type(duration) not in (int, float):
                    raise _Defer
                try:
                    duration = float(duration)
                except OverflowError:
                    raise _Defer from None
            value["duration_seconds"] = duration
        if "status" in data:
            status = data["status"]
            if type(status) is not str or status not in fields["status"].choice_strings_to_values:
                raise _Defer
            value["status"] = fields["status"].choice_strings_to_values[status]
        else:
            value["status"] = fields["status"].default
        value["diff_url"] = _text(data["diff_url"], blank=True) if "diff_url" in data else fields["diff_url"].default
        value["external_id"] = (
            _text(data["external_id"], blank=True) if "external_id" in data else fields["external_id"].default
        )
        commits = data.get("commits", [])
        if type(commits) is not list:
            raise _Defer
        parse = fields["commits"].child.parse
        value["commits"] = [parse(commit) for commit in commits]
        if deploy_problems(value):
            raise _Defer
        if "change_record" in data:
            record = data["change_record"]
            if record is not None and type(record) is not int:
                raise _Defer
            value["change_record"] = self.validate_change_record(record)
        return value


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


def deploy_answers(deploys, commits, *, request, format=None) -> list[dict]:
    """DeploySerializer's answer for each deploy, built from rows already in memory (service and
    environment loaded; `commits` lists each deploy's by id, in their order). Through DeploySerializer,
    with a reverse() per URL, a thousand deploys cost a fifth of a bulk request.
    tests/deploys/test_bulk_fast_path.py checks that the two give the same answer."""
    url = _url_for_id("api:deploy-detail", request, format)
    html_url = _url_for_id("deploys:detail", request)
    time = AwareDateTimeField().to_representation
    return [
        {
            "id": deploy.pk,
            "url": url(deploy.pk),
            "html_url": html_url(deploy.pk),
            "service": deploy.service.slug,
            "environment": deploy.environment.slug,
            "production": deploy.environment.is_production,
            "version": deploy.version,
            "previous_version": deploy.previous_version,
            "deployer": deploy.deployer,
            "message": deploy.message,
            "deployed_at": time(deploy.deployed_at),
            "duration_seconds": None if deploy.duration_seconds is None else float(deploy.duration_seconds),
            "status": str(deploy.status),
            "diff_url": deploy.diff_url,
            "external_id": deploy.external_id,
            "commits": [
                {"sha": c.sha, "authored_at": time(c.authored_at), "message": c.message}
                for c in commits.get(deploy.pk, ())
            ],
            "change_record": deploy.change_record_id,
            "created_at": time(deploy.created_at),
        }
        for deploy in deploys
    ]


def _url_for_id(viewname: str, request, format=None):
    # One reverse() for all: the id is the only part of the URL that changes from deploy to deploy.
    marker = "9081726354"
    if viewname.startswith("api:"):
        url = drf_reverse(viewname, kwargs={"pk": marker}, request=request, format=format)
    else:
        url = request.build_absolute_uri(django_reverse(viewname, kwargs={"pk": marker}))
    head, _, tail = url.rpartition(marker)
    return lambda pk: f"{head}{pk}{tail}"


class DeployBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    deploys = DeploySerializer(many=True)


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
        return record.description_html


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
        required=False,
        allow_blank=True,
        default="",
        max_length=CHANGE_DESCRIPTION_MAX_LENGTH,
        help_text="What will change, in Markdown.",
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
