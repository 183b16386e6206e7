"""Demo post-mortems, remediations and change records."""

import datetime as dt
import random

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from deploys.factories import ChangeRecordFactory
from deploys.models import Deploy
from incidents.demo import COMMANDERS, SOURCE
from incidents.models import Incident
from incidents.selectors import suspect_deploys
from postmortems.defaults import DEFAULT_FACTORS
from postmortems.factories import PostMortemFactory, RemediationFactory
from postmortems.models import ContributingFactor, PostMortem, PostMortemFactor, PostMortemRevision
from postmortems.services import timeline_narrative

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


# (slug, how often a post-mortem names it, notes a team would write): change and deploy most often,
# a monitoring gap next, so that patterns show across incidents. "deploy" factors count more when
# the incident has a causing deploy.
FACTORS = [
    (
        "change",
        0.45,
        [
            "The release changed a query plan that only showed under production load.",
            "A feature flag was turned on for everyone instead of the 10 % cohort.",
            "The migration took a lock on a hot table.",
        ],
    ),
    (
        "monitoring-gap",
        0.55,
        [
            "No alert on the error rate: customers told us first.",
            "The alert's threshold was set before traffic doubled.",
            "The dashboard showed averages; the p99 was what hurt.",
        ],
    ),
    (
        "configuration",
        0.15,
        [
            "A timeout differed between staging and production.",
            "The connection pool size was left at its default after the move.",
        ],
    ),
    (
        "capacity",
        0.1,
        ["The queue's workers were sized for last year's traffic.", "The database ran out of connections."],
    ),
    (
        "dependency",
        0.12,
        ["The payment provider answered slowly for an hour.", "An upstream API changed its rate limits."],
    ),
    (
        "process",
        0.1,
        ["The runbook pointed at the old dashboard.", "The handover missed that a migration was still running."],
    ),
    ("infrastructure", 0.08, ["One availability zone lost its NAT gateway.", "A disk filled up on the build host."]),
    ("security", 0.03, ["A bot hammered the login endpoint with stolen credentials."]),
]


def seed_postmortems(*, now: dt.datetime | None = None) -> int:
    """Post-mortems for most older resolved incidents: published ones with dev and ops
    remediations (some done on time, some late, some overdue), a few drafts, and change
    records on some of the causing deploys. Returns how many post-mortems were created."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    created = 0
    incidents = (
        Incident.objects.filter(source=SOURCE, resolved_at__isnull=False, postmortem__isnull=True)
        .prefetch_related("deploy_links__deploy__service")
        .order_by("started_at")
    )
    owners = _demo_owners()
    factors = {factor.slug: factor for factor in ContributingFactor.objects.active() or _default_factors()}
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
            # A change among the factors when a deploy is its linked cause, or when one of its
            # services was deployed just before (the incident demo leaves some of those unlinked).
            caused = any(link.relation == "cause" for link in incident.deploy_links.all()) or (
                suspect_deploys(incident).filter(deployed_at__lte=incident.started_at).exists()
            )
            # Most drafts have their factors picked at the meeting; some don't yet (the checklist says so).
            if published or rng.random() < 0.6:
                _pick_factors(postmortem, factors, rng, caused=caused)
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


def _default_factors() -> list[ContributingFactor]:
    """The defaults migration 0006 seeds, put back when a flushed database has none (the tests')."""
    return [
        ContributingFactor.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "position": position * 10}
        )[0]
        for position, (slug, name, description) in enumerate(DEFAULT_FACTORS, start=1)
    ]


def _pick_factors(postmortem: PostMortem, factors: dict, rng: random.Random, *, caused: bool) -> None:
    chosen = []
    for slug, chance, notes in FACTORS:
        if slug == "change" and caused:
            chance = 0.85
        if slug in factors and rng.random() < chance:
            chosen.append((factors[slug], rng.choice(notes + [""])))
    if not chosen and "unknown" in factors:
        chosen.append((factors["unknown"], "The logs had rotated before anyone looked."))
    PostMortemFactor.objects.bulk_create(
        PostMortemFactor(postmortem=postmortem, factor=factor, note=note) for factor, note in chosen
    )


def _demo_owners():
    """People who own remediations: users with an email address, no usable password."""
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
    final = postmortem.content()
    draft = dict(
        final,
        status="draft",
        went_well="",
        went_poorly="",
        got_lucky="",
        surprised="",
        contributing_factors="",
        factors=[],
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
