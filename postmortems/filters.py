import django_filters
from django.db.models import Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

from deploys.models import Service
from incidents.filters import HideArchivedMixin, archived_filter
from incidents.models import Incident
from plumbing.filters import (
    DateOrAwareDateTimeFilter,
    ListModelChoiceFilter,
    since_bound,
    until_bound,
)
from postmortems.models import ContributingFactor, PostMortem, Remediation

OPEN_STATUSES = [Remediation.Status.OPEN, Remediation.Status.IN_PROGRESS]


class PostMortemFilter(HideArchivedMixin, django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PostMortem.Status.choices, empty_label="Any status")
    incident = django_filters.ModelChoiceFilter(queryset=Incident.objects.all(), label="Incident id")
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.all(),
        to_field_name="slug",
        field_name="incident__services",
        empty_label="All services",
        distinct=True,
    )
    since = DateOrAwareDateTimeFilter(method="filter_since", label="Incident started since")
    until = DateOrAwareDateTimeFilter(method="filter_until", label="Incident started until")
    factor = ListModelChoiceFilter(
        queryset=ContributingFactor.objects.all(),
        field_name="factors",
        method="filter_factor",
        empty_label="Any factor",
        label="Contributing factor slugs: post-mortems naming any of them; factor=change&factor=capacity, or "
        "comma-separated.",
    )
    archived = archived_filter(
        "A post-mortem is archived with its incident. Hidden unless this says otherwise: false (the default), "
        "true (only those of archived incidents) or all."
    )

    archived_lookup = "incident__archived_at__isnull"

    class Meta:
        model = PostMortem
        fields = ["status", "incident", "service", "since", "until", "factor", "archived"]

    def filter_factor(self, queryset, name, value):
        return queryset.naming_factors(value) if value else queryset

    def filter_since(self, queryset, name, value):
        return queryset.filter(incident__started_at__gte=since_bound(value))

    def filter_until(self, queryset, name, value):
        return queryset.filter(incident__started_at__lt=until_bound(value))


class RemediationFilter(django_filters.FilterSet):
    owner = django_filters.CharFilter(
        method="filter_owner",
        label="Owner",
        help_text="A username or a user's full name, or the name of an owner who isn't a user (any case).",
    )
    kind = django_filters.ChoiceFilter(choices=Remediation.Kind.choices, empty_label="Dev and ops")
    status = django_filters.ChoiceFilter(choices=Remediation.Status.choices, empty_label="Any status")
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.all(),
        to_field_name="slug",
        field_name="postmortem__incident__services",
        empty_label="All services",
        distinct=True,
    )
    # A choice rather than a boolean, so `overdue=perhaps` is an error instead of being ignored.
    overdue = django_filters.ChoiceFilter(
        choices=[("true", "Overdue"), ("false", "Not overdue")],
        method="filter_overdue",
        label="Overdue",
        empty_label="Overdue or not",
    )
    postmortem = django_filters.ModelChoiceFilter(queryset=PostMortem.objects.all(), label="Post-mortem id")

    class Meta:
        model = Remediation
        fields = ["owner", "kind", "status", "service", "overdue", "postmortem"]

    def filter_owner(self, queryset, name, value):
        value = " ".join(value.split())
        if not value:
            return queryset
        # The owner as shown: the user when there is one, else the name.
        return queryset.annotate(owner_full_name=Concat("owner__first_name", Value(" "), "owner__last_name")).filter(
            Q(owner__isnull=False, owner__username__iexact=value)
            | Q(owner__isnull=False, owner_full_name__iexact=value)
            | Q(owner__isnull=True, owner_name__iexact=value)
        )

    def filter_overdue(self, queryset, name, value):
        overdue = Q(status__in=OPEN_STATUSES, due_date__lt=timezone.localdate())
        return queryset.filter(overdue) if value == "true" else queryset.exclude(overdue)


class ContributingFactorFilter(django_filters.FilterSet):
    # A choice rather than a boolean, so `archived=perhaps` is an error instead of being ignored.
    archived = django_filters.ChoiceFilter(
        choices=[("false", "Active"), ("true", "Archived"), ("all", "Active or archived")],
        method="filter_archived",
        label="Archived",
        empty_label="Active or archived",
        help_text="false: only the active factors (those offered in the editor); true: only archived ones; all "
        "(the default): both.",
    )

    class Meta:
        model = ContributingFactor
        fields = ["archived"]

    def filter_archived(self, queryset, name, value):
        if value == "all":
            return queryset
        return queryset.filter(archived_at__isnull=value == "false")
