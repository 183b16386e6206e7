"""Deterministic demo data: two years of deploys of a small web shop, built with the test factories."""

import datetime as dt
import hashlib
import random
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from deploys import services as services_module
from deploys.factories import DeployCommitFactory, DeployFactory, ServiceFactory
from deploys.models import Deploy, DeployCommit, Environment

SERVICES = [
    ("web", "Web storefront", "Storefront", "Priya Raman"),
    ("api", "Public API", "Platform", "Tomas Novak"),
    ("search", "Search", "Discovery", "Aiko Tanaka"),
    ("payments", "Payments", "Checkout", "Grace Okafor"),
]
DEPLOYERS = [
    "akhan",
    "bmoreau",
    "cliu",
    "dokoye",
    "eharper",
    "fsilva",
    "gpetrov",
    "hnguyen",
    "ibrahim",
    "jmurphy",
    "kweber",
    "lrossi",
    "mgarcia",
    "nlindqvist",
    "oadeyemi",
    "pkowalski",
    "qzhang",
    "rsantos",
    "sdubois",
    "tyamada",
]
MESSAGES = [
    "Tweak search ranking for long-tail queries",
    "Faster checkout page render",
    "Fix pagination on the favourites list",
    "Upgrade HTTP client library",
    "Add rate limiting to the listings endpoint",
    "Move image resizing to the worker pool",
    "Feature flag: new onboarding flow at 10%",
    "Reduce memcache key churn",
    "Copy changes on the receipt email",
    "Retry payment provider timeouts once",
    "Drop unused columns from the listings query",
    "Config: raise worker concurrency",
]
PIPELINE = [("qa", 0), ("staging", 15), ("production", 40)]  # minutes after the QA deploy (+ up to 10)


@dataclass
class DemoResult:
    created: int
    existing: int


def _sha(*parts: object) -> str:
    return hashlib.sha1("-".join(map(str, parts)).encode()).hexdigest()


def seed_deploys(*, days: int = 730, now: dt.datetime | None = None) -> DemoResult:
    """Create the demo deploys of the `days` days up to `now`; deploys already there are kept as they are."""
    now = now or timezone.now()
    tz = timezone.get_default_timezone()
    today = timezone.localtime(now, tz).date()
    first_day = today - dt.timedelta(days=days)
    services = {
        slug: ServiceFactory(slug=slug, name=name, dev_team=team, ops_contact=ops) for slug, name, team, ops in SERVICES
    }
    environments = {e.slug: e for e in Environment.objects.filter(slug__in=[p[0] for p in PIPELINE])}

    deploys: list[Deploy] = []
    commits: list[DeployCommit] = []
    day = first_day
    while day <= today:
        if day.weekday() < 5:
            _plan_day(day, first_day, days, services, environments, now, tz, deploys, commits)
        day += dt.timedelta(days=1)
    _chain_versions(deploys)

    existing_ids = set(Deploy.objects.filter(external_id__startswith="demo-").values_list("external_id", flat=True))
    new = [d for d in deploys if d.external_id not in existing_ids]
    with transaction.atomic():
        Deploy.objects.bulk_create(new, batch_size=500)
        new_ids = {id(d) for d in new}
        created = DeployCommit.objects.bulk_create([c for c in commits if id(c.deploy) in new_ids], batch_size=500)
        services_module.commit_deliveries_refresh(shas=[c.sha for c in created])
    return DemoResult(created=len(new), existing=len(deploys) - len(new))


