"""Reads for incidents."""

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Lower
from django.utils import timezone
from taggit.models import Tag

from deploys.models import Deploy
from incidents.models import Incident, IncidentDeploy, TimelineEntry


def incident_list() -> QuerySet[Incident]:
    """Open incidents first, most severe then most recent (querysets.open_first), then the
    resolved ones newest first, with what the list shows of each."""
    return Incident.objects.open_first().prefetch_related("services", "tags").annotate_deploy_related()


def search(queryset: QuerySet[Incident], text: str) -> QuerySet[Incident]:
    """Full-text search on PostgreSQL; a plain case-insensitive match elsewhere (SQLite)."""
    text = text.strip()
    if not text:
        return queryset
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        vector = SearchVector("title", weight="A", config="english") + SearchVector(
            "summary", weight="B", config="english"
        )
        return queryset.annotate(search=vector).filter(
            search=SearchQuery(text, config="english", search_type="websearch")
        )

    condition = Q()
    for word in text.split():
        condition &= Q(title__icontains=word) | Q(summary__icontains=word)
    return queryset.filter(condition)


KNOWN_PEOPLE_MAX = 500


def _sorted_names(names, limit: int) -> list[str]:
    return sorted(set(names), key=lambda name: (name.casefold(), name))[:limit]


def _role_names(*field_names: str, limit: int):
    """The distinct non-empty names in these role columns: one query (a UNION, which de-duplicates)."""
    queries = [Incident.objects.exclude(**{name: ""}).order_by().values_list(name, flat=True) for name in field_names]
    names = queries[0].union(*queries[1:]) if len(queries) > 1 else queries[0].distinct()
    return names[:limit]


def known_people(*, limit: int = KNOWN_PEOPLE_MAX) -> list[str]:
    """Names to offer when a role is assigned (the form still takes any name): active users'
    usernames and full names, and the names already given a role on some incident, sorted without
    regard to case. At most `limit`, so the page stays small however many there are. Two queries."""
    names: list[str] = []
    users = get_user_model().objects.filter(is_active=True).order_by("username")
    for username, first, last in users.values_list("username", "first_name", "last_name")[:limit]:
        names += [username, f"{first} {last}".strip()]
    names += _role_names(*Incident.ROLE_FIELDS.values(), limit=limit)
    return _sorted_names(filter(None, names), limit)


def lead_names(*, limit: int = KNOWN_PEOPLE_MAX) -> list[str]:
    """The names that have led an incident: the incident list's `lead` filter offers them. One query."""
    return _sorted_names(_role_names(Incident.ROLE_FIELDS[Incident.Role.LEAD], limit=limit), limit)


def tag_usage(*, prefix: str = "") -> QuerySet[Tag]:
    """Tags on at least one incident that isn't archived, each with `incident_count` (archived
    incidents left out, as the lists and numbers leave them out), most used first, then by name.
    `prefix`: names starting with it, in any case. One query (plus a count when paged)."""
    used = Q(incidents_taggedincident_items__content_object__archived_at__isnull=True)
    tags = Tag.objects.annotate(incident_count=Count("incidents_taggedincident_items", filter=used)).filter(
        incident_count__gt=0
    )
    if prefix:
        tags = tags.filter(name__istartswith=prefix)
    return tags.order_by("-incident_count", Lower("name"), "name", "id")


DUPLICATE_WINDOW = dt.timedelta(hours=1)


def filed_with_key(filing_key) -> Incident | None:
    """The incident a new-incident form with this key already filed, if any."""
    if filing_key is None:
        return None
    return Incident.objects.filter(filing_key=filing_key).first()


