"""Deterministic demo incidents on top of the demo deploys, built with the test factories."""

import datetime as dt
import math
import random
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from deploys.models import Deploy, Service
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from incidents.models import Incident, IncidentDeploy, TimelineEntry

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
COMMANDERS = ["Priya Raman", "Tomas Novak", "Aiko Tanaka", "Grace Okafor"]


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
    """A few incidents a month; some caused by a production deploy and linked to it; detection
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
    severity = rng.choices([1, 2, 3, 4], weights=[1, 3, 5, 3])[0]
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
    if cause is not None:
        IncidentDeployFactory(incident=incident, deploy=cause, relation=IncidentDeploy.Relation.CAUSE)
        entries.append(
            (
                acknowledged or detected,
                TimelineEntry.Kind.DEPLOY_LINKED,
                f"Linked {cause.service.slug} {cause.version} to production (deploy #{cause.pk}) as a cause.",
            )
        )
        # The fix: the service's next production deploy after detection, if it came before the resolution.
        fix = (
            Deploy.objects.production()
            .live()
            .filter(service=cause.service, deployed_at__gt=detected, deployed_at__lt=resolved or now)
            .order_by("deployed_at")
            .first()
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
    for at, kind, text in entries:
        TimelineEntryFactory(incident=incident, at=at, kind=kind, text=text, created_at=at)
    return True


# --- Post-mortems, remediations and change records --------------------------------------------

REMEDIATIONS = [
    ("dev", "Add a contract test for the payment provider's timeout responses"),
    ("dev", "Put the new cache key behind a feature flag"),
    ("dev", "Make the search query parser reject empty tokens instead of crashing"),
    ("dev", "Add a canary stage to the deploy pipeline for this service"),
    ("ops", "Alert on checkout error rate above 2 % for 3 minutes"),
    ("ops", "Add the runbook link to the alert"),
    ("ops", "Lower the deploy batch size from 50 % to 10 % of hosts"),
    ("ops", "Dashboard for indexer lag per shard"),
]
CHANGE_RECORDS = [
    (
        "Add an index to orders.created_at",
        "schema",
        "Yes, on listings last quarter.",
        "Writes to orders lock while the index builds; checkout stalls.",
        "Cancel the migration and drop the half-built index; build it concurrently at night.",
    ),
    (
        "New checkout flow at 10 %",
        "feature",
        "We have ramped features behind flags before, not checkout.",
        "Payments fail for the 10 % cohort.",
        "Turn the flag off; it takes effect within a minute.",
    ),
    (
        "Move image storage to the new bucket",
        "storage",
        "No.",
        "Images 404 on product pages.",
        "Switch the CDN origin back to the old bucket.",
    ),
]


def seed_postmortems(*, now: dt.datetime | None = None) -> int:
    """Post-mortems for most older resolved incidents: published ones with dev and ops
    remediations (some done on time, some late, some overdue), a few drafts, and change
    records on some of the causing deploys. Returns how many post-mortems were created."""
    from deploys.factories import ChangeRecordFactory
    from incidents.factories import PostMortemFactory, RemediationFactory
    from incidents.models import PostMortem, PostMortemRevision

    now = now or timezone.now()
    today = timezone.localdate(now)
    created = 0
    incidents = (
        Incident.objects.filter(source=SOURCE, resolved_at__isnull=False, postmortem__isnull=True)
        .prefetch_related("deploy_links__deploy__service")
        .order_by("started_at")
    )
    owners = _demo_owners()
    for incident in incidents:
        rng = random.Random(f"opslog-demo-postmortem-{incident.external_id}")
        if incident.severity > 2 and rng.random() < 0.5:
            continue
        age = (now - incident.resolved_at).days
        with transaction.atomic():
            # Teams leave some drafts unfinished, more so for recent incidents.
            published = rng.random() < (0.88 if age > 75 else 0.3)
            text = _postmortem_text(incident)
            # Minor ones caused upstream sometimes need no action from us.
            no_action = incident.severity == 4 and rng.random() < 0.4
            if no_action:
                text.update(
                    no_action_needed=True,
                    no_action_reason="A one-off outage at our CDN provider; nothing of ours to change.",
                )
            postmortem = PostMortemFactory(
                incident=incident,
                status=PostMortem.Status.PUBLISHED if published else PostMortem.Status.DRAFT,
                facilitator=incident.commander,
                meeting_date=timezone.localtime(incident.resolved_at).date() + dt.timedelta(days=rng.randint(2, 6)),
                published_at=incident.resolved_at + dt.timedelta(days=rng.randint(5, 9)) if published else None,
                created_at=incident.resolved_at + dt.timedelta(hours=rng.randint(2, 48)),
                updated_at=incident.resolved_at + dt.timedelta(days=rng.randint(3, 9)),
                **text,
            )
            _history(postmortem, rng)
            for kind, description in (
                []
                if no_action
                else rng.sample([r for r in REMEDIATIONS if r[0] == "dev"], rng.randint(1, 2))
                + rng.sample([r for r in REMEDIATIONS if r[0] == "ops"], rng.randint(1, 2))
            ):
                due = timezone.localtime(incident.resolved_at).date() + dt.timedelta(days=rng.choice([7, 14, 30]))
                roll = rng.random()
                if due < today and roll < 0.8:
                    # Most are done, a quarter of them a few days late.
                    finished = due + dt.timedelta(days=rng.randint(-8, 3))
                    status = "done"
                    completed = min(timezone.make_aware(dt.datetime.combine(finished, dt.time(15))), now)
                elif due < today and roll < 0.9:
                    status, completed = "wont_do", None
                else:
                    status, completed = rng.choice(["open", "in_progress"]), None
                RemediationFactory(
                    postmortem=postmortem,
                    kind=kind,
                    description=description,
                    # Half owned by users (who get reminder emails), half by a name.
                    **(
                        {"owner": rng.choice(owners), "owner_name": ""}
                        if rng.random() < 0.5
                        else {"owner_name": rng.choice(COMMANDERS)}
                    ),
                    due_date=due,
                    status=status,
                    completed_at=completed,
                    wont_do_reason="Superseded by the platform migration." if status == "wont_do" else "",
                    tracker_ref=f"{kind.upper()}-{rng.randint(100, 999)}",
                    created_at=postmortem.created_at,
                )
            created += 1
        causes = [link.deploy for link in incident.deploy_links.all() if link.relation == "cause"]
        if causes and rng.random() < 0.5 and causes[0].change_record_id is None:
            title, kind, before, impact, response = rng.choice(CHANGE_RECORDS)
            record = ChangeRecordFactory(
                title=title,
                kind=kind,
                service=causes[0].service,
                owner=causes[0].deployer,
                planned_at=causes[0].deployed_at - dt.timedelta(days=1),
                done_before=before,
                failure_impact=impact,
                failure_response=response,
            )
            Deploy.objects.filter(pk=causes[0].pk).update(change_record=record)
    # The latest draft is with reviewers.
    latest_draft = PostMortem.objects.filter(incident__source=SOURCE, status="draft").order_by("-created_at").first()
    if latest_draft is not None and not PostMortem.objects.filter(incident__source=SOURCE, status="in_review").exists():
        latest_draft.status = PostMortem.Status.IN_REVIEW
        latest_draft.version += 1
        latest_draft.save(update_fields=["status", "version"])
        PostMortemRevision.objects.create(
            postmortem=latest_draft,
            version=latest_draft.version,
            content=latest_draft.content(),
            saved_at=latest_draft.updated_at,
        )
    return created


def _demo_owners():
    """People who own remediations: users with an email address, no usable password."""
    from django.contrib.auth import get_user_model

    users = []
    for name in COMMANDERS:
        first, last = name.split(" ", 1)
        user, created = get_user_model().objects.get_or_create(
            username=first.lower(),
            defaults={"first_name": first, "last_name": last, "email": f"{first.lower()}@example.com"},
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        users.append(user)
    return users


def _history(postmortem, rng) -> None:
    """The revisions a team leaves while writing: a first draft, the meeting's edits, and the
    publishing — so History has something to compare."""
    from incidents.models import PostMortem, PostMortemRevision

    final = postmortem.content()
    draft = dict(
        final, status="draft", went_well="", went_poorly="", got_lucky="", surprised="", contributing_factors=""
    )
    steps = [draft, dict(final, status="draft")]
    if postmortem.status == PostMortem.Status.PUBLISHED:
        steps.append(final)
    start = postmortem.created_at
    for number, content in enumerate(steps, start=1):
        PostMortemRevision.objects.create(
            postmortem=postmortem,
            version=number,
            content=content,
            saved_at=start + (postmortem.updated_at - start) * number / len(steps),
        )
    PostMortem.objects.filter(pk=postmortem.pk).update(version=len(steps))


def _postmortem_text(incident: Incident) -> dict:
    from incidents.services import timeline_narrative

    services = ", ".join(s.slug for s in incident.services.all()) or "the site"
    return {
        "summary": f"{incident.title} on {services}, for {round(incident.time_to_restore_seconds / 60)} minutes.",
        "impact": "Some customers saw errors; no data was lost.",
        "timeline_narrative": timeline_narrative(incident),
        "detection": f"Found through {incident.detection_source or 'an alert'}.",
        "contributing_factors": "- The change looked safe in staging, which has a tenth of production's traffic.\n"
        "- The alert's threshold was set before traffic doubled.",
        "went_well": "The rollback took two minutes and the runbook was right.",
        "went_poorly": "It took a while to connect the errors to the deploy.",
        "got_lucky": "It happened during the day, with most of the team around.",
        "surprised": "We believed the cache was per-host; it is shared.",
    }


# (alertname, severity label, service, firings a week, how long each fires in minutes): the noisy
# ones a monthly alert review should catch, and the few that mean something.
NOISY_ALERTS = [
    ("DiskSpaceLow", "warning", "images", 5, (5, 40)),
    ("HighLatencyP99", "warning", "web", 3, (2, 15)),
    ("CertificateExpiresSoon", "info", "api", 1, (600, 1440)),
    ("QueueBacklogHigh", "warning", "search", 2, (3, 30)),
]


def seed_alerts(*, days: int = 730, now: dt.datetime | None = None) -> int:
    """Alerts for the monthly alert review: each demo incident detected by monitoring was promoted
    from one (signal), and a few rules fire regularly without ever leading anywhere (noise).
    Deterministic and safe to run twice (the alert's fingerprint and start time are its key)."""
    from incidents.models import Alert

    now = now or timezone.now()
    first = now - dt.timedelta(days=days)
    alerts = []
    for incident in Incident.objects.filter(
        source=SOURCE, detected_by=Incident.DetectedBy.MONITORING, started_at__gte=first
    ).prefetch_related("services"):
        service = next(iter(incident.services.all()), None)
        name = "".join(word.capitalize() for word in (incident.detection_source or incident.title).split()[:3])
        fired = incident.detected_at or incident.started_at
        ended = incident.mitigated_at or incident.resolved_at
        alerts.append(
            Alert(
                fingerprint=_fingerprint(name, service.slug if service else ""),
                name=name[:200],
                labels={"alertname": name, "severity": "critical", "service": service.slug if service else ""},
                annotations={"summary": incident.title},
                starts_at=fired,
                ends_at=ended,
                status=Alert.Status.RESOLVED if ended else Alert.Status.FIRING,
                incident=incident,
            )
        )
    day = first.date()
    while day <= now.date():
        rng = random.Random(f"opslog-demo-alerts-{day.isoformat()}")
        for name, severity, service, per_week, (shortest, longest) in NOISY_ALERTS:
            if rng.random() >= per_week / 7:
                continue
            starts = dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=dt.UTC)
            ends = starts + dt.timedelta(minutes=rng.randint(shortest, longest))
            if ends > now:
                continue
            alerts.append(
                Alert(
                    fingerprint=_fingerprint(name, service),
                    name=name,
                    labels={"alertname": name, "severity": severity, "service": service},
                    annotations={"summary": f"{name} on {service}"},
                    starts_at=starts,
                    ends_at=ends,
                    status=Alert.Status.RESOLVED,
                )
            )
        day += dt.timedelta(days=1)
    before = Alert.objects.count()
    Alert.objects.bulk_create(alerts, batch_size=500, ignore_conflicts=True)
    return Alert.objects.count() - before


def _fingerprint(name: str, service: str) -> str:
    import hashlib

    return hashlib.sha256(f"{name}|{service}".encode()).hexdigest()[:16]
