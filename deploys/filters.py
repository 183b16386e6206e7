import datetime as dt
from urllib.parse import urlencode

import django_filters
from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django_filters import fields as filter_fields
from drf_spectacular.drainage import set_override
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from deploys.fields import DateOrAwareDateTimeField, start_of_day
from deploys.models import Deploy, Environment, Service


@extend_schema_field(OpenApiTypes.STR)
class DateOrAwareDateTimeFilter(django_filters.Filter):
    """A date (2024-05-18) or a time with a UTC offset (2024-05-18T22:20:50Z)."""

    field_class = DateOrAwareDateTimeField


# --- Filters that take several values -------------------------------------------------------------


def raw_values(data, name: str) -> list[str]:
    """A parameter's values as given: `service=web&service=api` gives both (a dict gives its one value)."""
    raw = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
    if raw is None:
        return []
    return [str(value) for value in ([raw] if isinstance(raw, str | int) else raw)]


def split_values(values: list[str]) -> list[str]:
    """`web,api` and `web`, `api` alike, blanks dropped, in order and without repeats."""
    return list(dict.fromkeys(item.strip() for value in values for item in value.split(",") if item.strip()))


class ListSelect(forms.SelectMultiple):
    """A <select> that reads a parameter given several times (`status=succeeded&status=rolled_back`),
    comma-separated (`status=succeeded,rolled_back`), or both.

    It stays a one-choice dropdown with an "all" option first, as long as at most one value is
    chosen, and becomes a <select multiple> showing every chosen value when there are more.
    """

    def __init__(self, attrs=None, choices=(), empty_label: str | None = None):
        super().__init__(attrs, choices)
        self.empty_label = empty_label

    def value_from_datadict(self, data, files, name):
        return split_values(raw_values(data, name))

    def value_omitted_from_data(self, data, files, name):
        return name not in data

    def get_context(self, name, value, attrs):
        chosen = [v for v in self.format_value(value) if v]
        self.allow_multiple_selected = len(chosen) > 1
        return super().get_context(name, value, attrs)

    def format_value(self, value):
        if value is None:
            return []
        return [str(v) for v in (value if isinstance(value, list | tuple) else [value])]

    def optgroups(self, name, value, attrs=None):
        groups = super().optgroups(name, value, attrs)
        if self.empty_label is not None:
            chosen = any(v for v in value)
            empty = self.create_option(name, "", self.empty_label, not chosen, 0, attrs=attrs)
            groups.insert(0, (None, [empty], 0))
        return groups


class ListChoiceField(filter_fields.MultipleChoiceField):
    widget = ListSelect

    def __init__(self, *args, empty_label: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.widget.empty_label = empty_label

    def to_python(self, value):
        return split_values([str(v) for v in super().to_python(value)])


class ListModelChoiceField(filter_fields.ModelMultipleChoiceField):
    """Model instances by `to_field_name`; one query checks them all. Cleans to a list."""

    widget = ListSelect

    def __init__(self, *args, empty_label: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.widget.empty_label = empty_label

    def clean(self, value):
        return list(super().clean(value))


class ListChoiceFilter(django_filters.MultipleChoiceFilter):
    """One or more of fixed choices: `status=succeeded&status=rolled_back` or `status=succeeded,rolled_back`.
    Without a value, no filter; an unknown value is an error naming the parameter."""

    field_class = ListChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        return qs.filter(**{f"{self.field_name}__in": value}) if value else qs


class ListModelChoiceFilter(django_filters.ModelMultipleChoiceFilter):
    """One or more rows by slug: `service=web&service=api` or `service=web,api`. Unknown slugs are
    an error naming them (one query checks all of them)."""

    field_class = ListModelChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("distinct", False)
        kwargs.setdefault("to_field_name", "slug")
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        return qs.filter(**{f"{self.field_name}__in": [row.pk for row in value]}) if value else qs


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


# A choice rather than a boolean, so `production=perhaps` is an error instead of being ignored.
TRUE_OR_FALSE = [("true", "Yes"), ("false", "No")]


def true_or_false_filter(method: str, label: str, help_text: str) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        choices=TRUE_OR_FALSE, method=method, label=label, help_text=help_text, empty_label="Either"
    )


# --- Deploys ------------------------------------------------------------------------------------------

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


def _words(items: list[str], last: str = "and") -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def _when(value: dt.date | dt.datetime) -> str:
    if isinstance(value, dt.datetime):
        return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S %Z}"
    return f"{value.day} {value:%b %Y}"


class DeployFilter(django_filters.FilterSet):
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
        if not isinstance(value, dt.datetime):
            value = start_of_day(value)
        return queryset.between(since=value)

    def filter_until(self, queryset, name, value):
        if not isinstance(value, dt.datetime):
            value = start_of_day(value + dt.timedelta(days=1))
        return queryset.between(until=value)

    # --- For the deploy log page -----------------------------------------------------------------

    @property
    def kept_parameters(self) -> list[tuple[str, str]]:
        """(name, value) of the filters given that the page's form has no field for, so that
        filtering with the form keeps them (hidden inputs)."""
        return kept_parameters_of(self, self.PAGE_FIELDS)

    @property
    def without_kept_parameters(self) -> str:
        """The query string with only the form's fields: what "Clear" next to `described` opens."""
        return page_fields_query(self, self.PAGE_FIELDS)

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
            clauses.append(_words([STATUS_WORDS[s] for s in Deploy.Status.values if s in data["status"]], "or"))
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


def kept_parameters_of(filterset: django_filters.FilterSet, page_fields: tuple[str, ...]) -> list[tuple[str, str]]:
    if not filterset.is_bound:
        return []
    return [
        (name, value)
        for name in filterset.filters
        if name not in page_fields
        for value in raw_values(filterset.data, name)
        if value.strip()
    ]


def page_fields_query(filterset: django_filters.FilterSet, page_fields: tuple[str, ...]) -> str:
    if not filterset.is_bound:
        return ""
    return urlencode(
        [(name, value) for name in page_fields for value in raw_values(filterset.data, name) if value.strip()]
    )


def teams_in_words(teams: list[str]) -> str:
    return f"team{'s' if len(teams) > 1 else ''} {_words(teams)}"


def period_in_words(since: dt.date | dt.datetime | None, until: dt.date | dt.datetime | None) -> str:
    """`since` and `until` as the filters read them: a date until is included, a time until isn't."""
    words = []
    if since is not None:
        words.append(f"from {_when(since)}")
    if until is not None:
        words.append(f"{'until just before' if isinstance(until, dt.datetime) else 'to'} {_when(until)}")
    return " ".join(words)


# --- Change records ----------------------------------------------------------------------------------

from deploys.models import ChangeRecord  # noqa: E402


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
        if not isinstance(value, dt.datetime):
            value = start_of_day(value)
        return queryset.filter(planned_at__gte=value)

    def filter_until(self, queryset, name, value):
        if not isinstance(value, dt.datetime):
            value = start_of_day(value + dt.timedelta(days=1))
        return queryset.filter(planned_at__lt=value)
