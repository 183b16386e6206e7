"""Forms for the incident pages. They validate input; the writes are incidents.services'."""

import uuid
from datetime import UTC, datetime

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse_lazy
from django.utils import timezone

from deploys.models import Deploy, Service
from incidents.models import LIFECYCLE, Incident, IncidentDeploy
from incidents.services import TAG_SEPARATOR, IncidentInput, clean_tags
from plumbing.markdown import INCIDENT_SUMMARY_MAX_LENGTH, TIMELINE_NOTE_MAX_LENGTH, limit_help
from plumbing.validators import single_line_validator

# A name: suggestions from the page's <datalist id="known-people">, any other name taken as typed.
PersonInput = forms.TextInput(attrs={"list": "known-people", "autocomplete": "off"})


class TagsField(forms.CharField):
    """Tags typed as comma-separated text ("dns, black-friday"); cleaned to a list of names by the
    service's rule (incidents.services.clean_tags). static/opslog/tags.js adds suggestions of the
    tags in use from /api/tags/; without it the field is plain text."""

    widget = forms.TextInput(
        attrs={"autocomplete": "off", "data-tag-suggestions": reverse_lazy("api:tag-list"), "spellcheck": "false"}
    )

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text", "Comma-separated: dns, database, black-friday. Any case: DNS and dns are one tag."
        )
        super().__init__(strip=False, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return f"{TAG_SEPARATOR} ".join(value)
        return value

    def clean(self, value):
        value = super().clean(value)
        try:
            return clean_tags(value or "")
        except ValidationError as error:
            raise ValidationError(error.message_dict["tags"]) from None


class LocalDateTimeInput(forms.DateTimeInput):
    """`<input type="datetime-local">`: a wall-clock time in the reporting time zone (Django's
    current time zone), to the second so that an untouched value submits unchanged."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs={"step": "1", **(attrs or {})}, format="%Y-%m-%dT%H:%M:%S")


class LocalDateTimeField(forms.DateTimeField):
    """A time typed in the reporting time zone. forms.DateTimeField reads a naive time in the
    current time zone and refuses times that a DST change skips or repeats."""

    widget = LocalDateTimeInput
    default_error_messages = {"range": "Enter a time between 1970 and 2999."}

    def to_python(self, value):
        try:
            result = super().to_python(value)
        except OverflowError:  # year 1 moved to UTC
            raise ValidationError(self.error_messages["range"], code="range") from None
        except ValidationError as error:
            result = self._repeated_hour(value)
            if result is None:
                raise error
        if result is not None and not 1970 <= result.year <= 2999:
            raise ValidationError(self.error_messages["range"], code="range")
        return result

    @staticmethod
    def _repeated_hour(value):
        """A wall-clock time that occurs twice (clocks going back) is read as its first occurrence;
        one that never occurs (clocks going forward) stays an error."""
        try:
            naive = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
        if naive.tzinfo is not None:
            return None
        zone = timezone.get_current_timezone()
        first = naive.replace(tzinfo=zone, fold=0)
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
            return None  # skipped by a DST change
        return first


def default_started_at():
    """Now, to the minute: the default for "when it started"."""
    return timezone.now().replace(second=0, microsecond=0)


class IncidentForm(forms.Form):
    """Filing and correcting an incident. The fields needed in a hurry come first."""

    title = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autofocus": True}))
    severity = forms.TypedChoiceField(
        choices=Incident.Severity.choices, coerce=int, initial=Incident.Severity.SEV3, widget=forms.RadioSelect
    )
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.order_by("slug"),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Affected services",
    )
    tags = TagsField()
    summary = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        strip=False,
        max_length=INCIDENT_SUMMARY_MAX_LENGTH,
        label="What is happening",
        help_text=limit_help(INCIDENT_SUMMARY_MAX_LENGTH),
    )
    started_at = LocalDateTimeField(
        initial=default_started_at, label="When it started", help_text="When the impact began."
    )
    detected_by = forms.ChoiceField(
        choices=Incident.DetectedBy.choices, initial=Incident.DetectedBy.MONITORING, label="How it was detected"
    )
    detection_source = forms.CharField(
        max_length=200,
        required=False,
        label="Detected through",
        help_text="The alert's name, the customer ticket, who noticed…",
    )
    detected_at = LocalDateTimeField(required=False, label="Detected at", help_text="Blank: now.")
    acknowledged_at = LocalDateTimeField(required=False, label="Acknowledged at")
    mitigated_at = LocalDateTimeField(required=False, label="Mitigated at")
    resolved_at = LocalDateTimeField(required=False, label="Resolved at")
    commander = forms.CharField(
        max_length=200,
        required=False,
        label="Incident lead (commander)",
        validators=[single_line_validator],
        widget=PersonInput,
    )
    comms_lead = forms.CharField(
        max_length=200,
        required=False,
        label="Communications lead",
        validators=[single_line_validator],
        widget=PersonInput,
    )
    scribe = forms.CharField(max_length=200, required=False, validators=[single_line_validator], widget=PersonInput)
    participants = forms.CharField(
        max_length=2000, required=False, help_text="Comma-separated: alice, bob, the payments team."
    )

    QUICK_FIELDS = ["title", "severity", "services", "tags", "summary", "started_at", "detected_by", "detection_source"]
    LIFECYCLE_FIELDS = LIFECYCLE[1:]

    def __init__(self, *args, incident: Incident | None = None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        self.incident = incident
        if incident is not None:
            kwargs.setdefault("initial", self.initial_from(incident))
        super().__init__(*args, **kwargs)
        # Archived services aren't offered for a new incident; one already on it stays.
        keeping = incident.services.all() if incident is not None else []
        self.fields["services"].queryset = Service.objects.offered(keeping=keeping).order_by("slug")
        if incident is not None:
            # Blank means "now" only when filing; when correcting, blank clears the time.
            self.fields["detected_at"].help_text = ""

    @staticmethod
    def initial_from(incident: Incident) -> dict:
        initial = {
            name: getattr(incident, name) for name in IncidentForm.base_fields if name not in ("services", "tags")
        }
        initial["services"] = list(incident.services.all())
        initial["tags"] = incident.tag_names
        initial["participants"] = ", ".join(incident.participants or [])
        return initial

    @property
    def severity_options(self) -> list[tuple]:
        """Each severity's radio button with its one-line description."""
        return [(radio, Incident.SEVERITY_DESCRIPTIONS[int(radio.data["value"])]) for radio in self["severity"]]

    @property
    def optional_fields(self) -> list:
        return [self[name] for name in self.fields if name not in self.QUICK_FIELDS]

    @property
    def optional_has_errors(self) -> bool:
        return any(name in self.errors for name in self.fields if name not in self.QUICK_FIELDS)

    def clean_summary(self) -> str:
        # Browsers send textarea lines ending in CRLF; store them as people typed them.
        return self.cleaned_data["summary"].replace("\r\n", "\n").strip("\n")

    def clean_participants(self) -> list[str]:
        names = [name.strip() for name in self.cleaned_data["participants"].split(",")]
        return list(dict.fromkeys(name for name in names if name))

    def to_input(self) -> IncidentInput:
        """The service's input for a new incident."""
        return IncidentInput(**{name: self.cleaned_data[name] for name in IncidentForm.base_fields})

    def changes(self) -> dict:
        """The service's changes for an existing incident.

        Times the user didn't touch are left out: the form shows them to the second, so sending
        them back would drop their microseconds and record an edit nobody made. Other fields are
        all sent; the service compares them with the stored values and records only real changes.
        """
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in LIFECYCLE or name in self.changed_data
        }


