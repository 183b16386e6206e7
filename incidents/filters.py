import datetime as dt

import django_filters

from deploys.fields import start_of_day
from deploys.filters import DateOrAwareDateTimeFilter
from deploys.models import Service
from incidents import selectors
from incidents.models import Incident


class IncidentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Incident.Status.choices, method="filter_status", empty_label="Any status")
    severity = django_filters.ChoiceFilter(choices=Incident.Severity.choices, empty_label="Any severity")
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.all(), to_field_name="slug", field_name="services", empty_label="All services",
        distinct=True,
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
    q = django_filters.CharFilter(method="filter_search", label="Search")

    class Meta:
        model = Incident
        fields = ["status", "severity", "service", "since", "until", "deploy_related", "q"]

    def filter_status(self, queryset, name, value):
        return queryset.with_status(value)

    def filter_since(self, queryset, name, value):
        if not isinstance(value, dt.datetime):
            value = start_of_day(value)
        return queryset.started_between(since=value)

    def filter_until(self, queryset, name, value):
        if not isinstance(value, dt.datetime):
            value = start_of_day(value + dt.timedelta(days=1))
        return queryset.started_between(until=value)

    def filter_deploy_related(self, queryset, name, value):
        return queryset.deploy_related(value == "true")

    def filter_search(self, queryset, name, value):
        return selectors.search(queryset, value)
