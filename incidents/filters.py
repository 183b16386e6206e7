import django_filters
from django import forms
from django.conf import settings
from django.db.models import Exists, OuterRef
from django.urls import reverse_lazy
from drf_spectacular.utils import extend_schema_field

from deploys.filters import TeamFilter
from deploys.models import Service
from incidents import selectors
from incidents.models import LIFECYCLE, Incident
from incidents.querysets import ARCHIVED_CHOICES
from plumbing.filters import (
    DateOrAwareDateTimeFilter,
    ListChoiceFilter,
    ListModelChoiceFilter,
    PageFieldsMixin,
    raw_values,
    since_bound,
    split_values,
    teams_in_words,
    true_or_false_filter,
    until_bound,
)


def archived_filter(help_text: str) -> django_filters.ChoiceFilter:
    # A choice, so `archived=perhaps` is an error; no value means "false" (HideArchivedMixin).
    return django_filters.ChoiceFilter(
        choices=ARCHIVED_CHOICES,
        method="filter_archived",
        label="Archived",
        empty_label="Not archived",
        help_text=help_text,
    )


class HideArchivedMixin:
    """Archived incidents (and their post-mortems) are left out unless `archived` asks for them."""

    archived_lookup = "archived_at__isnull"  # on the filtered model

    def filter_archived(self, queryset, name, value):
        return queryset  # applied in filter_queryset, with the default

    def filter_queryset(self, queryset):
        which = self.form.cleaned_data.get("archived") or "false"
        if which != "all":
            queryset = queryset.filter(**{self.archived_lookup: which != "true"})
        return super().filter_queryset(queryset)


class TagsInput(forms.TextInput):
    """`tag=dns&tag=db`, `tag=dns,db` or both; shown as "dns, db" in one text box."""

    def value_from_datadict(self, data, files, name):
        return split_values(raw_values(data, name))

    def value_omitted_from_data(self, data, files, name):
        return name not in data

    def format_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


class TagListField(forms.Field):
    widget = TagsInput(
        attrs={
            "autocomplete": "off",
            "data-tag-suggestions": reverse_lazy("api:tag-list"),
            "placeholder": "dns, database",
        }
    )
    # More names than an incident can carry is a mistake, not a search: a clear error.
    MAX_NAMES = 20

    def to_python(self, value):
        return list(value or [])

    def validate(self, value):
        if len(value) > self.MAX_NAMES:
            raise forms.ValidationError(f"Give at most {self.MAX_NAMES} tags ({len(value):,} given).")


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class TagFilter(django_filters.Filter):
    field_class = TagListField

    def filter(self, qs, value):
        return qs.tagged(value) if value else qs


def _contributing_factors(request):
    # The factor model through the relations: the post-mortems app sits above this one.
    postmortem = Incident._meta.get_field("postmortem").related_model
    return postmortem._meta.get_field("factors").related_model.objects.all()


