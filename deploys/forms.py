"""Forms for the deploy pages: change records and attaching them to deploys. The writes are
deploys.services'. (deploys knows nothing of incidents, so nothing here imports it.)"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from deploys.models import ChangeRecord, Service
from plumbing.markdown import CHANGE_DESCRIPTION_MAX_LENGTH, limit_help


class PlannedAtInput(forms.DateTimeInput):
    """`<input type="datetime-local">`: a wall-clock time in the reporting time zone."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class PlannedAtField(forms.DateTimeField):
    """A time typed in the reporting time zone, within years that convert between time zones."""

    widget = PlannedAtInput
    default_error_messages = {"range": "Enter a time between 1970 and 2999."}

    def to_python(self, value):
        try:
            result = super().to_python(value)
        except OverflowError:
            raise ValidationError(self.error_messages["range"], code="range") from None
        if result is not None and not 1970 <= result.year <= 2999:
            raise ValidationError(self.error_messages["range"], code="range")
        return result


def _now_to_the_minute():
    return timezone.localtime().replace(second=0, microsecond=0)


class ChangeRecordForm(forms.Form):
    """Etsy's four questions before a risky change: who, what and when; have you done this before;
    what will happen when it goes wrong; what will you do when it does."""

    title = forms.CharField(
        max_length=200,
        label="What is changing",
        help_text="In a line: “Add an index to orders.created_at”.",
        widget=forms.TextInput(attrs={"autofocus": True}),
    )
    owner = forms.CharField(max_length=200, label="Who is making the change")
    planned_at = PlannedAtField(initial=_now_to_the_minute, label="When")
    kind = forms.ChoiceField(choices=ChangeRecord.Kind.choices, initial=ChangeRecord.Kind.SCHEMA)
    service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("slug"), to_field_name="slug", required=False, empty_label="—"
    )
    done_before = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=10_000,
        label="Have you done this before?",
        help_text="Here or elsewhere; how did it go?",
    )
    failure_impact = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=10_000,
        label="What will happen when it goes wrong?",
        help_text="Not if: when. Who notices, and what do they see?",
    )
    failure_response = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=10_000,
        label="What will you do when it does go wrong?",
        help_text="How to roll back or forward, and how long that takes.",
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=CHANGE_DESCRIPTION_MAX_LENGTH,
        required=False,
        label="Details",
        help_text=f"Anything else: the plan, links, who to call. {limit_help(CHANGE_DESCRIPTION_MAX_LENGTH)}",
    )

    def __init__(self, *args, record: ChangeRecord | None = None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        self.record = record
        if record is not None:
            kwargs.setdefault("initial", {name: getattr(record, name) for name in self.base_fields})
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = Service.objects.offered(keeping=[record.service if record else None])

    def data_for_service(self) -> dict:
        """deploys.services.change_record_create/update's fields."""
        data = dict(self.cleaned_data)
        # The input shows minutes: an untouched time keeps its seconds.
        if self.record is not None and data["planned_at"] == self.record.planned_at.replace(second=0, microsecond=0):
            data["planned_at"] = self.record.planned_at
        for name in ("done_before", "failure_impact", "failure_response", "description"):
            data[name] = data[name].replace("\r\n", "\n")
        return data


class DeployChangeRecordForm(forms.Form):
    """Attach a change record to a deploy; blank detaches it."""

    change_record = forms.ModelChoiceField(
        queryset=ChangeRecord.objects.all(),
        required=False,
        error_messages={"invalid_choice": "No change record has that id."},
    )
