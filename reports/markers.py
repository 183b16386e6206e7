"""Deploy markers for graphs: deploys (and incidents) as annotations in the shape of Graphite's
events API (`/events/get_data`), which Grafana's Graphite data source draws as vertical lines.

Graphite's own rules are kept where Grafana relies on them: `from`/`until` take epoch seconds, `now`
and relative offsets (`-6h`, `-30min`); `tags` is space-separated and an event must carry every tag
given; the window includes both ends; events come oldest first.
"""

import datetime as dt
import re

from django import forms
from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from deploys.models import Deploy, Environment, Service
from incidents.models import Incident
from plumbing.fields import NAIVE_MESSAGE, RANGE_MESSAGE, is_plausible, start_of_day
from plumbing.forms import ParameterErrorsMixin
from reports.forms import ListWidget, ValueListField

DEFAULT_WINDOW = dt.timedelta(hours=24)
MAX_LIMIT = 1000

# Graphite's offsets: `-6h`, `now-6h`, `+1d`. Grafana turns its own `now-5m` into `-5min` before sending.
RELATIVE_RE = re.compile(r"^(?:now)?\s*([+-])\s*(\d{1,9})\s*([A-Za-z]+)$", re.ASCII)
EPOCH_RE = re.compile(r"^\d+(?:\.\d+)?$", re.ASCII)
# Epoch values at least this big are milliseconds (Grafana's `${__from}`): as seconds they would be
# after the year 5000, which no record is.
EPOCH_MS_FROM = 100_000_000_000
SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mon": 30 * 86400, "y": 365 * 86400}
TIME_HELP = (
    "Epoch seconds (1715000000), `now`, an offset from now as Graphite writes it (-24h, -30min, -7d, -1mon), "
    "or ISO 8601 with a UTC offset (2024-05-18T22:20:50Z)."
)


def unit_seconds(unit: str) -> int | None:
    """Graphite's units by prefix (s, min, h, d, w, mon, y; `minutes`, `hours`… too), plus Grafana's
    `m` (minutes) and `M` (months). None for anything else, e.g. `ms`."""
    if unit == "m":
        return SECONDS["min"]
    if unit == "M":
        return SECONDS["mon"]
    unit = unit.lower()
    if unit.startswith(("min", "mon")):
        return SECONDS[unit[:3]]
    return SECONDS.get(unit[0]) if unit[0] in "shdwy" else None


class GraphiteTimeField(forms.Field):
    """A point in time as Graphite's `from`/`until` take it (see TIME_HELP). `end=True` reads a bare
    date as the end of that day, so `to=2024-05-18` includes the 18th."""

    default_error_messages = {
        "invalid": "Enter " + TIME_HELP[0].lower() + TIME_HELP[1:],
        "unit": "Unknown time unit “%(unit)s”: use s, min, h, d, w, mon or y (e.g. -30min, -24h).",
        "naive": NAIVE_MESSAGE,
        "range": RANGE_MESSAGE,
    }

    def __init__(self, *, now: dt.datetime, end: bool = False, **kwargs):
        self.now, self.end = now, end
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> dt.datetime | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        parsed = self._parse(text)
        if not is_plausible(parsed):
            raise forms.ValidationError(self.error_messages["range"], code="range")
        return parsed

    def _parse(self, text: str) -> dt.datetime:
        if text == "now":
            return self.now
        match = RELATIVE_RE.match(text)
        if match:
            sign, amount, unit = match.groups()
            seconds = unit_seconds(unit)
            if seconds is None:
                raise forms.ValidationError(self.error_messages["unit"], code="unit", params={"unit": unit})
            try:
                offset = dt.timedelta(seconds=int(amount) * seconds)
                return self.now - offset if sign == "-" else self.now + offset
            except OverflowError:
                raise forms.ValidationError(self.error_messages["range"], code="range") from None
        if EPOCH_RE.match(text):
            number = float(text)
            if number >= EPOCH_MS_FROM:
                number /= 1000
            try:
                return dt.datetime.fromtimestamp(number, tz=dt.UTC)
            except (OverflowError, OSError, ValueError):
                raise forms.ValidationError(self.error_messages["range"], code="range") from None
        if len(text) == 10:
            try:
                day = parse_date(text)
            except ValueError:
                day = None
            if day is not None:
                if not is_plausible(day):
                    raise forms.ValidationError(self.error_messages["range"], code="range")
                if self.end:
                    return start_of_day(day + dt.timedelta(days=1)) - dt.timedelta(microseconds=1)
                return start_of_day(day)
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if timezone.is_naive(parsed):
            raise forms.ValidationError(self.error_messages["naive"], code="naive")
        return parsed