class IncidentFilter(HideArchivedMixin, PageFieldsMixin, django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=Incident.Status.choices, method="filter_status", empty_label="Any status"
    )
    # Labels, not help texts, for the fields the page shows (see DeployFilter).
    severity = ListChoiceFilter(
        choices=Incident.Severity.choices,
        empty_label="Any severity",
        label="Severities: severity=1&severity=2, or comma-separated.",
    )
    service = ListModelChoiceFilter(
        queryset=Service.objects.all(),
        field_name="services",
        method="filter_affected",
        empty_label="All services",
        label="Affected service slugs: service=web&service=api, or comma-separated.",
    )
    team = TeamFilter(
        field_name="team",
        method="filter_affected",
        label="Teams: incidents affecting their services (Service.dev_team); team=Storefront&team=Platform, "
        "or comma-separated. With `service`, an affected service must be one of those and of one of these teams.",
    )
    since = DateOrAwareDateTimeFilter(method="filter_since", label="Started since")
    until = DateOrAwareDateTimeFilter(method="filter_until", label="Started until")
    # A choice rather than a boolean, so `deploy_related=perhaps` is an error instead of being ignored.
    deploy_related = django_filters.ChoiceFilter(
        choices=[("true", "Deploy-related"), ("false", "Not deploy-related")],
        method="filter_deploy_related",
        label="Deploy-related",
        empty_label="Deploy-related or not",
    )
    resolved = true_or_false_filter(
        "filter_resolved",
        "Resolved",
        "false: incidents with no resolved time (the report's unresolved incidents, whatever their stage: "
        "open, acknowledged or mitigated); true: those with one.",
    )
    acknowledged = true_or_false_filter(
        "filter_acknowledged",
        "Acknowledged",
        "true: incidents with an acknowledged time, whatever their stage since (those the report's MTTA "
        "averages, when they also have a detected time); false: those never acknowledged.",
    )
    q = django_filters.CharFilter(method="filter_search", label="Search")
    tag = TagFilter(
        label="Tags: incidents with ANY of these tags, in any case; tag=dns&tag=database, or comma-separated. "
        "An unknown tag matches nothing.",
    )
    lead = django_filters.CharFilter(
        method="filter_lead",
        max_length=200,
        label="Incident lead",
        help_text="Incidents led by this name (the incident commander, `commander`): the whole name, in any case.",
    )
    factor = ListModelChoiceFilter(
        queryset=_contributing_factors,
        field_name="postmortem__factors",
        method="filter_factor",
        empty_label="Any factor",
        label="Contributing factor slugs: incidents whose post-mortem names any of them; "
        "factor=change&factor=capacity, or comma-separated.",
    )
    stamped = ListChoiceFilter(
        choices=[(name.removesuffix("_at"), name.removesuffix("_at")) for name in LIFECYCLE[1:]],
        method="filter_stamped",
        label="Stamped",
        help_text="Incidents with all of these times: detected, acknowledged, mitigated, resolved (repeat or "
        "comma-separate); the insights' stage medians measure those with both stamps of a stage.",
    )
    reviewed = true_or_false_filter(
        "filter_reviewed",
        "Post-mortem published",
        "true: incidents whose post-mortem is published; false: those without a published one.",
    )
    responder = django_filters.CharFilter(
        method="filter_responder",
        max_length=200,
        label="Responder",
        help_text="Incidents this name responded to: as lead, communications lead, scribe or participant, "
        "exactly as typed (the insights' on-call load).",
    )
    outside_hours = true_or_false_filter(
        "filter_outside_hours",
        "Began outside working hours",
        "true: incidents that began outside OPSLOG_WORKING_HOURS on OPSLOG_WORKING_DAYS (in "
        "OPSLOG_WORKING_HOURS_TIME_ZONE); false: those that began inside them.",
    )
    repeat = true_or_false_filter(
        "filter_repeat",
        "Repeat",
        "true: repeat incidents (an earlier one within OPSLOG_INSIGHTS_REPEAT_DAYS days shares a service and a "
        "contributing factor); false: the others.",
    )
    archived = archived_filter(
        "Archived incidents (filed by mistake, duplicates) are hidden unless this says otherwise: "
        "false (the default), true (only archived ones) or all."
    )

    class Meta:
        model = Incident
        fields = [
            "status",
            "severity",
            "service",
            "team",
            "since",
            "until",
            "deploy_related",
            "resolved",
            "acknowledged",
            "q",
            "tag",
            "lead",
            "factor",
            "stamped",
            "reviewed",
            "responder",
            "outside_hours",
            "repeat",
            "archived",
        ]

    # The incident list's form has fields for these; the others are kept as hidden inputs and said
    # in words above the list (see `described`).
    PAGE_FIELDS = (
        "q",
        "tag",
        "status",
        "severity",
        "service",
        "lead",
        "since",
        "until",
        "deploy_related",
        "resolved",
        "factor",
        "archived",
    )

    def filter_status(self, queryset, name, value):
        return queryset.with_status(value)

    def filter_affected(self, queryset, name, value):
        """Incidents affecting a service that is one of `service` and of one of `team`'s (either may be
        absent): as the report counts them. Exists, not a join: an incident is listed once however
        many of its services match."""
        services, teams = self.form.cleaned_data.get("service"), self.form.cleaned_data.get("team")
        if name == "team" and services:
            return queryset  # `service` applies both.
        affected = Incident.services.through.objects.filter(incident=OuterRef("pk"))
        if services:
            affected = affected.filter(service__in=[service.pk for service in services])
        if teams:
            affected = affected.filter(service__dev_team__in=teams)
        return queryset.filter(Exists(affected))

    def filter_since(self, queryset, name, value):
        return queryset.started_between(since=since_bound(value))

    def filter_until(self, queryset, name, value):
        return queryset.started_between(until=until_bound(value))

    def filter_deploy_related(self, queryset, name, value):
        return queryset.deploy_related(value == "true")

    def filter_resolved(self, queryset, name, value):
        return queryset.resolved() if value == "true" else queryset.unresolved()

    def filter_acknowledged(self, queryset, name, value):
        return queryset.acknowledged(value == "true")

    def filter_lead(self, queryset, name, value):
        value = value.strip()
        return queryset.led_by(value) if value else queryset

    def filter_factor(self, queryset, name, value):
        return queryset.naming_factors([factor.slug for factor in value]) if value else queryset

    def filter_stamped(self, queryset, name, value):
        return queryset.filter(**{f"{stage}_at__isnull": False for stage in value})

    def filter_reviewed(self, queryset, name, value):
        return queryset.reviewed(value == "true")

    def filter_responder(self, queryset, name, value):
        value = value.strip()
        return queryset.responded_by(value) if value else queryset

    def filter_outside_hours(self, queryset, name, value):
        outside = queryset.began_outside_hours(
            zone=settings.OPSLOG_WORKING_HOURS_TIME_ZONE,
            hours=settings.OPSLOG_WORKING_HOURS,
            days=settings.OPSLOG_WORKING_DAYS,
        )
        return outside if value == "true" else queryset.exclude(pk__in=outside.values("pk"))

    def filter_repeat(self, queryset, name, value):
        repeats = queryset.repeats(settings.OPSLOG_INSIGHTS_REPEAT_DAYS)
        return repeats if value == "true" else queryset.exclude(pk__in=repeats.values("pk"))

    def filter_search(self, queryset, name, value):
        return selectors.search(queryset, value)

    # --- For the incident list page --------------------------------------------------------------

    @property
    def described(self) -> str:
        """The filters the form can't show, in words ("acknowledged incidents affecting the services of
        team Storefront")."""
        if not self.kept_parameters or not self.is_valid():
            return ""
        teams = self.form.cleaned_data.get("team")
        acknowledged = self.form.cleaned_data.get("acknowledged")
        if not teams and not acknowledged:
            return ""
        words = {"true": "acknowledged incidents", "false": "incidents never acknowledged"}.get(
            acknowledged, "incidents"
        )
        if teams:
            words += f" affecting the services of {teams_in_words(teams)}"
        return words