class NewIncidentForm(IncidentForm):
    """Filing: the incident's fields, the form's idempotency key, and the answer to a duplicate warning."""

    # Made when the form is shown; the same form submitted twice (a double click, a resubmitted
    # POST, a page restored from the back-forward cache) carries the same key and finds the incident
    # it filed. Chromium reloads this page on Back with a fresh key: then the duplicate warning catches it.
    # A hidden field has nowhere to show an error: a malformed key is dropped (no idempotency), not refused.
    filing_key = forms.CharField(required=False, initial=uuid.uuid4, widget=forms.HiddenInput)
    file_anyway = forms.BooleanField(required=False, label="File it anyway: it is a different incident")

    FORM_FIELDS = ("filing_key", "file_anyway")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["filing_key"].validators = []  # not even the null-character check: see clean_filing_key

    @property
    def optional_fields(self) -> list:
        return [field for field in super().optional_fields if field.name not in self.FORM_FIELDS]

    def clean_filing_key(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self.cleaned_data["filing_key"][:36])
        except ValueError:
            return None

    def to_input(self) -> IncidentInput:
        data = super().to_input()
        data.filing_key = self.cleaned_data["filing_key"]
        return data


class RoleForm(forms.Form):
    """Hand a role over from the incident page: a name, or nobody (empty)."""

    role = forms.ChoiceField(choices=Incident.Role.choices, error_messages={"invalid_choice": "There is no such role."})
    name = forms.CharField(
        max_length=200,
        required=False,
        validators=[single_line_validator],
        error_messages={"max_length": "Keep a name under %(limit_value)d characters (%(show_value)d now)."},
    )


