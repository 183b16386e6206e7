import re
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from deploys.models import Service
from incidents.models import Incident
from plumbing.filters import since_bound, until_bound
from plumbing.markdown import POSTMORTEM_SECTION_MAX_LENGTH, limit_help
from postmortems.models import ContributingFactor, PostMortem, Remediation
from postmortems.services import FACTOR_NOTE_MAX_LENGTH, FACTORS, POSTMORTEM_EDITABLE

# Generous, but a bound: a section is prose, not a log dump.
SECTION_MAX_LENGTH = POSTMORTEM_SECTION_MAX_LENGTH


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


@dataclass(frozen=True)
class FactorChoice:
    """One row of the editor's contributing-factor picker: the factor, its checkbox and its note."""

    factor: ContributingFactor
    tick: forms.BoundField
    note: forms.BoundField


def factor_choices(postmortem: PostMortem) -> list[ContributingFactor]:
    """What the picker offers: every active factor, and the archived ones this post-mortem names
    (kept, marked archived). One query."""
    named = PostMortem.factors.through.objects.filter(postmortem=postmortem).values("factor_id")
    return list(ContributingFactor.objects.filter(Q(archived_at__isnull=True) | Q(pk__in=named)))


class PostMortemForm(forms.Form):
    """The whole write-up at once. `base_version` is the version the editor was opened on: the
    service refuses the save if someone saved after it. `factors`: the picker's choices
    (factor_choices); each is a checkbox `factor-<slug>` with a note `factor-<slug>-note`. Initial
    factors come as `initial["factors"]`, in PostMortem.content()'s shape."""

    facilitator = forms.CharField(max_length=200, required=False, help_text="Runs the meeting and keeps it blameless.")
    meeting_date = forms.DateField(required=False, widget=DateInput, label="Meeting date")
    no_action_needed = forms.BooleanField(
        required=False, label="No action needed", help_text="Publish without remediations; say why."
    )
    no_action_reason = MarkdownField(rows=2, max_length=5000, label="Why no action is needed")
    no_cause_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        required=False,
        label="Why no deploy caused it",
        help_text="When no deploy is linked as the cause on the incident: a certificate, a provider, traffic…",
    )
    base_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, factors: list[ContributingFactor] = (), **kwargs):
        kwargs.setdefault("label_suffix", "")
        initial = dict(kwargs.get("initial") or {})
        notes = {entry["factor"]: entry.get("note") or "" for entry in initial.pop(FACTORS, None) or []}
        for factor in factors:
            initial[f"factor-{factor.slug}"] = factor.slug in notes
            initial[f"factor-{factor.slug}-note"] = notes.get(factor.slug, "")
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.factors = list(factors)
        for factor in self.factors:
            self.fields[f"factor-{factor.slug}"] = forms.BooleanField(
                required=False, label=factor.name + (" (archived)" if factor.is_archived else "")
            )
            self.fields[f"factor-{factor.slug}-note"] = forms.CharField(
                required=False,
                max_length=FACTOR_NOTE_MAX_LENGTH,
                label=f"How “{factor.name}” contributed",
                widget=forms.TextInput(attrs={"placeholder": "A short note (optional)"}),
            )
        # The sections, in the model's order, after the meeting's facts.
        fields = {name: self.fields.pop(name) for name in ("facilitator", "meeting_date")}
        for name, heading, prompt in PostMortem.SECTIONS:
            fields[name] = MarkdownField(
                label=heading,
                help_text=f"{prompt} {limit_help(SECTION_MAX_LENGTH)}".strip(),
                rows=8 if name == "timeline_narrative" else 5,
            )
        fields.update(self.fields)
        self.fields = fields

    @staticmethod
    def initial_from(postmortem: PostMortem) -> dict:
        initial = {name: getattr(postmortem, name) for name in POSTMORTEM_EDITABLE}
        initial[FACTORS] = postmortem.factor_list()
        initial["base_version"] = postmortem.version
        return initial

    @property
    def section_fields(self) -> list:
        return [self[name] for name in PostMortem.SECTION_FIELDS]

    @property
    def factor_rows(self) -> list[FactorChoice]:
        return [
            FactorChoice(factor, self[f"factor-{factor.slug}"], self[f"factor-{factor.slug}-note"])
            for factor in self.factors
        ]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("no_action_needed") and not (cleaned.get("no_action_reason") or "").strip():
            self.add_error("no_action_reason", "Say why no action is needed.")
        for factor in self.factors:
            if (cleaned.get(f"factor-{factor.slug}-note") or "").strip() and not cleaned.get(f"factor-{factor.slug}"):
                # A note typed without the tick would be lost silently.
                self.add_error(f"factor-{factor.slug}-note", f"Tick “{factor.name}” to keep this note, or clear it.")
        return cleaned

    def changes(self) -> dict:
        """Every editable field and the factors ticked, for postmortems.services.postmortem_save (it
        records only real changes)."""
        changes = {name: self.cleaned_data[name] for name in POSTMORTEM_EDITABLE}
        changes[FACTORS] = [
            {"factor": factor.slug, "note": self.cleaned_data[f"factor-{factor.slug}-note"].strip()}
            for factor in self.factors
            if self.cleaned_data[f"factor-{factor.slug}"]
        ]
        return changes


