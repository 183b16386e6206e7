"""List-filter helpers every list page and API shares: repeatable or comma-separated values, dates
or aware times, yes/no choices, and the words and query strings that describe a filtered list."""

import datetime as dt
from urllib.parse import urlencode

import django_filters
from django import forms
from django.utils import timezone
from django_filters import fields as filter_fields
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from plumbing.fields import DateOrAwareDateTimeField, start_of_day


def since_bound(value: dt.date | dt.datetime) -> dt.datetime:
    """A `since` filter's first instant: a date is its whole day from midnight in the reporting
    zone; a time is taken as given."""
    return value if isinstance(value, dt.datetime) else start_of_day(value)


def until_bound(value: dt.date | dt.datetime) -> dt.datetime:
    """A `until` filter's end, exclusive: a date includes its whole day (up to the next midnight);
    a time is taken as given."""
    return value if isinstance(value, dt.datetime) else start_of_day(value + dt.timedelta(days=1))


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


# A choice rather than a boolean, so `production=perhaps` is an error instead of being ignored.
TRUE_OR_FALSE = [("true", "Yes"), ("false", "No")]


def true_or_false_filter(method: str, label: str, help_text: str) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        choices=TRUE_OR_FALSE, method=method, label=label, help_text=help_text, empty_label="Either"
    )


def join_words(items: list[str], last: str = "and") -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def when_in_words(value: dt.date | dt.datetime) -> str:
    if isinstance(value, dt.datetime):
        return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S %Z}"
    return f"{value.day} {value:%b %Y}"


class PageFieldsMixin:
    """For a list page whose form shows some of its FilterSet's filters (`PAGE_FIELDS`): the
    others, given in the URL, are kept as hidden inputs and described in words by the page."""

    PAGE_FIELDS: tuple[str, ...] = ()

    @property
    def kept_parameters(self) -> list[tuple[str, str]]:
        """(name, value) of the filters given that the page's form has no field for (hidden inputs)."""
        return kept_parameters_of(self, self.PAGE_FIELDS)

    @property
    def without_kept_parameters(self) -> str:
        """The query string with only the form's fields: what "Clear" next to `described` opens."""
        return page_fields_query(self, self.PAGE_FIELDS)


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
    return f"team{'s' if len(teams) > 1 else ''} {join_words(teams)}"


def period_in_words(since: dt.date | dt.datetime | None, until: dt.date | dt.datetime | None) -> str:
    """`since` and `until` as the filters read them: a date until is included, a time until isn't."""
    words = []
    if since is not None:
        words.append(f"from {when_in_words(since)}")
    if until is not None:
        words.append(f"{'until just before' if isinstance(until, dt.datetime) else 'to'} {when_in_words(until)}")
    return " ".join(words)
