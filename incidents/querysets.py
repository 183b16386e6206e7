import datetime as dt
import zoneinfo
from datetime import datetime

from django.db import connection, models
from django.db.models import Exists, F, Max, OuterRef, Q, ValueRange, Window, WindowFrameExclusion
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, ExtractMinute

# The `archived` filter's values: hidden by default, only the archived ones, or both.
ARCHIVED_CHOICES = [("false", "Not archived"), ("true", "Archived only"), ("all", "Archived or not")]


class IncidentQuerySet(models.QuerySet):
    def not_archived(self):
        """What the lists show by default (incidents.filters.HideArchivedMixin)."""
        return self.filter(archived_at__isnull=True)

    def resolved(self):
        return self.filter(resolved_at__isnull=False)

    def unresolved(self):
        return self.filter(resolved_at__isnull=True)

    def acknowledged(self, acknowledged: bool = True):
        """Stamped acknowledged, whatever stage came after (MTTA's incidents); or never stamped."""
        return self.filter(acknowledged_at__isnull=not acknowledged)

    def with_status(self, status: str):
        """Status is derived from the timestamps: the latest stage stamped."""
        stages = {
            "open": Q(acknowledged_at__isnull=True, mitigated_at__isnull=True, resolved_at__isnull=True),
            "acknowledged": Q(acknowledged_at__isnull=False, mitigated_at__isnull=True, resolved_at__isnull=True),
            "mitigated": Q(mitigated_at__isnull=False, resolved_at__isnull=True),
            "resolved": Q(resolved_at__isnull=False),
        }
        return self.filter(stages[status])

    def started_between(self, since: datetime | None = None, until: datetime | None = None):
        qs = self
        if since is not None:
            qs = qs.filter(started_at__gte=since)
        if until is not None:
            qs = qs.filter(started_at__lt=until)
        return qs

    def led_by(self, name: str):
        """Incidents whose lead (`commander`) is `name`, in any case: "Ana" finds "ana"."""
        return self.filter(commander__iexact=name)

    def tagged(self, names):
        """Incidents with ANY of these tags, in any case ("DNS" finds "dns"). An unknown name matches
        nothing; no names, everything. Exists, not a join: an incident is listed once however many of
        its tags match."""
        names = [name for name in names if name]
        if not names:
            return self
        # A tag's slug finds it too ("black-friday" for "Black Friday"): the insights' links may carry either.
        lookup = Q(tag__slug__in=names)
        for name in names:
            lookup |= Q(tag__name__iexact=name)
        tagged = self.model._meta.get_field("tagged_items").related_model
        return self.filter(Exists(tagged.objects.filter(lookup, content_object=OuterRef("pk"))))

    def reviewed(self, reviewed: bool = True):
        """Incidents whose post-mortem is published (the postmortems app's, above this one: reached
        by lookup names only); or those without one published."""
        published = Q(postmortem__status="published", postmortem__published_at__isnull=False)
        return self.filter(published) if reviewed else self.exclude(published)

    def responded_by(self, name: str):
        """Incidents `name` responded to: as lead, communications lead, scribe or participant,
        the name exactly as typed (the insights' on-call load counts names so)."""
        roles = Q(commander=name) | Q(comms_lead=name) | Q(scribe=name)
        if connection.vendor == "postgresql":
            return self.filter(roles | Q(participants__contains=[name]))
        # SQLite has no JSON containment: match the list's elements with json_each.
        return self.filter(
            roles
            | Q(
                pk__in=models.expressions.RawSQL(
                    f"SELECT {self.model._meta.db_table}.id FROM {self.model._meta.db_table}, "
                    f"json_each({self.model._meta.db_table}.participants) WHERE json_each.value = %s",
                    [name],
                )
            )
        )

    def began_outside_hours(self, *, zone: str, hours: tuple[int, int], days: frozenset[int]):
        """Incidents whose `started_at`, in `zone`, is on a day not in `days` (Monday 0) or outside
        [hours[0], hours[1]) minutes after midnight."""
        tz = zoneinfo.ZoneInfo(zone)
        annotated = self.annotate(
            _weekday=ExtractIsoWeekDay("started_at", tzinfo=tz),
            _minute=ExtractHour("started_at", tzinfo=tz) * 60 + ExtractMinute("started_at", tzinfo=tz),
        )
        inside = Q(_weekday__in=[day + 1 for day in days], _minute__gte=hours[0], _minute__lt=hours[1])
        return annotated.exclude(inside)

    def repeats(self, days: int):
        """Incidents an earlier incident (not archived) started at most `days` days before shares a
        service and a contributing factor with. Factors are named by post-mortems (the postmortems
        app, above this one): reached by lookup names only, never imported.

        One window over the (incident, service, factor) triples of the incidents not archived: per
        service and factor, the latest start strictly before each one's (peers excluded); a repeat
        is at most `days` after it. (A correlated EXISTS per incident took seconds at 50,000.)"""
        factor = "incident__postmortem__factor_links__factor_id"
        links = self.model.services.through.objects.filter(
            incident__archived_at__isnull=True, **{f"{factor}__isnull": False}
        )
        latest_before = Window(
            Max("incident__started_at"),
            partition_by=[F("service_id"), F(factor)],
            order_by=F("incident__started_at").asc(),
            frame=ValueRange(start=None, end=0, exclusion=WindowFrameExclusion.GROUP),
        )
        repeats = (
            links.annotate(before=latest_before)
            .filter(before__isnull=False, before__gte=F("incident__started_at") - dt.timedelta(days=days))
            .values("incident_id")
        )
        return self.filter(pk__in=repeats)

    def affecting(self, service_slug: str):
        return self.filter(services__slug=service_slug).distinct()

    def _causing_links(self):
        # The link model through the relation (incidents.models imports this module, not the reverse).
        links = self.model._meta.get_field("deploy_links").related_model
        return links.objects.filter(incident=OuterRef("pk"), relation=links.Relation.CAUSE)

    def naming_factors(self, slugs):
        """Incidents whose post-mortem names any of the contributing factors `slugs`, each once."""
        # The link model through the relations: the post-mortems app sits above this one.
        postmortem = self.model._meta.get_field("postmortem").related_model
        links = postmortem._meta.get_field("factor_links").related_model
        return self.filter(Exists(links.objects.filter(postmortem__incident=OuterRef("pk"), factor__slug__in=slugs)))

    def deploy_related(self, related: bool = True):
        causes = self._causing_links()
        return self.filter(Exists(causes)) if related else self.exclude(Exists(causes))

    def annotate_deploy_related(self):
        causes = self._causing_links()
        return self.annotate(is_deploy_related=Exists(causes))

    def open_first(self):
        """Triage order: open incidents most severe first (SEV1 on top), then most recent; the
        resolved ones after them, newest first, whatever their severity."""
        unresolved = models.Q(resolved_at__isnull=True)
        return self.annotate(
            is_resolved=models.Case(
                models.When(unresolved, then=models.Value(0)),
                default=models.Value(1),
                output_field=models.IntegerField(),
            ),
            open_severity=models.Case(
                models.When(unresolved, then=models.F("severity")),
                default=models.Value(0),
                output_field=models.IntegerField(),
            ),
        ).order_by("is_resolved", "open_severity", "-started_at", "-id")

    def newest_first(self):
        return self.order_by("-started_at", "-id")