class PostMortemStatusForm(forms.Form):
    status = forms.ChoiceField(choices=PostMortem.Status.choices)
    base_version = forms.IntegerField(min_value=1)
    # Ticked under the publish checklist: publish with its points still open.
    publish_anyway = forms.BooleanField(required=False)


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
        if settings.OPSLOG_TRACKER_URL:
            # A promise only a configured tracker keeps.
            self.fields["description"].help_text = "Tracker keys such as OPS-123 become links."
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
        """The service's fields (postmortems.services.REMEDIATION_EDITABLE)."""
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
    # Where the insights' remediation health leads: the days the remediations were created (in the
    # reporting zone, both included), overdue ones, and their incidents' severity and team.
    since = forms.DateField(required=False, label="Created since", input_formats=["%Y-%m-%d"])
    until = forms.DateField(required=False, label="Created until", input_formats=["%Y-%m-%d"])
    overdue = forms.ChoiceField(choices=[("", "Overdue or not"), ("true", "Overdue")], required=False)
    severity = forms.TypedMultipleChoiceField(
        choices=[(str(value), label) for value, label in Incident.Severity.choices], coerce=int, required=False
    )
    team = forms.MultipleChoiceField(required=False)
    # The list has always shown the remediations of archived incidents too; the insights leave them
    # out, and their links say `archived=false`.
    archived = forms.ChoiceField(
        choices=[("", "Archived incidents' too"), ("false", "Not of archived incidents")], required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        teams = Service.objects.exclude(dev_team="").order_by("dev_team").values_list("dev_team", flat=True).distinct()
        self.fields["team"].choices = [(team, team) for team in teams]

    def scope(self, queryset: QuerySet[Remediation]) -> QuerySet[Remediation]:
        """Filter by owner, kind, service, team, severity, creation days and overdue: everything but
        the status (follow-through counts all)."""
        data = self.cleaned_data if self.is_bound else {}
        if data.get("since"):
            queryset = queryset.filter(created_at__gte=since_bound(data["since"]))
        if data.get("until"):
            queryset = queryset.filter(created_at__lt=until_bound(data["until"]))
        if data.get("overdue"):
            queryset = queryset.filter(
                status__in=[Remediation.Status.OPEN, Remediation.Status.IN_PROGRESS], due_date__lt=timezone.localdate()
            )
        if data.get("archived") == "false":
            queryset = queryset.filter(postmortem__incident__archived_at__isnull=True)
        if data.get("severity"):
            queryset = queryset.filter(postmortem__incident__severity__in=data["severity"])
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
        if data.get("team"):
            # Exists, not a join: one row per remediation however many of its services match.
            services = Service.objects.filter(dev_team__in=data["team"], incidents=OuterRef("postmortem__incident"))
            if data.get("service"):
                services = services.filter(pk=data["service"].pk)
            queryset = queryset.filter(Exists(services))
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
