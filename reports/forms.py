"""The report's query: a range of months and filters, checked the same way for the dashboard and the API."""

import copy
import datetime as dt
import re
import unicodedata

from django import forms

from deploys.models import Environment, Service
from incidents.models import Incident
from plumbing.fields import FIRST_YEAR, LAST_YEAR, MonthField, months_between, this_month
from plumbing.forms import ParameterErrorsMixin
from postmortems.models import ContributingFactor
from reports.insights import InsightFilters
from reports.periods import (
    DAY_RE,
    DEFAULT_QUARTERS,
    DEFAULT_WEEKS,
    MAX_QUARTERS,
    MAX_WEEKS,
    QUARTER_RE,
    WEEK_RE,
    quarter_label,
    quarter_start,
    quarters_between,
    week_label,
    week_start,
    weeks_between,
)
from reports.selectors import MAX_MONTHS, Filters, add_months, today

YEAR_RE = re.compile(r"^(\d{4})$", re.ASCII)
DEFAULT_MONTHS = 12


def month_label(month: dt.date) -> str:
    return f"{month:%Y-%m}"


class YearOrMonthField(MonthField):
    """`YYYY` (January of that year) or `YYYY-MM`; the yearly report widens either to whole years."""

    default_error_messages = {
        "invalid": "Enter a year as YYYY (e.g. 2010) or a month as YYYY-MM.",
        "range": f"Enter a year between {FIRST_YEAR} and {LAST_YEAR}.",
    }

    def to_python(self, value):
        text = "" if value in self.empty_values else str(value).strip()
        match = YEAR_RE.match(text)
        if match:
            if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
                raise forms.ValidationError(self.error_messages["range"], code="range")
            return dt.date(int(match[1]), 1, 1)
        return super().to_python(value)


class ListWidget(forms.SelectMultiple):
    """Reads a parameter given several times (`service=web&service=api`) or comma-separated
    (`service=web,api`), or both."""

    def value_from_datadict(self, data, files, name):
        raw = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if raw is None:
            return []
        if isinstance(raw, str):
            raw = [raw]
        return [item.strip() for value in raw for item in str(value).split(",") if item.strip()]


class ValueListField(forms.Field):
    """A list of values, each of which must be one of `choices` (set by the form)."""

    widget = ListWidget
    default_error_messages = {"unknown": "Unknown {noun}: {values}."}

    def __init__(self, *, noun: str, known: str = "", **kwargs):
        self.noun, self.known, self.choices = noun, known, []
        # Values that exist but can't be chosen, each with what they are instead (set by the form).
        self.excluded: dict[str, str] = {}
        super().__init__(required=False, **kwargs)

    def to_python(self, value):
        values = value or []
        return list(dict.fromkeys(str(v) for v in values))  # in order, without repeats

    def validate(self, value):
        allowed = {str(choice) for choice, _ in self.choices}
        unknown = [v for v in value if v not in allowed]
        if unknown:
            parts = []
            missing = [v for v in unknown if v not in self.excluded]
            if missing:
                parts.append(
                    self.error_messages["unknown"].format(noun=self.noun, values=", ".join(f"“{v}”" for v in missing))
                )
            for why in dict.fromkeys(self.excluded[v] for v in unknown if v in self.excluded):
                values = ", ".join(f"“{v}”" for v in unknown if self.excluded.get(v) == why)
                parts.append(f"{why[0].upper()}{why[1:]}: {values}.")
            message = " ".join(parts)
            if self.known:
                message += f" {self.known}"
            raise forms.ValidationError(message, code="unknown")


# A duration: `4h`, `90m`, `2h30m`, `1d`, `45s`, or a number of hours (`4`, `1.5`).
# ASCII digits only (re.ASCII): float() would also take "٤", "1_0" or "1e9".
DURATION_RE = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$", re.ASCII
)
HOURS_RE = re.compile(r"^\d+(?:\.\d+)?$", re.ASCII)
# Longer than any duration up to 7 days needs ("168h", "6d23h59m59.999s"): refused unread.
MAX_DURATION_LENGTH = 40
MAX_WINDOW = dt.timedelta(days=7)


