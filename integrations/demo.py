"""Demo data for the trackers: a GitHub Issues connection marked demo (its address can't be
reached, and Opslog never calls a demo connection), some published post-mortems' remediations
linked to issues there, and the done ones' closing brought back as timeline entries from the tracker."""

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from incidents.models import TimelineEntry, entries_from
from integrations.crypto import encrypt
from integrations.models import TrackerConnection, TrackerLink
from integrations.trackers.services import issue_title
from postmortems.models import PostMortem, Remediation

DEMO_NAME = "acme/web-app issues (demo)"
DEMO_REPO = "acme/web-app"
# Reserved names (RFC 2606): nothing there answers, and the issue pages are plainly made up.
DEMO_API = "https://api.github.example"
DEMO_ISSUES = "https://github.example/acme/web-app/issues"


@transaction.atomic
def seed_trackers(*, limit: int = 12) -> int:
    """Link up to `limit` remediations of published post-mortems (the newest first) to demo
    issues; safe to run twice. Returns how many links were made."""
    connection, _ = TrackerConnection.objects.get_or_create(
        name=DEMO_NAME,
        defaults={
            "kind": TrackerConnection.Kind.GITHUB,
            "base_url": DEMO_API,
            "repository": DEMO_REPO,
            "labels": "opslog,remediation",
            "is_demo": True,
            "token_encrypted": encrypt("demo-token-never-sent"),
            "webhook_secret_encrypted": encrypt("demo-webhook-secret"),
        },
    )
    remediations = list(
        Remediation.objects.filter(postmortem__status=PostMortem.Status.PUBLISHED, tracker_link__isnull=True)
        .select_related("postmortem__incident")
        .order_by("-created_at", "-id")[:limit]
    )
    number = 100 + TrackerLink.objects.filter(connection=connection).count()
    made = 0
    for remediation in remediations:
        rng = random.Random(f"opslog-demo-tracker-{remediation.pk}")
        number += rng.randint(1, 9)
        linked_at = remediation.created_at + dt.timedelta(minutes=rng.randint(5, 600))
        TrackerLink.objects.create(
            remediation=remediation,
            connection=connection,
            state=TrackerLink.State.LINKED,
            issue_key=str(number),
            url=f"{DEMO_ISSUES}/{number}",
            attempts=1,
            created_at=linked_at,
            updated_at=linked_at,
            linked_at=linked_at,
        )
        Remediation.objects.filter(pk=remediation.pk).update(tracker_ref=f"{DEMO_ISSUES}/{number}")
        if remediation.status == Remediation.Status.DONE and remediation.completed_at:
            # As the issue's `closed` webhook would have recorded it.
            with entries_from(TimelineEntry.Source.TRACKER):
                TimelineEntry.objects.create(
                    incident=remediation.postmortem.incident,
                    at=remediation.completed_at,
                    kind=TimelineEntry.Kind.NOTE,
                    text=f"Remediation {remediation.pk} ({issue_title(remediation)}) is done: "
                    f"GitHub Issues #{number} was closed.",
                    created_at=min(remediation.completed_at, timezone.now()),
                )
        made += 1
    return made
