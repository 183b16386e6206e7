import datetime as dt

from django.utils import timezone
from rest_framework import serializers

from deploys.fields import AwareDateTimeField
from deploys.models import Deploy, DeployCommit, single_line_validator, slug_validator
from deploys.services import CommitInput, DeployInput

MAX_BULK = 1000
FUTURE_SLACK = dt.timedelta(minutes=5)


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
    authored_at = AwareDateTimeField(read_only=True)

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