class WindowField(forms.Field):
    """The inferred attribution rule's window: `4h`, `90m`, `2h30m`, `1d`, or hours as a number;
    more than 0, at most 7 days. Empty: OPSLOG_ATTRIBUTION_WINDOW_HOURS."""

    default_error_messages = {
        "invalid": "Enter a duration such as 4h, 90m or 2h30m, or a number of hours such as 4 or 1.5.",
        "range": "The window must be more than 0 and at most 7 days (168h).",
    }

    def to_python(self, value):
        text = "" if value in self.empty_values else str(value).strip().lower().replace(" ", "")
        if not text:
            return None
        if len(text) > MAX_DURATION_LENGTH:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        # A negative duration reads, and is then out of range: "-1" says "more than 0".
        negative = text.startswith("-")
        text = text.removeprefix("-")
        if HOURS_RE.match(text):
            parts = (0.0, float(text), 0.0, 0.0)
        else:
            match = DURATION_RE.match(text)
            if not match or not any(match.groups()):
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            parts = tuple(float(part) if part else 0.0 for part in match.groups())
        days, hours, minutes, seconds = parts
        # Compared as seconds before a timedelta is made: "99999999999h" would overflow one.
        total = days * 86400 + hours * 3600 + minutes * 60 + seconds
        if negative or not 0 < total <= MAX_WINDOW.total_seconds():
            raise forms.ValidationError(self.error_messages["range"], code="range")
        return dt.timedelta(seconds=total)


ATTRIBUTION_CHOICES = [
    ("linked", "Linked causes only"),
    ("inferred", "Linked, else inferred"),
    ("both", "Both side by side"),
]


def environment_slugs() -> tuple[list[str], list[str]]:
    """The production environments' slugs (the only ones whose deploys count, so the only ones to
    filter on), and the others'."""
    production, others = [], []
    for slug, is_production in Environment.objects.order_by("slug").values_list("slug", "is_production"):
        (production if is_production else others).append(slug)
    return production, others


def choose_environments(field: ValueListField) -> list[str]:
    """Sets `field` up for the production environments; returns their slugs."""
    production, others = environment_slugs()
    field.choices = [(slug, slug) for slug in production]
    field.excluded = dict.fromkeys(others, "not a production environment")
    field.known = environment_known(production)
    return production


def environment_known(slugs: list[str]) -> str:
    """What an unknown environment's message adds: the production environments there are."""
    if not slugs:
        return "There are no production environments yet."
    listed = ", ".join(slugs[:10]) + (f" and {len(slugs) - 10} more" if len(slugs) > 10 else "")
    return f"Only deploys to production environments count: use {listed}."


