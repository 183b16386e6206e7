import django_filters
from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import Exists, OuterRef, Q
from drf_spectacular.drainage import set_override

from deploys.models import ChangeRecord, Deploy, Environment, Service
from plumbing.filters import (
    DateOrAwareDateTimeFilter,
    ListChoiceFilter,
    ListModelChoiceFilter,
    PageFieldsMixin,
    join_words,
    period_in_words,
    since_bound,
    split_values,
    teams_in_words,
    true_or_false_filter,
    until_bound,
)


class TeamsField(forms.Field):
    """Teams (Service.dev_team) by name, exactly as written on their services.

    Repeated (`team=Storefront&team=Platform`) or comma-separated (`team=Storefront,Platform`); a
    value that is itself the name of a team is taken whole, so a team whose name has a comma in it
    can still be asked for. One query checks them all; an unknown team is an error naming it.
    """

    widget = forms.MultipleHiddenInput
    default_validators = [ProhibitNullCharactersValidator()]
    default_error_messages = {
        "invalid_choice": "Select a valid choice. %(value)s is not one of the teams.",
    }

    def to_python(self, value):
        if value in self.empty_values:
            return []
        return [str(v).strip() for v in (value if isinstance(value, list | tuple) else [value]) if str(v).strip()]

    def run_validators(self, value):
        for item in value:
            super().run_validators(item)

    def clean(self, value):
        values = self.to_python(value)
        self.validate(values)
        self.run_validators(values)
        if not values:
            return []
        candidates = set(values) | set(split_values(values))
        known = set(
            Service.objects.filter(dev_team__in=candidates)
            .exclude(dev_team="")
            .values_list("dev_team", flat=True)
            .distinct()
        )
        teams = []
        for value in values:
            parts = [value] if value in known else split_values([value])
            for part in parts:
                if part not in known:
                    raise forms.ValidationError(
                        self.error_messages["invalid_choice"], code="invalid_choice", params={"value": part}
                    )
                if part not in teams:
                    teams.append(part)
        return teams


class TeamFilter(django_filters.MultipleChoiceFilter):
    """Rows of the teams' services: `team=Storefront&team=Platform`, or comma-separated."""

    field_class = TeamsField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("distinct", False)
        kwargs.setdefault("field_name", "service__dev_team")
        super().__init__(*args, **kwargs)
        # In the API docs: a list of strings (a MultipleChoiceFilter), described by the label
        # (drf-spectacular leaves the description out of a type given this way, so it is in it).
        set_override(self, "field", {"type": "string", "description": self.label or ""})

    def filter(self, qs, value):
        return qs.filter(**{f"{self.field_name}__in": value}) if value else qs


STATUS_WORDS = {
    Deploy.Status.SUCCEEDED: "succeeded",
    Deploy.Status.FAILED: "failed",
    Deploy.Status.ROLLED_BACK: "were rolled back",
}


def _incident_links(relation: str):
    """Exists: the deploy is linked to an incident as `cause` or `remediation` (the
    IncidentDeploy.Relation values; deploys doesn't import the incidents app)."""
    links = Deploy._meta.get_field("incident_links").related_model
    # An archived incident (filed by mistake or twice) makes no deploy a failure or a fix, as in the report.
    return Exists(links.objects.filter(deploy=OuterRef("pk"), relation=relation, incident__archived_at__isnull=True))