def _plan_day(day, first_day, total_days, services, environments, now, tz, deploys, commits):
    # One generator per day, so a day's deploys are the same whichever window they fall in.
    rng = random.Random(f"opslog-demo-{day.isoformat()}")
    # Volume grows over the two years, as a team that learns to ship small does.
    progress = (day - first_day).days / max(total_days, 1)
    count = rng.randint(1, 3) + round(3 * progress)
    day_number = (day - dt.date(2020, 1, 1)).days
    # An hour apart at least, so each version finishes its way to production before the next starts
    # and build numbers rise with time, as in a real pipeline.
    slots = sorted(rng.sample(range(8), count))
    for index, slot in enumerate(slots):
        slug = rng.choice(list(services))
        deployer = rng.choice(DEPLOYERS)
        message = rng.choice(MESSAGES)
        version = str(20000 + day_number * 8 + index)
        start = dt.datetime.combine(day, dt.time(9, 0), tzinfo=tz) + dt.timedelta(minutes=slot * 60 + rng.randint(0, 5))
        shas = [
            (_sha(slug, version, n), start - dt.timedelta(hours=rng.uniform(0.5, 72))) for n in range(rng.randint(1, 4))
        ]
        for env_slug, offset in PIPELINE:
            at = start + dt.timedelta(minutes=offset + rng.randint(0, 10))
            if at >= now:
                return  # later slots of the day are later still
            roll = rng.random()
            if env_slug == "production" and roll < 0.03:
                status = Deploy.Status.ROLLED_BACK
            elif roll < 0.045:
                status = Deploy.Status.FAILED
            else:
                status = Deploy.Status.SUCCEEDED
            deploy = DeployFactory.build(
                service=services[slug],
                environment=environments[env_slug],
                version=version,
                deployer=deployer,
                message=f"{environments[env_slug].name} deploy: {message}",
                deployed_at=at.astimezone(dt.UTC),
                duration_seconds=round(rng.uniform(20, 140) * (1.5 if env_slug == "production" else 1), 1),
                status=status,
                external_id=f"demo-{slug}-{env_slug}-{version}",
                created_at=at,
            )
            deploys.append(deploy)
            commits.extend(
                DeployCommitFactory.build(deploy=deploy, sha=sha, authored_at=authored, message=message)
                for sha, authored in shas
            )
            if status == Deploy.Status.ROLLED_BACK:
                # The rollback itself, as a real one is recorded: the version live before, shipped
                # again minutes later (its version is filled in by _chain_versions). Failed
                # deployment recovery time runs to it.
                # Its own generator: the day's draws, and so the rest of the demo, stay as they were.
                back = at + dt.timedelta(minutes=random.Random(f"rollback-{version}").randint(6, 25))
                if back < now:
                    deploys.append(
                        DeployFactory.build(
                            service=services[slug],
                            environment=environments[env_slug],
                            version="",
                            deployer=deployer,
                            message=f"Rollback of {version}: {message}",
                            deployed_at=back.astimezone(dt.UTC),
                            duration_seconds=45.0,
                            status=Deploy.Status.SUCCEEDED,
                            external_id=f"demo-{slug}-{env_slug}-{version}-rollback",
                            created_at=back,
                        )
                    )
            if status != Deploy.Status.SUCCEEDED:
                break  # a failed or rolled-back deploy isn't promoted further


def _chain_versions(deploys: list[Deploy]) -> None:
    """Set "old" versions and diffs the way ingest would: from what was live before, in time order."""
    live: dict[tuple[str, str], str] = {}
    for deploy in sorted(deploys, key=lambda d: d.deployed_at):
        key = (deploy.service.slug, deploy.environment.slug)
        if deploy.external_id.endswith("-rollback"):
            # A rollback ships again what was live before the deploy it undoes.
            undone = deploy.external_id.removesuffix("-rollback").rsplit("-", 1)[1]
            deploy.version = live.get(key) or f"{undone}~1"
            deploy.previous_version = undone
            deploy.diff_url = f"https://git.example.com/acme/{deploy.service.slug}/compare/{undone}...{deploy.version}"
            continue
        deploy.previous_version = live.get(key, "")
        base = deploy.previous_version or f"{deploy.version}~1"
        deploy.diff_url = f"https://git.example.com/acme/{deploy.service.slug}/compare/{base}...{deploy.version}"
        if deploy.status == Deploy.Status.SUCCEEDED:
            live[key] = deploy.version