class ReportForm(ParameterErrorsMixin, forms.Form):
    """`from`, `to` (months, both included), `service`, `team`, `environment`, `severity`.

    Without `from` and `to`: the last 12 months up to this one, in the reporting time zone. With
    only `to`: the 12 months up to it. With only `from`: from it up to this month.
    """

    month_field = MonthField
    service = ValueListField(noun="service", label="Service")
    team = ValueListField(noun="team", label="Team")
    environment = ValueListField(noun="environment", label="Environment")
    severity = ValueListField(noun="severity", known="Use 1, 2, 3 or 4.", label="Severity")
    # Periods that haven't ended are left out of the DORA level unless this says otherwise.
    include_partial = forms.TypedChoiceField(
        choices=[(value, value) for value in ("1", "true", "0", "false")],
        coerce=lambda value: value in ("1", "true"),
        empty_value=False,
        required=False,
        label="Include partial periods",
        error_messages={
            "invalid_choice": "Use 1 or true to include partial periods in the DORA level, 0 or false not to."
        },
    )

    # Which incidents count against which deploys (docs/metrics.md, "Attribution").
    attribution = forms.ChoiceField(
        choices=ATTRIBUTION_CHOICES,
        required=False,
        label="Attribution",
        error_messages={
            "invalid_choice": "Use linked (only the causes someone linked), inferred (linked, else the latest "
            "production deploy of an affected service within the window) or both."
        },
    )
    window = WindowField(required=False, label="Window")

    def __init__(self, data=None, *, services: list[Service] | None = None, **kwargs):
        super().__init__(data if data is not None else {}, **kwargs)
        # `from` is a Python keyword, so these two are added here rather than declared above.
        self.fields = {
            "from": self.month_field(required=False, label="From", help_text="First month, YYYY-MM."),
            "to": self.month_field(required=False, label="To", help_text="Last month, YYYY-MM (included)."),
            **self.fields,
        }
        # One query gives both lists; the dashboard shows them as its choices.
        if services is None:
            services = list(Service.objects.order_by("slug").only("slug", "name", "dev_team"))
        self.services = services
        self.teams = sorted({s.dev_team for s in self.services if s.dev_team}, key=str.lower)
        self.fields["service"].choices = [(s.slug, s.display_name) for s in self.services]
        self.fields["team"].choices = [(t, t) for t in self.teams]
        self.environments = choose_environments(self.fields["environment"])
        self.fields["severity"].choices = [(str(value), label) for value, label in Incident.Severity.choices]

    def clean(self):
        cleaned = super().clean()
        if self.errors.keys() & {"from", "to"}:
            return cleaned
        first, last = cleaned.get("from"), cleaned.get("to")
        if last is None:
            last = self.default_last()
        if first is None:
            first = self.default_first(last)
        cleaned["from"], cleaned["to"] = first, last
        order_error = self.order_error(first, last)
        if order_error:
            self.add_error("from", order_error)
        else:
            self.check_length(first, last)
        return cleaned

    def default_last(self) -> dt.date:
        """`to` when not given: this period."""
        return this_month()

    def default_first(self, last: dt.date) -> dt.date:
        """`from` when not given: 12 months up to `last`."""
        return add_months(last, -(DEFAULT_MONTHS - 1))

    def order_error(self, first: dt.date, last: dt.date) -> str | None:
        """What is wrong when `first` is after `last`; None when it isn't."""
        if first > last:
            return f"The first month ({month_label(first)}) is after the last one ({month_label(last)})."
        return None

    def check_length(self, first: dt.date, last: dt.date) -> None:
        months = months_between(first, last)
        if months > MAX_MONTHS:
            self.add_error(
                "to",
                f"A report covers at most {MAX_MONTHS} months (20 years); "
                f"{month_label(first)} to {month_label(last)} is {months}.",
            )

    @property
    def filters(self) -> Filters:
        """The report's filters; call after is_valid()."""
        return Filters(
            services=tuple(self.cleaned_data["service"]),
            teams=tuple(self.cleaned_data["team"]),
            environments=tuple(self.cleaned_data["environment"]),
            severities=tuple(int(s) for s in self.cleaned_data["severity"]),
            # With "both", the report's own figures are the linked rule's; `for_rule("inferred")` the others.
            attribution="inferred" if self.attribution_rule == "inferred" else "linked",
            attribution_window=self.cleaned_data.get("window"),
        )

    @property
    def attribution_rule(self) -> str:
        """linked (the default), inferred or both; call after is_valid()."""
        return self.cleaned_data.get("attribution") or "linked"

    @property
    def window_seconds(self) -> float | None:
        """The inferred rule's window in seconds, the asked one or the setting's; None for linked."""
        if self.attribution_rule == "linked":
            return None
        return self.filters.window.total_seconds()

    def for_rule(self, rule: str) -> "ReportForm":
        """This form, answering `filters` under `rule` (linked or inferred): for `attribution=both`."""
        other = copy.copy(self)
        other.cleaned_data = {**self.cleaned_data, "attribution": rule}
        return other

    @property
    def partial_in_level(self) -> bool:
        return self.cleaned_data["include_partial"]

    @property
    def first(self) -> dt.date:
        return self.cleaned_data["from"]

    @property
    def last(self) -> dt.date:
        return self.cleaned_data["to"]