class DeployFilter(PageFieldsMixin, django_filters.FilterSet):
    # Labels, not help texts, for the fields the page shows: a help text would make the widget
    # point (aria-describedby) at a text the page doesn't show. The API docs show the labels.
    service = ListModelChoiceFilter(
        queryset=Service.objects.all(),
        empty_label="All services",
        label="Service slugs: service=web&service=api, or comma-separated.",
    )
    team = TeamFilter(
        label="Teams: deploys of their services (Service.dev_team); team=Storefront&team=Platform, or comma-separated.",
    )
    environment = ListModelChoiceFilter(
        queryset=Environment.objects.all(),
        empty_label="All environments",
        label="Environment slugs: environment=production&environment=production-eu, or comma-separated.",
    )
    production = true_or_false_filter(
        "filter_production", "Production", "true: only production environments; false: only the others."
    )
    deployer = django_filters.CharFilter(method="filter_deployer")
    status = ListChoiceFilter(
        choices=Deploy.Status.choices,
        empty_label="Any status",
        label="Statuses: status=succeeded&status=rolled_back, or comma-separated.",
    )
    failed_change = true_or_false_filter(
        "filter_failed_change",
        "Failed change",
        "true: deploys that caused at least one incident or were rolled back (the change failure "
        "rate's numerator); false: the others.",
    )
    remediates = true_or_false_filter(
        "filter_remediates",
        "Remediates",
        "true: deploys made to fix an incident (rollback, hotfix: the rework rate's numerator); false: the others.",
    )
    since = DateOrAwareDateTimeFilter(
        method="filter_since", label="Since", help_text="A date (whole day, reporting time zone) or a time with offset."
    )
    until = DateOrAwareDateTimeFilter(
        method="filter_until", label="Until", help_text="A date (inclusive) or a time with offset (exclusive)."
    )

    class Meta:
        model = Deploy
        fields = [
            "service",
            "team",
            "environment",
            "production",
            "deployer",
            "status",
            "failed_change",
            "remediates",
            "since",
            "until",
        ]

    # The deploy log's form has fields for these; the other filters are kept as hidden inputs and
    # said in words above the list (see `described`).
    PAGE_FIELDS = ("service", "environment", "deployer")

    def filter_deployer(self, queryset, name, value):
        return queryset.filter(deployer=value.strip()) if value.strip() else queryset

    def filter_production(self, queryset, name, value):
        return queryset.filter(environment__is_production=value == "true")

    def filter_failed_change(self, queryset, name, value):
        failed = Q(_incident_links("cause")) | Q(status=Deploy.Status.ROLLED_BACK)
        return queryset.filter(failed) if value == "true" else queryset.exclude(failed)

    def filter_remediates(self, queryset, name, value):
        remediates = _incident_links("remediation")
        return queryset.filter(remediates) if value == "true" else queryset.exclude(remediates)

    def filter_since(self, queryset, name, value):
        return queryset.between(since=since_bound(value))

    def filter_until(self, queryset, name, value):
        return queryset.between(until=until_bound(value))

    # --- For the deploy log page -----------------------------------------------------------------

    @property
    def described(self) -> str:
        """The filters the form can't show, in words: "production deploys that succeeded or were
        rolled back, team Storefront, from 1 Mar 2024 to 31 Mar 2024"; empty without any."""
        if not self.kept_parameters or not self.is_valid():
            return ""
        data = self.form.cleaned_data
        nouns = {"true": "production deploys", "false": "deploys outside production"}
        noun = nouns.get(data.get("production"), "deploys")
        clauses = []
        if data.get("status"):
            clauses.append(join_words([STATUS_WORDS[s] for s in Deploy.Status.values if s in data["status"]], "or"))
        if data.get("failed_change") == "true":
            clauses.append("caused an incident or were rolled back")
        elif data.get("failed_change") == "false":
            clauses.append("caused no incident and weren't rolled back")
        if data.get("remediates") == "true":
            clauses.append("were made to fix an incident")
        elif data.get("remediates") == "false":
            clauses.append("weren't made to fix an incident")
        parts = [f"{noun} that {' and '.join(clauses)}" if clauses else noun]
        if data.get("team"):
            parts.append(teams_in_words(data["team"]))
        parts.append(period_in_words(data.get("since"), data.get("until")))
        return ", ".join(part for part in parts if part)


class ChangeRecordFilter(django_filters.FilterSet):
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.all(), to_field_name="slug", empty_label="All services"
    )
    kind = django_filters.ChoiceFilter(choices=ChangeRecord.Kind.choices, empty_label="Any kind")
    owner = django_filters.CharFilter(method="filter_owner", help_text="Who makes the change (any case).")
    since = DateOrAwareDateTimeFilter(
        method="filter_since",
        label="Planned since",
        help_text="A date (whole day, reporting time zone) or a time with offset.",
    )
    until = DateOrAwareDateTimeFilter(
        method="filter_until",
        label="Planned until",
        help_text="A date (inclusive) or a time with offset (exclusive).",
    )

    class Meta:
        model = ChangeRecord
        fields = ["service", "kind", "owner", "since", "until"]

    def filter_owner(self, queryset, name, value):
        return queryset.filter(owner__iexact=value.strip()) if value.strip() else queryset

    def filter_since(self, queryset, name, value):
        return queryset.filter(planned_at__gte=since_bound(value))

    def filter_until(self, queryset, name, value):
        return queryset.filter(planned_at__lt=until_bound(value))