def possible_duplicates(*, title: str, services, started_at: dt.datetime) -> list[Incident]:
    """Open (unresolved, not archived) incidents that started within an hour of `started_at` and
    share one of `services` or have the same title: what a new filing may be a twin of (the title
    catches a form sent again without services), most severe first."""
    services = list(services)
    same = Q(title__iexact=title.strip()) if title.strip() else Q(pk__in=[])
    if services:
        same |= Q(services__in=services)
    return list(
        Incident.objects.not_archived()
        .unresolved()
        .filter(same, started_at__gte=started_at - DUPLICATE_WINDOW, started_at__lte=started_at + DUPLICATE_WINDOW)
        .distinct()
        .order_by("severity", "-started_at", "-id")[:5]
    )


def suspect_window() -> dt.timedelta:
    return dt.timedelta(hours=settings.OPSLOG_SUSPECT_WINDOW_HOURS)


def suspect_deploys(incident: Incident, *, window: dt.timedelta | None = None) -> QuerySet[Deploy]:
    """Production deploys of the affected services from `window` before the impact began up to
    its detection (or now), newest first: the usual suspects."""
    window = window or suspect_window()
    until = incident.detected_at or timezone.now()
    return (
        Deploy.objects.production()
        .filter(
            service__in=incident.services.all(),
            deployed_at__gte=incident.started_at - window,
            deployed_at__lte=until,
        )
        .with_related()
        .newest_first()
    )


def incidents_suspecting(deploy: Deploy) -> list[Incident]:
    """Unresolved, unarchived incidents whose suspect deploys (suspect_deploys, as their page
    lists them) include `deploy` and that don't already name it as a cause, oldest first.

    Note the window: it ends at the incident's detection, so for an incident filed live (detected
    when filed) a deploy that went live afterwards is never its suspect; only one reported late,
    with a `deployed_at` before the detection, or one to an incident not yet detected, is."""
    candidates = (
        Incident.objects.unresolved()
        .not_archived()
        .filter(services=deploy.service_id)
        .exclude(
            Exists(
                IncidentDeploy.objects.filter(
                    incident=OuterRef("pk"), deploy=deploy, relation=IncidentDeploy.Relation.CAUSE
                )
            )
        )
        .distinct()
        .order_by("started_at", "id")
    )
    # Few candidates (the open incidents of one service): each checked with the page's own query,
    # so a flag in chat and the page's table never disagree.
    return [incident for incident in candidates if suspect_deploys(incident).filter(pk=deploy.pk).exists()]


def incident_detail(pk: int) -> Incident:
    links = IncidentDeploy.objects.select_related("deploy__service", "deploy__environment", "created_by")
    return (
        Incident.objects.prefetch_related(
            "services",
            "tags",
            Prefetch("deploy_links", queryset=links),
            Prefetch("timeline", queryset=TimelineEntry.objects.select_related("author").order_by("at", "id")),
        )
        .select_related("created_by", "updated_by", "archived_by")
        .get(pk=pk)
    )


# --- Post-mortems and remediations -------------------------------------------------------------


# --- Attribution: which deploys caused which incidents (docs/metrics.md, "Attribution") ------------

ATTRIBUTIONS = ("linked", "inferred")


def linked_causes() -> QuerySet[IncidentDeploy]:
    """The linked rule's (deploy, incident) pairs: cause links to incidents not archived."""
    return IncidentDeploy.objects.filter(relation=IncidentDeploy.Relation.CAUSE, incident__archived_at__isnull=True)


def inferred_causes(*, window: dt.timedelta, since: dt.datetime, until: dt.datetime) -> QuerySet[Incident]:
    """Incidents not archived whose impact started in [since, until] and that have no linked cause,
    each annotated `deploy_id`: its inferred cause, or None.

    The inferred cause is the latest counted production deploy (succeeded or rolled back) of any
    of the incident's services with started_at − window ≤ deployed_at ≤ started_at; of two at the
    same instant, the higher id. One index probe per incident (deploy_svc_env_time_idx: a LATERAL
    "latest before" on PostgreSQL, a correlated subquery on SQLite). Never stored.
    """
    latest = (
        Deploy.objects.filter(
            service__incidents=OuterRef("pk"),
            environment__is_production=True,
            status__in=Deploy.COUNTED_STATUSES,
            deployed_at__lte=OuterRef("started_at"),
            deployed_at__gte=ExpressionWrapper(OuterRef("started_at") - window, output_field=DateTimeField()),
        )
        .order_by("-deployed_at", "-id")
        .values("id")[:1]
    )
    return (
        Incident.objects.filter(archived_at__isnull=True, started_at__gte=since, started_at__lte=until)
        .exclude(Exists(IncidentDeploy.objects.filter(incident=OuterRef("pk"), relation=IncidentDeploy.Relation.CAUSE)))
        .annotate(deploy_id=Subquery(latest), incident_id=F("id"))
        .order_by()
    )


