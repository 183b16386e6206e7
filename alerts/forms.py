"""Query parameters of the alert pages and the alert review API, checked here, never read raw."""

from django import forms

from alerts.models import Alert
from alerts.selectors import ALERT_REVIEW_MAX_MONTHS
from plumbing.fields import MonthField, months_between, this_month
from plumbing.forms import ParameterErrorsMixin


class AlertFilterForm(forms.Form):
    """The alerts list's filters: `status` and `name` (an exact alert name)."""

    status = forms.ChoiceField(choices=[("", "Any")] + Alert.Status.choices, required=False)
    name = forms.CharField(max_length=200, required=False, strip=True)


class AlertReviewMonthForm(forms.Form):
    """The review page's `month`; default this month."""

    month = MonthField(required=False)

    def clean_month(self):
        return self.cleaned_data["month"] or this_month()


class AlertReviewRangeForm(ParameterErrorsMixin, forms.Form):
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
        elif months_between(first, last) > ALERT_REVIEW_MAX_MONTHS:
            self.add_error("to", f"The review covers at most {ALERT_REVIEW_MAX_MONTHS} months.")
        cleaned["first"], cleaned["last"] = first, last
        return cleaned
