"""Forms for the incident pages. They validate input; the writes are incidents.services'."""

import re
from datetime import UTC, datetime

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from deploys.models import Deploy, Service
from incidents.models import LIFECYCLE, Incident, IncidentDeploy, PostMortem, Remediation
from incidents.services import POSTMORTEM_EDITABLE, IncidentInput


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


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError next to the fields it names (or above the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, messages in error.message_dict.items():
        form.add_error(name if name in form.fields else None, messages)


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
    summary = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        strip=False,
        label="What is happening",
        help_text="Markdown.",
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
    commander = forms.CharField(max_length=200, required=False, label="Incident commander")
    participants = forms.CharField(
        max_length=2000, required=False, help_text="Comma-separated: alice, bob, the payments team."
    )

    QUICK_FIELDS = ["title", "severity", "services", "summary", "started_at", "detected_by", "detection_source"]
    LIFECYCLE_FIELDS = LIFECYCLE[1:]

    def __init__(self, *args, incident: Incident | None = None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        self.incident = incident
        if incident is not None:
            kwargs.setdefault("initial", self.initial_from(incident))
        super().__init__(*args, **kwargs)
        if incident is not None:
            # Blank means "now" only when filing; when correcting, blank clears the time.
            self.fields["detected_at"].help_text = ""

    @staticmethod
    def initial_from(incident: Incident) -> dict:
        initial = {name: getattr(incident, name) for name in IncidentForm.base_fields if name != "services"}
        initial["services"] = list(incident.services.all())
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
        return IncidentInput(**{name: self.cleaned_data[name] for name in self.fields})

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


def comparable(name: str, value):
    """A field's value as the edit form shows it, comparable across requests (JSON-safe)."""
    if value is None:
        return None
    if name == "services":
        return sorted(s.slug if isinstance(s, Service) else str(s) for s in value)
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
    values = {name: getattr(incident, name) for name in IncidentForm.base_fields if name != "services"}
    values["services"] = list(incident.services.all())
    return {name: comparable(name, value) for name, value in values.items()}


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Add a note", max_length=10_000)


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


# --- Post-mortems and remediations -----------------------------------------------------------

# Generous, but a bound: a section is prose, not a log dump.
SECTION_MAX_LENGTH = 100_000


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class MarkdownField(forms.CharField):
    """A Markdown textarea kept as typed (not stripped), with the browser's CRLF line ends made LF."""

    def __init__(self, *, rows: int = 6, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", SECTION_MAX_LENGTH)
        super().__init__(strip=False, widget=forms.Textarea(attrs={"rows": rows}), **kwargs)

    def to_python(self, value):
        return super().to_python(value).replace("\r\n", "\n")


class PostMortemForm(forms.Form):
    """The whole write-up at once. `base_version` is the version the editor was opened on: the
    service refuses the save if someone saved after it."""

    facilitator = forms.CharField(max_length=200, required=False, help_text="Runs the meeting and keeps it blameless.")
    meeting_date = forms.DateField(required=False, widget=DateInput, label="Meeting date")
    no_action_needed = forms.BooleanField(
        required=False, label="No action needed", help_text="Publish without remediations; say why."
    )
    no_action_reason = MarkdownField(rows=2, max_length=5000, label="Why no action is needed")
    base_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # The sections, in the model's order, after the meeting's facts.
        fields = {name: self.fields.pop(name) for name in ("facilitator", "meeting_date")}
        for name, heading, prompt in PostMortem.SECTIONS:
            fields[name] = MarkdownField(label=heading, help_text=prompt, rows=8 if name == "timeline_narrative" else 5)
        fields.update(self.fields)
        self.fields = fields

    @staticmethod
    def initial_from(postmortem: PostMortem) -> dict:
        initial = {name: getattr(postmortem, name) for name in POSTMORTEM_EDITABLE}
        initial["base_version"] = postmortem.version
        return initial

    @property
    def section_fields(self) -> list:
        return [self[name] for name in PostMortem.SECTION_FIELDS]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("no_action_needed") and not (cleaned.get("no_action_reason") or "").strip():
            self.add_error("no_action_reason", "Say why no action is needed.")
        return cleaned

    def changes(self) -> dict:
        """Every editable field, for incidents.services.postmortem_save (it records only real changes)."""
        return {name: self.cleaned_data[name] for name in POSTMORTEM_EDITABLE}


class PostMortemStatusForm(forms.Form):
    status = forms.ChoiceField(choices=PostMortem.Status.choices)
    base_version = forms.IntegerField(min_value=1)


class MarkdownPreviewForm(forms.Form):
    text = forms.CharField(required=False, strip=False, max_length=SECTION_MAX_LENGTH)


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        full = user.get_full_name()
        return f"{full} ({user.get_username()})" if full else user.get_username()


def owner_choices() -> QuerySet:
    return get_user_model().objects.filter(is_active=True).order_by("username")


class RemediationForm(forms.Form):
    """A dev or ops remediation. Adding asks only what is needed to start (`adding=True`: no kind,
    status or reason — the kind comes from the column it is added in)."""

    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        label="What is to be done",
        help_text="Tracker keys such as OPS-123 become links.",
    )
    kind = forms.ChoiceField(choices=Remediation.Kind.choices, widget=forms.RadioSelect)
    owner = OwnerChoiceField(queryset=owner_choices(), required=False, empty_label="—", label="Owner")
    owner_name = forms.CharField(
        max_length=200, required=False, label="…or a name", help_text="Someone without an account, or a team."
    )
    due_date = forms.DateField(required=False, widget=DateInput, label="Due")
    status = forms.ChoiceField(choices=Remediation.Status.choices, initial=Remediation.Status.OPEN)
    wont_do_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        required=False,
        label="Why it won't be done",
        help_text="Needed when the status is “Won't do”.",
    )
    tracker_ref = forms.CharField(max_length=100, required=False, label="Tracker", help_text="e.g. OPS-123, or a URL.")

    ADD_FIELDS = ["description", "owner", "owner_name", "due_date", "tracker_ref"]

    def __init__(self, *args, remediation: Remediation | None = None, adding: bool = False, **kwargs):
        kwargs.setdefault("label_suffix", "")
        if remediation is not None:
            kwargs.setdefault("initial", {name: getattr(remediation, name) for name in self.base_fields})
        super().__init__(*args, **kwargs)
        if adding:
            self.fields = {name: self.fields[name] for name in self.ADD_FIELDS}

    def clean_tracker_ref(self) -> str:
        value = self.cleaned_data["tracker_ref"]
        if re.search(r"[\x00-\x1f\x7f]", value):
            raise ValidationError("Use a single line of text.")
        return value

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("owner") and cleaned.get("owner_name"):
            self.add_error("owner_name", "Choose a user or type a name, not both.")
        return cleaned

    def changes(self) -> dict:
        """The service's fields (incidents.services.REMEDIATION_EDITABLE)."""
        return dict(self.cleaned_data)


class RemediationFilterForm(forms.Form):
    """The follow-through list's filters. Blank status means the open ones (open or in progress)."""

    OPEN = "open"
    STATUS_CHOICES = [
        (OPEN, "Open or in progress"),
        ("all", "Any status"),
        ("in_progress", "In progress"),
        ("done", "Done"),
        ("wont_do", "Won't do"),
    ]

    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    owner = forms.CharField(max_length=200, required=False)
    kind = forms.ChoiceField(choices=[("", "Dev and ops")] + Remediation.Kind.choices, required=False)
    service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("slug"), to_field_name="slug", required=False, empty_label="All services"
    )

    def scope(self, queryset: QuerySet[Remediation]) -> QuerySet[Remediation]:
        """Filter by owner, kind and service: everything but the status (follow-through counts all)."""
        data = self.cleaned_data if self.is_bound else {}
        for word in (data.get("owner") or "").split():
            queryset = queryset.filter(
                Q(owner_name__icontains=word)
                | Q(owner__username__icontains=word)
                | Q(owner__first_name__icontains=word)
                | Q(owner__last_name__icontains=word)
            )
        if data.get("kind"):
            queryset = queryset.filter(kind=data["kind"])
        if data.get("service"):
            # One row per remediation: an incident lists a service at most once.
            queryset = queryset.filter(postmortem__incident__services=data["service"])
        return queryset

    def by_status(self, queryset: QuerySet[Remediation]) -> QuerySet[Remediation]:
        status = (self.cleaned_data.get("status") if self.is_bound else "") or self.OPEN
        if status == self.OPEN:
            return queryset.filter(status__in=[Remediation.Status.OPEN, Remediation.Status.IN_PROGRESS])
        if status == "all":
            return queryset
        return queryset.filter(status=status)


class RevisionCompareForm(forms.Form):
    """Two versions of a post-mortem to compare."""

    a = forms.TypedChoiceField(coerce=int, label="From")
    b = forms.TypedChoiceField(coerce=int, label="To")

    def __init__(self, *args, revisions: list, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        choices = [
            (
                revision.version,
                f"v{revision.version} · {timezone.localtime(revision.saved_at):%Y-%m-%d %H:%M}"
                + (f" · {revision.saved_by.get_username()}" if revision.saved_by else ""),
            )
            for revision in revisions
        ]
        self.fields["a"].choices = self.fields["b"].choices = choices