class StampForm(forms.Form):
    """A stamp button's optional time ("Resolved at …"); blank is now."""

    at = LocalDateTimeField(required=False, label="At")


def comparable(name: str, value):
    """A field's value as the edit form shows it, comparable across requests (JSON-safe)."""
    if value is None:
        return None
    if name == "services":
        return sorted(s.slug if isinstance(s, Service) else str(s) for s in value)
    if name == "tags":
        # In any case: "DNS" for an existing "dns" is no change (the stored spelling wins).
        return sorted(str(tag).casefold() for tag in value)
    if hasattr(value, "astimezone"):
        # As the form shows it: wall-clock time to the second in the reporting time zone, so an
        # untouched time in a DST-repeated hour compares equal to itself.
        return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M:%S")
    if name == "summary":
        return value.replace("\r\n", "\n").strip("\n")
    return value


def editable_state(incident: Incident) -> dict:
    """The incident's editable fields as the edit form showed them: sent along with the form so
    a save applies only what this person changed, and spots what others changed meanwhile."""
    values = {name: getattr(incident, name) for name in IncidentForm.base_fields if name not in ("services", "tags")}
    values["services"] = list(incident.services.all())
    values["tags"] = incident.tag_names
    return {name: comparable(name, value) for name, value in values.items()}


class NoteForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Add a note",
        max_length=TIMELINE_NOTE_MAX_LENGTH,
        help_text=limit_help(TIMELINE_NOTE_MAX_LENGTH),
    )


class DeployLinkForm(forms.Form):
    """Link or unlink a deploy: as a cause of the incident or as remediating it."""

    deploy = forms.ModelChoiceField(
        queryset=Deploy.objects.with_related(), error_messages={"invalid_choice": "No deploy has that id."}
    )
    relation = forms.ChoiceField(choices=IncidentDeploy.Relation.choices)
    note = forms.CharField(max_length=2000, required=False)


class DeploySearchForm(forms.Form):
    """ "Find another deploy": by its id, or by service and version text."""

    RESULTS = 20

    deploy = forms.IntegerField(required=False, min_value=1, label="Deploy id")
    service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("slug"), to_field_name="slug", required=False, empty_label="Any service"
    )
    version = forms.CharField(max_length=200, required=False)

    def is_searching(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.fields)

    def results(self) -> list[Deploy]:
        """Up to RESULTS matching deploys, newest first; empty unless the form is valid and filled."""
        if not (self.is_searching() and self.is_valid()):
            return []
        deploys = Deploy.objects.with_related().newest_first()
        data = self.cleaned_data
        if data["deploy"]:
            deploys = deploys.filter(pk=data["deploy"])
        if data["service"]:
            deploys = deploys.filter(service=data["service"])
        if data["version"]:
            deploys = deploys.filter(version__icontains=data["version"].strip())
        return list(deploys[: self.RESULTS])