class YearlyReportForm(ReportForm):
    """As ReportForm, but `from` and `to` may also be years (`2010`); the report covers every
    calendar year from `from`'s to `to`'s, at most 20. Default: the years of the last 12 months."""

    month_field = YearOrMonthField

    def order_error(self, first: dt.date, last: dt.date) -> str | None:
        # In years: `from=2010-05&to=2010-03` stands for 2010 to 2010, a report of one year.
        if first.year > last.year:
            return f"The first year ({first.year}) is after the last one ({last.year})."
        return None

    def check_length(self, first: dt.date, last: dt.date) -> None:
        years = last.year - first.year + 1
        if years * 12 > MAX_MONTHS:
            self.add_error(
                "to",
                f"A report covers at most {MAX_MONTHS // 12} calendar years; {first.year} to {last.year} is {years}.",
            )


def _day(text: str, invalid: str) -> dt.date:
    """A `YYYY-MM-DD` day between FIRST_YEAR and LAST_YEAR, or a ValidationError saying `invalid`."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise forms.ValidationError(invalid, code="invalid") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise forms.ValidationError(f"Enter a day between {FIRST_YEAR} and {LAST_YEAR}.", code="range")
    return day


class WeekField(MonthField):
    """`YYYY-Www` (an ISO week, what <input type="week"> sends) or a day `YYYY-MM-DD` standing for its
    ISO week; the Monday starting the week."""

    default_error_messages = {
        "invalid": "Enter an ISO week as YYYY-Www (e.g. 2026-W05) or a day as YYYY-MM-DD.",
        "week": "{year} has no week {week}: its ISO weeks are W01 to W{last:02d}.",
        "range": f"Enter a week between {FIRST_YEAR} and {LAST_YEAR}.",
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, dt.date):
            return week_start(value)
        text = str(value).strip()
        if DAY_RE.match(text):
            return week_start(_day(text, self.error_messages["invalid"]))
        match = WEEK_RE.match(text)
        if not match:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        year, week = int(match[1]), int(match[2])
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise forms.ValidationError(self.error_messages["range"], code="range")
        weeks = dt.date(year, 12, 28).isocalendar().week  # 28 December is always in the year's last week
        if not 1 <= week <= weeks:
            raise forms.ValidationError(
                self.error_messages["week"].format(year=year, week=f"W{week:02d}", last=weeks), code="week"
            )
        return dt.date.fromisocalendar(year, week, 1)


class QuarterField(MonthField):
    """`YYYY-Qn` (n = 1–4), a month `YYYY-MM` or a day `YYYY-MM-DD`, standing for its calendar quarter;
    the quarter's first day."""

    default_error_messages = {
        "invalid": "Enter a quarter as YYYY-Qn (e.g. 2026-Q1, n from 1 to 4), a month as YYYY-MM or a day as YYYY-MM-DD.",
        "quarter": "A year has quarters Q1 to Q4, not Q{quarter}.",
        "range": f"Enter a quarter between {FIRST_YEAR} and {LAST_YEAR}.",
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, dt.date):
            return quarter_start(value)
        text = str(value).strip()
        if DAY_RE.match(text):
            return quarter_start(_day(text, self.error_messages["invalid"]))
        match = QUARTER_RE.match(text)
        if not match:
            return quarter_start(super().to_python(text))
        year, quarter = int(match[1]), int(match[2])
        if not 1 <= quarter <= 4:
            raise forms.ValidationError(self.error_messages["quarter"].format(quarter=quarter), code="quarter")
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise forms.ValidationError(self.error_messages["range"], code="range")
        return dt.date(year, 3 * quarter - 2, 1)


