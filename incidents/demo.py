"""Deterministic demo incidents on top of the demo deploys, built with the test factories."""

import datetime as dt
import math
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from deploys.models import Deploy, Service
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from incidents.models import Incident, IncidentDeploy, TimelineEntry
from incidents.services import clean_tags, handover_text

SOURCE = "demo"
TROUBLES = [
    ("Checkout errors for some card payments", "payments", "Payment provider timeouts in checkout"),
    ("Search results empty for multi-word queries", "search", "search-empty-results"),
    ("Slow listing pages", "web", "p99 latency > 2 s"),
    ("API returning 502s", "api", "api-5xx-rate"),
    ("Images missing on product pages", "web", "Customer reports via support"),
    ("Login loop on mobile web", "web", "Support tickets"),
    ("Duplicate order confirmation emails", "payments", "Customer report"),
    ("Stale prices shown after update", "api", "cache-staleness check"),
    ("Search indexing lag over an hour", "search", "indexer-lag alert"),
]
# Plausible tags for each trouble (incidents.services.clean_tags' rules hold for every one); the
# seed picks one or two of them, plus black-friday in late November and bad-deploy for deploy-caused ones.
TROUBLE_TAGS = {
    "Checkout errors for some card payments": ["payments", "third-party", "timeout"],
    "Search results empty for multi-word queries": ["search", "elasticsearch"],
    "Slow listing pages": ["database", "latency", "cache"],
    "API returning 502s": ["load-balancer", "capacity", "dns"],
    "Images missing on product pages": ["cdn", "third-party", "certificate"],
    "Login loop on mobile web": ["auth", "cookies"],
    "Duplicate order confirmation emails": ["payments", "kafka", "email"],
    "Stale prices shown after update": ["cache", "kafka"],
    "Search indexing lag over an hour": ["kafka", "search", "capacity"],
}
COMMANDERS = ["Priya Raman", "Tomas Novak", "Aiko Tanaka", "Grace Okafor"]
SCRIBES = ["Sam Ortiz", "Lena Vogel", "Grace Okafor"]


@dataclass
class DemoIncidents:
    created: int
    existing: int


