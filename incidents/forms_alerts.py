"""Query parameters of the alert pages and the alert review API, checked here, never read raw."""

import datetime as dt
import re
import zoneinfo

from django import forms
from django.conf import settings
from django.utils import timezone

from incidents.models import Alert
from incidents.selectors import ALERT_REVIEW_MAX_MONTHS

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
# Like the monthly report: no real alert is older or newer.
FIRST_YEAR, LAST_YEAR = 1970, 2999


def this_month() -> dt.date:
    """The first day of the current month in the reporting time zone."""
    return timezone.now().astimezone(zoneinfo.ZoneInfo(settings.OPSLOG_REPORT_TIME_ZONE)).date().replace(day=1)


class MonthField(forms.Field):
    """`YYYY-MM` (what <input type="month"> sends), as the first day of that month."""

    default_error_messages = {
        "invalid": "Enter a month as YYYY-MM, e.g. 2010-05.",
        "range": f"Enter a month between {FIRST_YEAR} and {LAST_YEAR}.",
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        match = MONTH_RE.match(str(value).strip())
        if not match or not 1 <= int(match[2]) <= 12:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
            raise forms.ValidationError(self.error_messages["range"], code="range")
        return dt.date(int(match[1]), int(match[2]), 1)


class AlertFilterForm(forms.Form):
    """The alerts list's filters: `status` and `name` (an exact alert name)."""

    status = forms.ChoiceField(choices=[("", "Any")] + Alert.Status.choices, required=False)
    name = forms.CharField(max_length=200, required=False, strip=True)


class AlertReviewMonthForm(forms.Form):
    """The review page's `month`; default this month."""

    month = MonthField(required=False)

    def clean_month(self):
        return self.cleaned_data["month"] or this_month()


class AlertReviewRangeForm(forms.Form):
    """The review API's `from` and `to` (months, both included); default this month for both, and
    `from` defaults to `to`."""

    def __init__(self, data=None):
        super().__init__(data)
        # `from` is a Python keyword: declared here.
        self.fields["from"] = MonthField(required=False)
        self.fields["to"] = MonthField(required=False)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        last = cleaned.get("to") or this_month()
        first = cleaned.get("from") or last
        if first > last:
            self.add_error("from", "`from` is after `to`.")
        elif (last.year - first.year) * 12 + last.month - first.month + 1 > ALERT_REVIEW_MAX_MONTHS:
            self.add_error("to", f"The review covers at most {ALERT_REVIEW_MAX_MONTHS} months.")
        cleaned["first"], cleaned["last"] = first, last
        return cleaned

    def errors_by_parameter(self) -> dict[str, list[str]]:
        return {name: [str(message) for message in messages] for name, messages in self.errors.items()}