class WeeklyReportForm(ReportForm):
    """As ReportForm, in ISO weeks: `from` and `to` are weeks (`2026-W05`) or days standing for their
    week, at most MAX_WEEKS (20 years). Default: the last 12 weeks up to this one."""

    month_field = WeekField

    def default_last(self) -> dt.date:
        return week_start(today())

    def default_first(self, last: dt.date) -> dt.date:
        return last - dt.timedelta(weeks=DEFAULT_WEEKS - 1)

    def order_error(self, first: dt.date, last: dt.date) -> str | None:
        if first > last:
            return f"The first week ({week_label(first)}) is after the last one ({week_label(last)})."
        return None

    def check_length(self, first: dt.date, last: dt.date) -> None:
        weeks = weeks_between(first, last)
        if weeks > MAX_WEEKS:
            self.add_error(
                "to",
                f"A weekly report covers at most {MAX_WEEKS} weeks (20 years); "
                f"{week_label(first)} to {week_label(last)} is {weeks}.",
            )


class QuarterlyReportForm(ReportForm):
    """As ReportForm, in calendar quarters: `from` and `to` are quarters (`2026-Q1`), months or days
    standing for their quarter, at most MAX_QUARTERS (20 years). Default: the last 8 quarters."""

    month_field = QuarterField

    def default_last(self) -> dt.date:
        return quarter_start(today())

    def default_first(self, last: dt.date) -> dt.date:
        return add_months(last, -3 * (DEFAULT_QUARTERS - 1))

    def order_error(self, first: dt.date, last: dt.date) -> str | None:
        if first > last:
            return f"The first quarter ({quarter_label(first)}) is after the last one ({quarter_label(last)})."
        return None

    def check_length(self, first: dt.date, last: dt.date) -> None:
        quarters = quarters_between(first, last)
        if quarters > MAX_QUARTERS:
            self.add_error(
                "to",
                f"A quarterly report covers at most {MAX_QUARTERS} quarters (20 years); "
                f"{quarter_label(first)} to {quarter_label(last)} is {quarters}.",
            )


class InsightsForm(ParameterErrorsMixin, forms.Form):
    """`start`, `end` (days, both included, YYYY-MM-DD in the reporting time zone), `service`, `team`,
    `severity`, `factor`, `tag`. Without `start` and `end`: from the first day of the month 11 months
    ago to today. With only one: 12 months' worth before or after it."""

    start = forms.DateField(required=False, input_formats=["%Y-%m-%d"], label="From", help_text="YYYY-MM-DD.")
    end = forms.DateField(required=False, input_formats=["%Y-%m-%d"], label="To", help_text="YYYY-MM-DD, included.")
    service = ValueListField(noun="service", label="Service")
    team = ValueListField(noun="team", label="Team")
    severity = ValueListField(noun="severity", known="Use 1, 2, 3 or 4.", label="Severity")
    factor = ValueListField(noun="contributing factor", label="Contributing factor")
    tag = forms.Field(widget=ListWidget, required=False, label="Tag")

    MAX_TAGS = 20

    def __init__(self, data=None, **kwargs):
        super().__init__(data if data is not None else {}, **kwargs)
        for field in ("start", "end"):
            self.fields[field].error_messages["invalid"] = "Enter a day as YYYY-MM-DD, e.g. 2026-03-31."
        services = list(Service.objects.order_by("slug").only("slug", "name", "dev_team"))
        self.teams = sorted({s.dev_team for s in services if s.dev_team}, key=str.lower)
        self.fields["service"].choices = [(s.slug, s.display_name) for s in services]
        self.fields["team"].choices = [(t, t) for t in self.teams]
        self.fields["severity"].choices = [(str(value), label) for value, label in Incident.Severity.choices]
        # Archived factors too: the past is still asked about.
        self.fields["factor"].choices = [
            (f.slug, f.name + (" (archived)" if f.archived_at else ""))
            for f in ContributingFactor.objects.order_by("position", "name").only("slug", "name", "archived_at")
        ]

    def _clean_day(self, name: str):
        value = self.cleaned_data.get(name)
        if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise forms.ValidationError(f"Enter a day between {FIRST_YEAR} and {LAST_YEAR}.")
        return value

    def clean_start(self):
        return self._clean_day("start")

    def clean_end(self):
        return self._clean_day("end")

    def clean_tag(self):
        tags = list(dict.fromkeys(self.cleaned_data.get("tag") or []))
        if len(tags) > self.MAX_TAGS:
            raise forms.ValidationError(f"At most {self.MAX_TAGS} tags.")
        if any(len(tag) > 100 for tag in tags):
            raise forms.ValidationError("A tag is at most 100 characters.")
        # PostgreSQL refuses NUL in text; no tag has control characters anyway.
        if any(unicodedata.category(ch) == "Cc" for tag in tags for ch in tag):
            raise forms.ValidationError("A tag can't contain control characters.")
        return tags

    def clean(self):
        cleaned = super().clean()
        if self.errors.keys() & {"start", "end"}:
            return cleaned
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is None and end is None:
            end = today()
            start = add_months(end, -(DEFAULT_MONTHS - 1))
        elif start is None:
            start = add_months(end, -(DEFAULT_MONTHS - 1))
        elif end is None:
            end = add_months(start, DEFAULT_MONTHS) - dt.timedelta(days=1)
        cleaned["start"], cleaned["end"] = start, end
        if start > end:
            self.add_error("start", f"The first day ({start}) is after the last one ({end}).")
        elif months_between(start, end) > MAX_MONTHS:
            self.add_error("end", f"Insights cover at most {MAX_MONTHS} months (20 years); {start} to {end} is more.")
        return cleaned

    @property
    def filters(self) -> InsightFilters:
        """The insights' filters; call after is_valid()."""
        return InsightFilters(
            services=tuple(self.cleaned_data["service"]),
            teams=tuple(self.cleaned_data["team"]),
            severities=tuple(int(s) for s in self.cleaned_data["severity"]),
            factors=tuple(self.cleaned_data["factor"]),
            tags=tuple(self.cleaned_data["tag"]),
        )