class TagsField(forms.Field):
    """Graphite's `tags`: space-separated (what Grafana sends), commas and repeats accepted too."""

    widget = ListWidget

    def to_python(self, value) -> list[str]:
        words = [word for item in (value or []) for word in re.split(r"[\s,]+", str(item)) if word]
        for word in words:
            if len(word) > 100 or not word.isprintable():
                raise forms.ValidationError("A tag is a word of at most 100 printable characters.", code="invalid")
        return list(dict.fromkeys(words))


class AnnotationForm(ParameterErrorsMixin, forms.Form):
    """The query of /api/annotations/ and of its Graphite alias /events/get_data.

    Without `from` and `to`: the last 24 hours. `until` is Graphite's name for `to`.
    """

    service = ValueListField(noun="service")
    environment = ValueListField(noun="environment")
    tags = TagsField(required=False)
    incidents = forms.ChoiceField(
        required=False,
        choices=[("true", "true"), ("false", "false")],
        error_messages={"invalid_choice": "Use true or false."},
    )
    limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_LIMIT,
        error_messages={"invalid": f"Enter a whole number from 1 to {MAX_LIMIT}."},
    )

    def __init__(self, data=None, *, now: dt.datetime | None = None, **kwargs):
        super().__init__(data if data is not None else {}, **kwargs)
        self.now = now or timezone.now()
        # `from` is a Python keyword, so the times are added here rather than declared above.
        self.fields = {
            "from": GraphiteTimeField(now=self.now),
            "to": GraphiteTimeField(now=self.now, end=True),
            "until": GraphiteTimeField(now=self.now, end=True),
            **self.fields,
        }
        # Only a parameter that is given costs a query to check.
        if "service" in self.data:
            self.fields["service"].choices = [(slug, slug) for slug in Service.objects.values_list("slug", flat=True)]
        if "environment" in self.data:
            self.fields["environment"].choices = [
                (slug, slug) for slug in Environment.objects.values_list("slug", flat=True)
            ]

    def clean(self):
        cleaned = super().clean()
        if self.errors.keys() & {"from", "to", "until"}:
            return cleaned
        if cleaned.get("to") and cleaned.get("until"):
            self.add_error("until", "Give `to` or `until` (its Graphite name), not both.")
            return cleaned
        until = cleaned.get("to") or cleaned.get("until") or self.now
        since = cleaned.get("from") or until - DEFAULT_WINDOW
        if since > until:
            utc, iso = dt.UTC, "%Y-%m-%dT%H:%M:%SZ"
            self.add_error(
                "from", f"`from` ({since.astimezone(utc):{iso}}) is after `to` ({until.astimezone(utc):{iso}})."
            )
        cleaned["since"], cleaned["until_time"] = since, until
        return cleaned

    def query(self) -> dict:
        """annotations()'s arguments; call after is_valid()."""
        data = self.cleaned_data
        tags = data["tags"]
        return {
            "since": data["since"],
            "until": data["until_time"],
            "services": data["service"],
            "environments": data["environment"],
            "tags": tags,
            "incidents": data.get("incidents") == "true" or "incident" in tags,
            "limit": data.get("limit") or MAX_LIMIT,
        }


