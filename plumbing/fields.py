"""Time inputs that refuse to guess a time zone, the plausible-time rule, and month fields."""

import datetime as dt
import re
import zoneinfo

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers

NAIVE_MESSAGE = "Include a UTC offset, e.g. 2024-05-18T22:20:50Z or 2024-05-18T22:20:50+02:00."
# Far-off years overflow when converted between time zones; no real record needs them.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2999, 12, 31, tzinfo=dt.UTC)
RANGE_MESSAGE = "Enter a time between 1970 and 2999."
# A deploy time a little ahead of ours is a sender's clock drift; more is a mistake.
FUTURE_SLACK = dt.timedelta(minutes=5)


def is_plausible(value: dt.datetime | dt.date) -> bool:
    if isinstance(value, dt.datetime):
        try:
            return EARLIEST <= value <= LATEST
        except OverflowError:
            return False
    return EARLIEST.date() <= value <= LATEST.date()


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its UTC offset; shown in UTC."""

    default_error_messages = {"naive": NAIVE_MESSAGE, "range": RANGE_MESSAGE}

    def __init__(self, **kwargs):
        kwargs.setdefault("default_timezone", dt.UTC)
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        elif isinstance(value, dt.datetime) and timezone.is_naive(value):
            self.fail("naive")
        if isinstance(value, str) and parsed is not None and not is_plausible(parsed):
            self.fail("range")
        return super().to_internal_value(value)


class DateOrAwareDateTimeField(forms.Field):
    """A query parameter: a date (a whole day in the reporting time zone) or a time with an offset."""

    default_error_messages = {
        "invalid": "Enter a date (2024-05-18) or a time with a UTC offset (2024-05-18T22:20:50Z).",
        "naive": NAIVE_MESSAGE,
        "range": RANGE_MESSAGE,
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, dt.date):
            return value
        text = str(value).strip()
        # Checked first: Python's fromisoformat (used by parse_datetime) reads a bare date as midnight.
        if len(text) == 10:
            try:
                day = parse_date(text)
            except ValueError:
                day = None
            if day is None:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            if not is_plausible(day):
                raise forms.ValidationError(self.error_messages["range"], code="range")
            return day
        try:
            parsed = parse_datetime(text)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if parsed is not None:
            if timezone.is_naive(parsed):
                raise forms.ValidationError(self.error_messages["naive"], code="naive")
            if not is_plausible(parsed):
                raise forms.ValidationError(self.error_messages["range"], code="range")
            return parsed
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the reporting time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone())


# --- Months (the dashboard's range, the alert review) -----------------------------------------------

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
# Like the deploy and incident times: no real record is older or newer.
FIRST_YEAR, LAST_YEAR = EARLIEST.year, LATEST.year


def months_between(first: dt.date, last: dt.date) -> int:
    """How many months `first` to `last` covers, both included."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


def this_month() -> dt.date:
    """The first day of the current month in the reporting time zone."""
    return timezone.now().astimezone(zoneinfo.ZoneInfo(settings.OPSLOG_REPORT_TIME_ZONE)).date().replace(day=1)


class MonthInput(forms.DateInput):
    input_type = "month"

    def __init__(self, attrs=None):
        super().__init__(attrs={"placeholder": "YYYY-MM", **(attrs or {})}, format="%Y-%m")


class MonthField(forms.Field):
    """`YYYY-MM` (what <input type="month"> sends), as the first day of that month."""

    widget = MonthInput
    default_error_messages = {
        "invalid": "Enter a month as YYYY-MM, e.g. 2010-05.",
        "range": f"Enter a month between {FIRST_YEAR} and {LAST_YEAR}.",
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, dt.date):
            return value.replace(day=1)
        match = MONTH_RE.match(str(value).strip())
        if not match or not 1 <= int(match[2]) <= 12:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
            raise forms.ValidationError(self.error_messages["range"], code="range")
        return dt.date(int(match[1]), int(match[2]), 1)