class AttributedForm(ParameterErrorsMixin, forms.Form):
    """The drill-down behind a report's failed deploys or deploy-related incidents under an
    attribution rule: `what`, `since` and `until` (days in the reporting time zone, both included),
    `service`, `team`, `environment`, `severity`, `attribution`, `window` as the report has them."""

    what = forms.ChoiceField(
        choices=[("failed_deploys", "Failed deploys"), ("deploy_related_incidents", "Deploy-related incidents")],
        label="What",
    )
    since = forms.DateField(input_formats=["%Y-%m-%d"], label="Since")
    until = forms.DateField(input_formats=["%Y-%m-%d"], label="Until")
    service = ValueListField(noun="service", label="Service")
    team = ValueListField(noun="team", label="Team")
    environment = ValueListField(noun="environment", label="Environment")
    severity = ValueListField(noun="severity", known="Use 1, 2, 3 or 4.", label="Severity")
    attribution = forms.ChoiceField(
        choices=ATTRIBUTION_CHOICES[:2],
        required=False,
        label="Attribution",
        error_messages=ReportForm.base_fields["attribution"].error_messages,
    )
    window = WindowField(required=False, label="Window")

    def __init__(self, data=None, **kwargs):
        super().__init__(data if data is not None else {}, **kwargs)
        services = list(Service.objects.order_by("slug").only("slug", "dev_team"))
        self.fields["service"].choices = [(s.slug, s.slug) for s in services]
        self.fields["team"].choices = [(t, t) for t in {s.dev_team for s in services if s.dev_team}]
        choose_environments(self.fields["environment"])
        self.fields["severity"].choices = [(str(value), label) for value, label in Incident.Severity.choices]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("since", f"The first day ({since}) is after the last one ({until}).")
        elif since and until and months_between(since, until) > MAX_MONTHS:
            self.add_error("until", f"At most {MAX_MONTHS} months.")
        return cleaned

    @property
    def filters(self) -> Filters:
        return Filters(
            services=tuple(self.cleaned_data["service"]),
            teams=tuple(self.cleaned_data["team"]),
            severities=tuple(int(s) for s in self.cleaned_data["severity"]),
            environments=tuple(self.cleaned_data["environment"]),
            attribution=self.cleaned_data.get("attribution") or "linked",
            attribution_window=self.cleaned_data.get("window"),
        )