def _epoch(value: dt.datetime) -> int | float:
    seconds = value.timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def _absolute(path: str) -> str:
    return f"{settings.OPSLOG_BASE_URL.rstrip('/')}{path}" if settings.OPSLOG_BASE_URL else path


def _has_service(slug: str):
    return Exists(Service.objects.filter(incidents=OuterRef("pk"), slug=slug))


def _deploy_annotations(*, since, until, services, environments, tags, limit) -> list[tuple[dt.datetime, dict]]:
    qs = Deploy.objects.filter(deployed_at__gte=since, deployed_at__lte=until)
    if services:
        qs = qs.filter(service__slug__in=services)
    if environments:
        qs = qs.filter(environment__slug__in=environments)
    # A deploy's tags are deploy, its service and its environment: it must carry every tag asked for.
    for tag in tags:
        if tag != "deploy":
            qs = qs.filter(Q(service__slug=tag) | Q(environment__slug=tag))
    rows = qs.order_by("-deployed_at", "-id").values_list(
        "deployed_at",
        "service__slug",
        "environment__slug",
        "version",
        "previous_version",
        "deployer",
        "diff_url",
        "status",
    )[:limit]
    annotations = []
    for at, service, environment, version, previous, deployer, diff_url, status in rows:
        what = f"{service} {version} to {environment}"
        if status != Deploy.Status.SUCCEEDED:
            what += f" ({Deploy.Status(status).label.lower()})"
        data = f"{deployer}: old {previous or '—'}, new {version}" + (f", {diff_url}" if diff_url else "")
        annotations.append(
            (at, {"when": _epoch(at), "what": what, "tags": ["deploy", service, environment], "data": data})
        )
    return annotations


def _incident_annotations(*, since, until, services, tags, limit) -> list[tuple[dt.datetime, dict]]:
    qs = Incident.objects.filter(started_at__gte=since, started_at__lte=until)
    if services:
        # Exists, not a join: an incident affecting two of the services comes once.
        qs = qs.filter(Exists(Service.objects.filter(incidents=OuterRef("pk"), slug__in=services)))
    # An incident's tags are incident, sev<N> and its services' slugs.
    for tag in tags:
        if tag == "incident":
            continue
        match = re.fullmatch(r"sev([1-4])", tag)
        qs = qs.filter((Q(severity=int(match[1])) | _has_service(tag)) if match else _has_service(tag))
    incidents = (
        qs.order_by("-started_at", "-id")
        .only("id", "title", "severity", "started_at", "acknowledged_at", "mitigated_at", "resolved_at")
        .prefetch_related(Prefetch("services", queryset=Service.objects.order_by("slug").only("slug")))[:limit]
    )
    annotations = []
    for incident in incidents:
        slugs = [service.slug for service in incident.services.all()]
        annotations.append(
            (
                incident.started_at,
                {
                    "when": _epoch(incident.started_at),
                    "what": f"SEV{incident.severity} incident #{incident.pk}: {incident.title}",
                    "tags": ["incident", f"sev{incident.severity}", *slugs],
                    "data": f"{incident.get_status_display()}: {_absolute(incident.get_absolute_url())}",
                },
            )
        )
    return annotations


def annotations(
    *,
    since: dt.datetime,
    until: dt.datetime,
    services: list[str],
    environments: list[str],
    tags: list[str],
    incidents: bool,
    limit: int,
) -> list[dict]:
    """Deploys (and incidents when asked) from `since` to `until`, both included, as Graphite events,
    oldest first: at most `limit`, the newest ones. `environments` applies to deploys only (an
    incident has none). Three queries with incidents, one without."""
    found = _deploy_annotations(
        since=since, until=until, services=services, environments=environments, tags=tags, limit=limit
    )
    if incidents:
        found += _incident_annotations(since=since, until=until, services=services, tags=tags, limit=limit)
    found.sort(key=lambda pair: pair[0])
    return [annotation for _at, annotation in found[-limit:]]
