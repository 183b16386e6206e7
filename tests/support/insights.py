"""Random incidents for the insights' tests (seeded): services, factors, tags, roles, post-mortems
and remediations, returned as plain rows for the tests' own recomputation."""

import datetime as dt
import random

from django.utils import timezone

from deploys.factories import ServiceFactory
from incidents.factories import IncidentFactory
from postmortems.factories import (
    ContributingFactorFactory,
    PostMortemFactorFactory,
    PostMortemFactory,
    RemediationFactory,
)

PEOPLE = ["ana", "bo", "chen", "dee", "Ana"]  # "Ana" and "ana" are two names: names count as typed


def generate(seed: int, count: int) -> dict:
    """Random incidents with services, factors, tags, roles, post-mortems and remediations; returns
    the rows as plain dicts for the recomputation."""
    rng = random.Random(seed)
    services = [
        ServiceFactory(slug="web", dev_team="storefront"),
        ServiceFactory(slug="api", dev_team="platform"),
        ServiceFactory(slug="search", dev_team="platform"),
        ServiceFactory(slug="batch", dev_team=""),
    ]
    factors = [ContributingFactorFactory(slug=s) for s in ("f-deploy", "f-config", "f-capacity")]
    retired = ContributingFactorFactory(slug="f-retired")
    factors.append(retired)
    base = dt.datetime(2024, 11, 20, tzinfo=dt.UTC)
    rows = []
    for _ in range(count):
        started = base + dt.timedelta(minutes=rng.randrange(0, 470 * 24 * 60))
        stamps = {"started_at": started}
        at = started
        for name in ("detected_at", "acknowledged_at", "mitigated_at", "resolved_at"):
            if rng.random() < 0.85:
                at += dt.timedelta(seconds=rng.randrange(0, 20000))
                stamps[name] = at
            else:
                stamps[name] = None
        chosen = rng.sample(services, rng.choice([1, 1, 2]))
        roles = {f: rng.choice(PEOPLE + ["", " "]) for f in ("commander", "comms_lead", "scribe")}
        participants = rng.sample(PEOPLE, rng.randrange(0, 3))
        archived = rng.random() < 0.1
        incident = IncidentFactory(
            severity=rng.choice([1, 2, 3, 4]),
            services=chosen,
            participants=participants,
            archived_at=timezone.now() if archived else None,
            **stamps,
            **roles,
        )
        tags = rng.sample(["dns", "black-friday", "db"], rng.randrange(0, 3))
        if tags:
            incident.tags.add(*tags)
        row = {
            "incident": incident,
            "severity": incident.severity,
            "services": [(s.slug, s.dev_team) for s in chosen],
            "archived": archived,
            "tags": tags,
            "roles": roles,
            "participants": participants,
            "factors": [],
            "postmortem": None,
            "remediations": [],
            **stamps,
        }
        if rng.random() < 0.8:
            status = rng.choice(["draft", "in_review", "published", "published"])
            published_at = None
            if status == "published" and stamps["resolved_at"]:
                published_at = stamps["resolved_at"] + dt.timedelta(hours=rng.randrange(1, 24 * 12))
            pm = PostMortemFactory(incident=incident, status=status, published_at=published_at)
            row["postmortem"] = {"status": status, "published_at": published_at}
            for factor in rng.sample(factors, rng.randrange(0, 3)):
                PostMortemFactorFactory(postmortem=pm, factor=factor)
                row["factors"].append(factor.slug)
            for _ in range(rng.randrange(0, 4)):
                created = started + dt.timedelta(days=rng.randrange(0, 20))
                status = rng.choice(["open", "in_progress", "done", "done", "wont_do"])
                completed = created + dt.timedelta(hours=rng.randrange(1, 24 * 30)) if status == "done" else None
                due = rng.choice([None, (created + dt.timedelta(days=rng.randrange(1, 30))).date()])
                RemediationFactory(
                    postmortem=pm,
                    kind=rng.choice(["dev", "ops"]),
                    status=status,
                    wont_do_reason="not worth it" if status == "wont_do" else "",
                    created_at=created,
                    completed_at=completed,
                    due_date=due,
                )
            row["remediations"] = list(
                pm.remediations.values("kind", "status", "created_at", "completed_at", "due_date")
            )
        rows.append(row)
    # Archived after it was used: still counted for the past.
    retired.archived_at = timezone.now()
    retired.save()
    return {"rows": rows}