def _months(first: dt.date, last: dt.date):
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def seed_incidents(*, days: int = 730, now: dt.datetime | None = None) -> DemoIncidents:
    """A few incidents a month; some caused by a production deploy, most of those linked to it; detection
    getting faster over time ("better monitoring"); one bad month; the latest few still open."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    first = today - dt.timedelta(days=days)
    services = {s.slug: s for s in Service.objects.all()}
    existing = set(Incident.objects.filter(source=SOURCE).values_list("external_id", flat=True))
    all_months = list(_months(first, today))
    bad_month = all_months[len(all_months) * 2 // 3] if len(all_months) > 2 else None
    created = kept = 0
    for position, month in enumerate(all_months):
        rng = random.Random(f"opslog-demo-incidents-{month:%Y-%m}")
        progress = position / max(len(all_months) - 1, 1)
        count = rng.randint(1, 4) + (3 if month == bad_month else 0)
        for number in range(count):
            external_id = f"demo-{month:%Y-%m}-{number}"
            if external_id in existing:
                kept += 1
                continue
            if _make_incident(rng, month, number, external_id, month == bad_month, progress, services, now):
                created += 1
                if position == len(all_months) - 1 and number == 0:
                    _worked_from_slack(Incident.objects.get(source=SOURCE, external_id=external_id), now)
    return DemoIncidents(created=created, existing=kept)


@transaction.atomic
def _make_incident(rng, month, number, external_id, bad_month, progress, services, now) -> bool:
    title, slug, source_text = rng.choice(TROUBLES)
    service = services.get(slug)
    next_month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    month_start = timezone.make_aware(dt.datetime.combine(month, dt.time()), timezone.get_default_timezone())
    month_end = timezone.make_aware(dt.datetime.combine(next_month, dt.time()), timezone.get_default_timezone())
    caused = bad_month or rng.random() < 0.3
    cause = None
    if caused and service is not None:
        candidates = list(
            Deploy.objects.production()
            .live()
            .filter(service=service, deployed_at__gte=month_start, deployed_at__lt=min(month_end, now))
            # A rollback (deploys.demo) restores what worked: it isn't a cause.
            .exclude(external_id__endswith="-rollback")
            .values_list("pk", flat=True)
        )
        if candidates:
            cause = Deploy.objects.select_related("service", "environment").get(pk=rng.choice(candidates))
    if cause is not None:
        started = cause.deployed_at + dt.timedelta(minutes=rng.randint(2, 90))
    else:
        span = (min(month_end, now) - month_start).total_seconds()
        started = month_start + dt.timedelta(seconds=rng.uniform(0, span))
    # Detection gets faster as monitoring improves: hours at first, seconds to minutes later.
    # Log-uniform: most incidents are found and fixed quickly, a few take very long.
    detect = math.exp(rng.uniform(math.log(10), math.log(4 * 3600))) * (1 - 0.85 * progress)
    repair = math.exp(rng.uniform(math.log(5 * 60), math.log(24 * 3600)))
    detected = started + dt.timedelta(seconds=detect)
    acknowledged = detected + dt.timedelta(seconds=repair * rng.uniform(0.02, 0.1))
    mitigated = detected + dt.timedelta(seconds=repair * rng.uniform(0.3, 0.7))
    resolved = detected + dt.timedelta(seconds=repair)
    recent = now - started < dt.timedelta(days=21)
    if resolved >= now or recent:
        resolved = None
        if mitigated >= now or (recent and number % 2 == 0):
            mitigated = None
    if acknowledged >= now:
        acknowledged = None
    if detected >= now:
        return False
    fix = None
    if cause is not None:
        # The fix: the service's next production deploy after detection, if it came before the resolution.
        fix = (
            Deploy.objects.production()
            .live()
            .filter(service=cause.service, deployed_at__gt=detected, deployed_at__lt=resolved or now)
            .order_by("deployed_at")
            .first()
        )
    severity = rng.choices([1, 2, 3, 4], weights=[1, 3, 5, 3])[0]
    # Half the minor (SEV3, SEV4) deploy-caused incidents without a fix are never linked to their
    # deploy, as in teams that don't link everything: the inferred attribution rule finds them (a
    # separate draw, so the rest of the demo stays as it was). A fixed or major one was worked out.
    linked = cause is not None and (
        fix is not None or severity <= 2 or random.Random(f"opslog-demo-link-{external_id}").random() >= 0.5
    )
    incident = IncidentFactory(
        title=title,
        severity=severity,
        started_at=started,
        detected_at=detected,
        acknowledged_at=acknowledged,
        mitigated_at=mitigated,
        resolved_at=resolved,
        detected_by=Incident.DetectedBy.CUSTOMER
        if "ustomer" in source_text or "Support" in source_text
        else Incident.DetectedBy.MONITORING,
        detection_source=source_text,
        summary=f"**What users saw:** {title.lower()}.\n\nFirst noticed through: {source_text}.",
        commander=rng.choice(COMMANDERS),
        participants=rng.sample(COMMANDERS, 2),
        source=SOURCE,
        external_id=external_id,
        created_at=detected,
        updated_at=resolved or acknowledged or detected,
        services=[service] if service else [],
    )
    entries = [(detected, TimelineEntry.Kind.STATUS, f"Incident filed ({incident.get_severity_display()}).")]
    for at, words in ((acknowledged, "Acknowledged."), (mitigated, "Mitigated."), (resolved, "Resolved.")):
        if at is not None:
            entries.append((at, TimelineEntry.Kind.STATUS, words))
    if linked:
        IncidentDeployFactory(incident=incident, deploy=cause, relation=IncidentDeploy.Relation.CAUSE)
        entries.append(
            (
                acknowledged or detected,
                TimelineEntry.Kind.DEPLOY_LINKED,
                f"Linked {cause.service.slug} {cause.version} to production (deploy #{cause.pk}) as a cause.",
            )
        )
        if fix is not None:
            IncidentDeployFactory(incident=incident, deploy=fix, relation=IncidentDeploy.Relation.REMEDIATION)
            entries.append(
                (
                    fix.deployed_at,
                    TimelineEntry.Kind.DEPLOY_LINKED,
                    f"Linked {fix.service.slug} {fix.version} to production (deploy #{fix.pk}) as remediating.",
                )
            )
    entries += _roles(incident, external_id)
    _tags(incident, external_id, caused=linked)
    for at, kind, text, *changes in entries:
        TimelineEntryFactory(
            incident=incident, at=at, kind=kind, text=text, changes=changes[0] if changes else {}, created_at=at
        )
    return True


# The responders of the incident worked from Slack: Opslog accounts (no password: a demo login is
# made by seed_demo alone), so its timeline shows real authors.
SLACK_RESPONDERS = [("priya.raman", "Priya", "Raman"), ("tomas.novak", "Tomas", "Novak")]


def _worked_from_slack(incident: Incident, now: dt.datetime) -> None:
    """The latest month's first incident, worked from Slack as the chat guide describes: its stamps
    made with commands and buttons, a message pinned with 📌 copied as a note by its author, the
    communications lead taken from the channel; each entry marked "slack" with who did it."""
    people = []
    for username, first, last in SLACK_RESPONDERS:
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        people.append(user)
    priya, tomas = people
    incident.timeline.filter(kind=TimelineEntry.Kind.STATUS).update(author=priya, source=TimelineEntry.Source.SLACK)
    start = incident.acknowledged_at or incident.detected_at
    end = incident.mitigated_at or incident.resolved_at or now
    pinned_at = start + (end - start) / 3
    TimelineEntryFactory(
        incident=incident,
        at=pinned_at,
        kind=TimelineEntry.Kind.NOTE,
        text="Error rate back to normal on the canary after turning the new code path off.",
        author=tomas,
        source=TimelineEntry.Source.SLACK,
        created_at=pinned_at,
    )
    handover_at = start + (end - start) / 6
    old = incident.comms_lead
    TimelineEntryFactory(
        incident=incident,
        at=handover_at,
        kind=TimelineEntry.Kind.HANDOVER,
        text=handover_text("comms_lead", old, tomas.username),
        changes={"comms_lead": {"old": old, "new": tomas.username}},
        author=priya,
        source=TimelineEntry.Source.SLACK,
        created_at=handover_at,
    )
    incident.comms_lead, incident.created_by = tomas.username, priya
    incident.save(update_fields=["comms_lead", "created_by"])


def _roles(incident: Incident, external_id: str) -> list[tuple]:
    """A communications lead and a scribe on the bigger incidents, and now and then the lead handed
    over mid-incident (a long night: the first lead goes to bed). Its own random numbers, so the
    incidents themselves stay what they were before roles existed. Returns the handover entries."""
    rng = random.Random(f"opslog-demo-roles-{external_id}")
    others = [name for name in COMMANDERS if name != incident.commander]
    if incident.severity <= 2:
        incident.comms_lead = rng.choice(others)
    if incident.severity <= 3 and rng.random() < 0.6:
        incident.scribe = rng.choice([name for name in SCRIBES if name != incident.comms_lead])
    entries = []
    if incident.acknowledged_at and incident.mitigated_at and rng.random() < 0.3:
        first, then = rng.choice(others), incident.commander
        at = incident.acknowledged_at + (incident.mitigated_at - incident.acknowledged_at) / 2
        changes = {"commander": {"old": first, "new": then}}
        entries.append((at, TimelineEntry.Kind.HANDOVER, handover_text("commander", first, then), changes))
    incident.save(update_fields=["comms_lead", "scribe"])
    return entries


def _tags(incident: Incident, external_id: str, *, caused: bool) -> None:
    """Most incidents tagged: one or two of their trouble's tags, black-friday for those in the last
    week of November, bad-deploy for those a deploy caused. Its own random numbers, so the incidents
    themselves stay what they were before tags existed."""
    rng = random.Random(f"opslog-demo-tags-{external_id}")
    if rng.random() < 0.15:
        return
    choices = TROUBLE_TAGS.get(incident.title, [])
    names = rng.sample(choices, k=min(len(choices), rng.randint(1, 2)))
    started = timezone.localtime(incident.started_at)
    if started.month == 11 and started.day >= 22:
        names.append("black-friday")
    if caused:
        names.append("bad-deploy")
    incident.tags.set(clean_tags(names))