def cause_pairs_sql(
    *, attribution: str, window: dt.timedelta, since: dt.datetime, until: dt.datetime
) -> tuple[str, tuple]:
    """SQL selecting the (deploy_id, incident_id, inferred) cause pairs of a rule, and its params: every
    linked one, and with `attribution="inferred"` the inferred ones of the incidents that started
    in [since, until] (inferred_causes). Pairs are facts about deploys and incidents, the same
    whatever a report filters on."""
    if attribution not in ATTRIBUTIONS:
        raise ValueError(f"Unknown attribution {attribution!r}.")
    linked_sql, linked_params = linked_causes().order_by().values("deploy_id", "incident_id").query.sql_with_params()
    # `inferred`: whether the pair was inferred (what the drill-down marks), false for a linked one.
    sql = f"SELECT l.deploy_id, l.incident_id, false AS inferred FROM ({linked_sql}) AS l"
    if attribution == "linked":
        return sql, tuple(linked_params)
    if connection.vendor == "postgresql":
        inferred_sql, inferred_params = _inferred_pairs_lateral(window=window, since=since, until=until)
    else:
        inferred = inferred_causes(window=window, since=since, until=until).values("deploy_id", "incident_id")
        inferred_sql, inferred_params = inferred.query.sql_with_params()
    return (
        f"{sql} UNION ALL SELECT i.deploy_id, i.incident_id, true FROM ({inferred_sql}) AS i "
        "WHERE i.deploy_id IS NOT NULL",
        (*linked_params, *inferred_params),
    )


def _inferred_pairs_lateral(*, window: dt.timedelta, since: dt.datetime, until: dt.datetime) -> tuple[str, tuple]:
    """inferred_causes' pairs as PostgreSQL runs them best: the incidents (with no linked cause)
    joined LATERAL to the latest counted production deploy of their services within the window,
    one short backward range scan of deploy_svc_env_time_idx per service and production
    environment, evaluated once per incident (a correlated subquery in the select list is
    evaluated again for the outer `deploy_id IS NOT NULL`). The same rows as inferred_causes
    (tests/reports/test_attribution.py runs both rules on SQLite and PostgreSQL)."""
    incident, deploy = Incident._meta.db_table, Deploy._meta.db_table
    through = Incident.services.through._meta.db_table
    environment = Deploy._meta.get_field("environment").related_model._meta.db_table
    links = IncidentDeploy._meta.db_table
    return (
        f"""SELECT d.id AS deploy_id, i.id AS incident_id
            FROM {incident} i
            CROSS JOIN LATERAL (
                SELECT d.id FROM {through} s
                JOIN {deploy} d ON d.service_id = s.service_id
                WHERE s.incident_id = i.id
                  AND d.environment_id IN (SELECT e.id FROM {environment} e WHERE e.is_production)
                  AND d.status = ANY(%s)
                  AND d.deployed_at >= i.started_at - %s AND d.deployed_at <= i.started_at
                ORDER BY d.deployed_at DESC, d.id DESC LIMIT 1
            ) d
            WHERE i.archived_at IS NULL AND i.started_at >= %s AND i.started_at <= %s
              AND NOT EXISTS (SELECT 1 FROM {links} l WHERE l.incident_id = i.id AND l.relation = %s)""",
        (list(Deploy.COUNTED_STATUSES), window, since, until, IncidentDeploy.Relation.CAUSE),
    )
