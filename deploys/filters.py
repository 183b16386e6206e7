import datetime as dt

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from deploys.fields import DateOrAwareDateTimeField, start_of_day
from deploys.models import Deploy, Environment, Service


@extend_schema_field(OpenApiTypes.STR)
class DateOrAwareDateTimeFilter(django_filters.Filter):
    """A date (2024-05-18) or a time with a UTC offset (2024-05-18T22:20:50Z)."""

    field_class = DateOrAwareDateTimeField


class DeployFilter(django_filters.FilterSet):
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.all(), to_field_name="slug", empty_label="All services"
    )
    environment = django_filters.ModelChoiceFilter(
        queryset=Environment.objects.all(), to_field_name="slug", empty_label="All environments"
    )
    deployer = django_filters.CharFilter(method="filter_deployer")
    status = django_filters.ChoiceFilter(choices=Deploy.Status.choices, empty_label="Any status")
    since = DateOrAwareDateTimeFilter(
        method="filter_since", label="Since", help_text="A date (whole day, reporting time zone) or a time with offset."
    )
    until = DateOrAwareDateTimeFilter(
        method="filter_until", label="Until", help_text="A date (inclusive) or a time with offset (exclusive)."
    )

    class Meta:
        model = Deploy
        fields = ["service", "environment", "deployer", "status", "since", "until"]

    def filter_deployer(self, queryset, name, value):
        return queryset.filter(deployer=value.strip()) if value.strip() else queryset

    def filter_since(self, queryset, name, value):
        if not isinstance(value, dt.datetime):
            value = start_of_day(value)
        return queryset.between(since=value)

    def filter_until(self, queryset, name, value):
        if not isinstance(value, dt.datetime):
            value = start_of_day(value + dt.timedelta(days=1))
        return queryset.between(until=value)


# --- Change records ----------------------------------------------------------------------------------

from deploys.models import ChangeRecord  # noqa: E402


class ChangeRecordFilter(django_filters.FilterSet):
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.all(), to_field_name="slug", empty_label="All services"
    )
    kind = django_filters.ChoiceFilter(choices=ChangeRecord.Kind.choices, empty_label="Any kind")
    owner = django_filters.CharFilter(method="filter_owner", help_text="Who makes the change (any case).")
    since = DateOrAwareDateTimeFilter(
        method="filter_since", label="Planned since",
        help_text="A date (whole day, reporting time zone) or a time with offset.",
    )
    until = DateOrAwareDateTimeFilter(
        method="filter_until", label="Planned until",
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
