"""Writes for deploys. Every way a deploy enters Opslog (API, bulk, import, webhooks) goes through here."""

import logging
import secrets
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from deploys import contract, notifications, signals, tasks
from deploys.auth import key_digest
from deploys.contract import CommitInput, DeployInput
from deploys.models import (
    ApiToken,
    ChangeRecord,
    Deploy,
    DeployCommit,
    Environment,
    IngestToken,
    OutboxMessage,
    PushedCommit,
    Service,
)

logger = logging.getLogger(__name__)


def batched(items: Iterable, size: int):
    # itertools.batched arrived in Python 3.12; Opslog supports 3.11.
    iterator = iter(items)
    while batch := tuple(islice(iterator, size)):
        yield batch


def service_get_or_create(*, slug: str) -> Service:
    """A new slug creates the service; concurrent first sightings agree on one row."""
    service, _ = Service.objects.get_or_create(slug=slug.strip().lower(), defaults={"name": slug})
    return service


def environment_get_or_create(*, slug: str) -> Environment:
    """A new slug creates a non-production environment."""
    environment, _ = Environment.objects.get_or_create(
        slug=slug.strip().lower(), defaults={"name": slug.strip(), "is_production": False}
    )
    return environment


def service_uses(*, service: Service) -> dict[str, int]:
    """What refers to the service, as {records' plural name: how many}: every relation declared on
    it, the apps above included (incidents, ingest tokens' scopes, …), found through the model's
    meta so that this app imports none of them."""
    uses = {}
    for relation in Service._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and relation.is_relation and not relation.concrete):
            continue
        model = relation.related_model
        if model._meta.auto_created:
            continue  # a many-to-many's own table: counted through the model that declares it
        count = model._base_manager.filter(**{relation.field.name: service}).count()
        if count:
            uses[str(model._meta.verbose_name_plural)] = count
    return uses


def service_delete_refusal(*, service: Service) -> str | None:
    """Why the service can't be deleted, or None. One in use is archived instead: deleting it would
    drop it from its incidents without a trace, or widen an ingest token scoped to it to every service."""
    uses = service_uses(service=service)
    if not uses:
        return None
    found = ", ".join(f"{count} {name}" for name, count in sorted(uses.items()))
    return (
        f"The service {service.slug} is in use ({found}): archive it instead. An archived service is no "
        "longer offered for new records and stays on its old ones and in the reports."
    )


@transaction.atomic
def service_delete(*, service: Service) -> None:
    """Delete a service nothing refers to. Raises ValidationError saying why not (service_delete_refusal)."""
    locked = Service.objects.select_for_update().get(pk=service.pk)
    refusal = service_delete_refusal(service=locked)
    if refusal is not None:
        raise ValidationError({"service": [refusal]})
    locked.delete()


def service_set_archived(*, service: Service, archived: bool) -> Service:
    """Archive (or restore) a service; archiving again keeps the first time."""
    if archived and service.archived_at is None:
        Service.objects.filter(pk=service.pk, archived_at__isnull=True).update(archived_at=timezone.now())
    elif not archived:
        Service.objects.filter(pk=service.pk).update(archived_at=None)
    service.refresh_from_db(fields=["archived_at"])
    return service


def _previous_version(*, service: Service, environment: Environment, before: datetime) -> str:
    # What was live before: the latest earlier deploy that went live and stayed.
    return (
        Deploy.objects.live()
        .filter(service=service, environment=environment, deployed_at__lt=before)
        .newest_first()
        .values_list("version", flat=True)
        .first()
        or ""
    )


def _new_deploy(
    data: DeployInput, *, service: Service, environment: Environment, deployed_at: datetime, previous_version: str
) -> Deploy:
    """The unsaved Deploy row of `data`, for the single and bulk paths alike; the time and the previous
    version are the caller's to settle (data's own, or now and what was live before)."""
    return Deploy(
        service=service,
        environment=environment,
        version=data.version,
        previous_version=previous_version,
        deployer=data.deployer,
        message=data.message,
        deployed_at=deployed_at,
        duration_seconds=data.duration_seconds,
        status=data.status,
        diff_url=data.diff_url,
        external_id=data.external_id,
        change_record_id=data.change_record_id,
    )


def _commit_rows(deploy: Deploy, commits: Iterable[CommitInput]) -> list[DeployCommit]:
    seen: set[str] = set()
    rows = []
    for commit in commits:
        if commit.sha in seen:
            continue
        seen.add(commit.sha)
        rows.append(DeployCommit(deploy=deploy, sha=commit.sha, authored_at=commit.authored_at, message=commit.message))
    return rows


def outbox_record(*, kind: str, key: str, payload: dict) -> OutboxMessage:
    """Record an outbound side effect in the caller's transaction (deploys.outbox): it is queued for
    a worker once that commits, and is never sent if it rolls back. `key` names the side effect
    (e.g. "deploy:42:chat"): recording it again returns the first row and queues nothing."""
    message, created = OutboxMessage.objects.get_or_create(key=key, defaults={"kind": kind, "payload": payload})
    if created:
        message_id = message.pk
        transaction.on_commit(lambda: tasks.queue_outbox_message(message_id))
    return message


def _record_notifications(deploy: Deploy) -> None:
    # Each channel configured now is one outbox message, written with the deploy.
    for channel in notifications.channels_for(deploy):
        outbox_record(kind=channel.kind, key=f"deploy:{deploy.pk}:{channel.name}", payload={"deploy_id": deploy.pk})


# What deploy_record calls, when given, to derive what the sender left out once the service, the
# environment, the time and the previous version are settled (a webhook's commits and compare link).
Complete = Callable[[DeployInput, Service, Environment], DeployInput]


def deploy_record(
    *,
    data: DeployInput,
    notify: bool = True,
    rules: contract.Rules | None = contract.API,
    complete: Complete | None = None,
    delivery_key: str = "",
) -> tuple[Deploy, bool]:
    """Store one deploy. Returns (deploy, created).

    `rules` names whose deploy contract `data` is checked against first (deploys.contract.API, the
    default, or HOOKS): when it breaks it, django.core.exceptions.ValidationError with a message per
    field, and nothing is stored, not even a new service. A caller that has just checked the same
    rules passes None (the API's serializers run them, the importer does at parse time), so a
    deploy is checked once. Idempotent on (service, external_id): a repeat returns the
    stored deploy and created=False, also when two requests race (the unique constraint decides,
    the loser reads the winner's row); `complete` isn't called for a repeat. `deployed_at=None` means
    now; `previous_version=None` means "not given": it is taken from the latest earlier successful
    deploy of the same service and environment. Production deploys are announced: their notices are
    recorded in the outbox with the deploy, and sent after commit.
    `delivery_key` (webhooks): the deploy's own identity as its sender gave it, unique across
    services; a repeat with it returns the stored deploy whatever service `data` names now.
    """
    if rules is not None:
        contract.deploy_validate(data=data, rules=rules)
    if delivery_key:
        # Before the service is looked up: a mapping changed since may name another one.
        existing = Deploy.objects.filter(delivery_key=delivery_key).first()
        if existing is not None:
            return existing, False
    service = service_get_or_create(slug=data.service)
    environment = environment_get_or_create(slug=data.environment)
    if data.external_id:
        existing = Deploy.objects.filter(service=service, external_id=data.external_id).first()
        if existing is not None:
            if delivery_key:
                # Recorded before deploys kept their delivery key: from now on it is found by it.
                Deploy.objects.filter(pk=existing.pk, delivery_key="").update(delivery_key=delivery_key)
            return existing, False
    deployed_at = data.deployed_at or timezone.now()
    previous = data.previous_version
    if previous is None:
        previous = _previous_version(service=service, environment=environment, before=deployed_at)
    data = replace(data, deployed_at=deployed_at, previous_version=previous)
    if complete is not None:
        data = complete(data, service, environment)
    try:
        with transaction.atomic():
            deploy = _new_deploy(
                data, service=service, environment=environment, deployed_at=deployed_at, previous_version=previous
            )
            deploy.delivery_key = delivery_key
            deploy.save()
            rows = DeployCommit.objects.bulk_create(_commit_rows(deploy, data.commits))
            commit_deliveries_refresh(shas=[row.sha for row in rows])
            if notify and environment.is_production:
                _record_notifications(deploy)
            if notify:
                # Not for a history import: sinks hear of deploys as they happen, not of a backfill.
                signals.recorded([deploy.pk])
    except IntegrityError:
        if not (data.external_id or delivery_key):
            raise
        existing = None
        if delivery_key:
            existing = Deploy.objects.filter(delivery_key=delivery_key).first()
        if existing is None and data.external_id:
            existing = Deploy.objects.filter(service=service, external_id=data.external_id).first()
        if existing is None:
            raise
        return existing, False
    return deploy, True


def deploy_rollback_mark(*, deploy: Deploy) -> int:
    """`deploy` rolled its service back in its environment: the deploy it replaced (the latest
    earlier one that went live) is marked rolled back, as a failed change. Returns 0 or 1."""
    replaced = (
        Deploy.objects.live()
        .filter(service_id=deploy.service_id, environment_id=deploy.environment_id, deployed_at__lt=deploy.deployed_at)
        .exclude(version=deploy.version)
        .newest_first()
        .first()
    )
    if replaced is None:
        return 0
    return Deploy.objects.filter(pk=replaced.pk, status=Deploy.Status.SUCCEEDED).update(
        status=Deploy.Status.ROLLED_BACK
    )


@dataclass
class BulkResult:
    deploys: list[Deploy]
    created: int
    existing: int
    # Each deploy's commits by deploy id, in DeployCommit's order: with `deploys` (service and
    # environment loaded), all an answer needs without reading the rows back.
    commits: dict[int, list[DeployCommit]] = field(default_factory=dict)


def deploy_record_bulk(*, items: Sequence[DeployInput], rules: contract.Rules | None = contract.API) -> BulkResult:
    """Store many deploys at once, all or nothing (a backfill). Sends no notifications.

    `rules` as for deploy_record: an item that breaks the deploy contract raises ValidationError,
    its messages keyed `<index>.<field>`, and nothing is stored. (The bulk endpoint passes None: its
    serializer and fast path checked every item already, and a second pass over 1,000 deploys would
    cost the ingest rate.) Deploys already stored under the same
    (service, external_id) are returned, not doubled. Deploys in the batch that omit
    previous_version get it from earlier deploys in the batch or, failing that, from the database.
    """
    if rules is not None:
        problems = {
            f"{index}.{name}": messages
            for index, item in enumerate(items)
            for name, messages in contract.deploy_problems(item, rules=rules).items()
        }
        if problems:
            raise ValidationError(problems)
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _record_bulk(items)
        except IntegrityError:
            # A concurrent request stored one of our external_ids first; the second pass finds it.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _record_bulk(items: Sequence[DeployInput]) -> BulkResult:
    services = {slug: service_get_or_create(slug=slug) for slug in {i.service.strip().lower() for i in items}}
    environments = {
        slug: environment_get_or_create(slug=slug) for slug in {i.environment.strip().lower() for i in items}
    }

    wanted_ids: dict[int, set[str]] = {}
    for item in items:
        if item.external_id:
            wanted_ids.setdefault(services[item.service.strip().lower()].pk, set()).add(item.external_id)
    existing: dict[tuple[int, str], Deploy] = {}
    for service_id, ids in wanted_ids.items():
        for deploy in Deploy.objects.filter(service_id=service_id, external_id__in=ids).with_related():
            existing[(service_id, deploy.external_id)] = deploy
    commits_of: dict[int, list[DeployCommit]] = {}
    for commit in DeployCommit.objects.filter(deploy__in=[d.pk for d in existing.values()]):
        commits_of.setdefault(commit.deploy_id, []).append(commit)

    now = timezone.now()
    results: list[Deploy | None] = [None] * len(items)
    new: list[tuple[int, DeployInput, Deploy]] = []
    for index, item in enumerate(items):
        service = services[item.service.strip().lower()]
        environment = environments[item.environment.strip().lower()]
        if item.external_id and (service.pk, item.external_id) in existing:
            results[index] = existing[(service.pk, item.external_id)]
            continue
        # A missing previous version is filled in below, from the batch and the database at once.
        deploy = _new_deploy(
            item,
            service=service,
            environment=environment,
            deployed_at=item.deployed_at or now,
            previous_version=item.previous_version or "",
        )
        new.append((index, item, deploy))

    _fill_previous_versions([(item, deploy) for _, item, deploy in new])
    Deploy.objects.bulk_create([deploy for _, _, deploy in new])
    commits: list[DeployCommit] = []
    for index, item, deploy in new:
        commits.extend(_commit_rows(deploy, item.commits))
        results[index] = deploy
    DeployCommit.objects.bulk_create(commits)
    commit_deliveries_refresh(shas=[commit.sha for commit in commits])
    signals.recorded([deploy.pk for _, _, deploy in new])
    for commit in _in_commit_order(commits):
        commits_of.setdefault(commit.deploy_id, []).append(commit)
    return BulkResult(deploys=results, created=len(new), existing=len(items) - len(new), commits=commits_of)


def _in_commit_order(commits: list[DeployCommit]) -> list[DeployCommit]:
    # DeployCommit.Meta.ordering as the database applies it: PostgreSQL puts a missing
    # authored_at last, SQLite first.
    missing_last = connection.vendor == "postgresql"
    return sorted(
        commits,
        key=lambda c: ((c.authored_at is None) == missing_last, c.authored_at, c.pk),
    )


def _fill_previous_versions(pairs: list[tuple[DeployInput, Deploy]]) -> None:
    streams: dict[tuple[int, int], list[Deploy]] = {}
    for item, deploy in pairs:
        if item.previous_version is None:
            streams.setdefault((deploy.service_id, deploy.environment_id), []).append(deploy)
    for (service_id, environment_id), deploys in streams.items():
        earliest = min(d.deployed_at for d in deploys)
        latest = max(d.deployed_at for d in deploys)
        stored = Deploy.objects.live().filter(service_id=service_id, environment_id=environment_id)
        # What was live when the batch starts, plus everything that went live during it.
        live = list(stored.filter(deployed_at__lt=earliest).newest_first().values_list("deployed_at", "version")[:1])
        live += stored.filter(deployed_at__gte=earliest, deployed_at__lt=latest).values_list("deployed_at", "version")
        live += [
            (d.deployed_at, d.version)
            for _, d in pairs
            if (d.service_id, d.environment_id) == (service_id, environment_id) and d.status == Deploy.Status.SUCCEEDED
        ]
        live.sort(key=lambda row: row[0])
        times = [row[0] for row in live]
        for deploy in deploys:
            position = bisect_left(times, deploy.deployed_at)
            deploy.previous_version = live[position - 1][1] if position else ""


# Any constant works: it only has to be the same in every process that refreshes deliveries.
_DELIVERIES_LOCK = 7_301_110


def commit_deliveries_refresh(*, shas: Iterable[str]) -> int:
    """Recompute which row of each sha is its first production delivery, which row is its first
    delivery to each environment, and those rows' lead times.

    Call it inside the transaction that added, removed or changed deploys or commits of these shas
    (a backfilled earlier deploy, a status changed to failed, a deleted deploy…). Writes only rows
    whose values change; returns how many. On PostgreSQL a transaction-level advisory lock makes
    concurrent ingests of the same sha (one commit shipped to two production regions at once) take
    turns, so exactly one row stays first.
    """
    wanted = sorted(set(shas))
    if not wanted:
        return 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DELIVERIES_LOCK])
    changed = 0
    for chunk in batched(wanted, 500):
        # Plain value rows, not model instances: a backfill refreshes thousands of commits a request.
        rows = list(
            DeployCommit.objects.filter(sha__in=chunk).values_list(
                "pk",
                "sha",
                "authored_at",
                "first_delivered_at",
                "lead_seconds",
                "env_first_delivered_at",
                "env_lead_seconds",
                "env_delivered_to_id",
                "deploy_id",
                "deploy__deployed_at",
                "deploy__status",
                "deploy__environment_id",
                "deploy__environment__is_production",
            )
        )
        # sha (or (sha, environment)) → ((deployed_at, deploy id), commit row id) of the first one.
        first: dict[str, tuple[tuple, int]] = {}
        first_in: dict[tuple[str, int], tuple[tuple, int]] = {}
        for pk, sha, *_, deploy_id, deployed_at, status, environment_id, is_production in rows:
            if status not in Deploy.COUNTED_STATUSES:
                continue
            order = (deployed_at, deploy_id)
            key = (sha, environment_id)
            if key not in first_in or order < first_in[key][0]:
                first_in[key] = (order, pk)
            if is_production and (sha not in first or order < first[sha][0]):
                first[sha] = (order, pk)
        stale = []
        for pk, sha, authored_at, *before, _, deployed_at, _, environment_id, _ in rows:
            values = _delivery(first.get(sha), pk, authored_at, deployed_at)
            values += _delivery(first_in.get((sha, environment_id)), pk, authored_at, deployed_at)
            values += (environment_id if values[2] is not None else None,)
            if tuple(before) != values:
                stale.append((pk, *values))
        _write_deliveries(stale)
        changed += len(stale)
    return changed


def _delivery(first: tuple[tuple, int] | None, pk: int, authored_at, deployed_at) -> tuple:
    """(delivered at, lead seconds) of commit row `pk` when it is the `first` row, else (None, None)."""
    if first is None or first[1] != pk:
        return (None, None)
    lead = None
    if authored_at is not None and authored_at < deployed_at:
        lead = (deployed_at - authored_at).total_seconds()
    return (deployed_at, lead)


_DELIVERY_FIELDS = [
    "first_delivered_at",
    "lead_seconds",
    "env_first_delivered_at",
    "env_lead_seconds",
    "env_delivered_to_id",
]


def _write_deliveries(rows: list[tuple]) -> None:
    """Set the _DELIVERY_FIELDS of commit rows by id: one UPDATE on PostgreSQL."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        DeployCommit.objects.bulk_update(
            [DeployCommit(pk=pk, **dict(zip(_DELIVERY_FIELDS, values))) for pk, *values in rows],
            _DELIVERY_FIELDS,
            batch_size=500,
        )
        return
    columns = [list(column) for column in zip(*rows)]
    with connection.cursor() as cursor:
        # bulk_update writes a CASE WHEN branch per row; joining the new values as arrays is one
        # short statement whatever the number of rows.
        cursor.execute(
            "UPDATE deploys_deploycommit AS c SET first_delivered_at = v.at, lead_seconds = v.lead, "
            "env_first_delivered_at = v.env_at, env_lead_seconds = v.env_lead, env_delivered_to_id = v.env "
            "FROM unnest(%s::bigint[], %s::timestamptz[], %s::double precision[], %s::timestamptz[], "
            "%s::double precision[], %s::bigint[]) AS v(id, at, lead, env_at, env_lead, env) "
            "WHERE c.id = v.id",
            columns,
        )


def commit_deliveries_refresh_all(*, chunk: int = 5000) -> int:
    """Recompute every commit's first-delivery fields (after a restore, raw SQL or a bug fix)."""
    changed = 0
    shas = DeployCommit.objects.order_by("sha").values_list("sha", flat=True).distinct()
    for batch in batched(shas.iterator(chunk_size=chunk), chunk):
        with transaction.atomic():
            changed += commit_deliveries_refresh(shas=batch)
    return changed


def deploy_shas(deploy_ids: Iterable[int]) -> list[str]:
    return list(DeployCommit.objects.filter(deploy_id__in=list(deploy_ids)).values_list("sha", flat=True))


CHANGE_RECORD_FIELDS = [
    "title",
    "kind",
    "service",
    "owner",
    "planned_at",
    "description",
    "done_before",
    "failure_impact",
    "failure_response",
]


@transaction.atomic
def change_record_create(*, data: dict, by=None) -> ChangeRecord:
    """Record a risky change and the answers to the four questions. Raises ValidationError per field."""
    unknown = set(data) - set(CHANGE_RECORD_FIELDS)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    record = ChangeRecord(created_by=by, **data)
    record.full_clean()
    record.save()
    return record


@transaction.atomic
def change_record_update(*, record: ChangeRecord, changes: dict, by=None) -> ChangeRecord:
    unknown = set(changes) - set(CHANGE_RECORD_FIELDS)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(record, name, value)
    record.full_clean()
    record.save()
    return record


def deploy_attach_change_record(*, deploy: Deploy, record: ChangeRecord | None) -> Deploy:
    """Attach a change record to a deploy (None detaches it)."""
    deploy.change_record = record
    deploy.save(update_fields=["change_record"])
    return deploy


# --- Webhook deliveries -------------------------------------------------------------------------


# --- Webhook adapters: pushed commits and deploys from a head sha (deploys.adapters) ------------


def pushed_commits_record(*, service: str, commits: Sequence[CommitInput]) -> int:
    """Remember commits pushed to a service's default branch, in push order (oldest first), so a
    later deploy that names only its head sha can list them. Idempotent on (service, sha): a commit
    already known keeps its first row (and its place in the order). Returns how many were new.
    Raises ValidationError when the service name or a commit breaks the deploy contract (the
    webhooks' rules: git shas)."""
    if not commits:
        return 0
    contract.deploy_validate(data={"service": service}, rules=contract.HOOKS)
    contract.commits_validate(commits=commits, rules=contract.HOOKS)
    target = service_get_or_create(slug=service)
    known = set(
        PushedCommit.objects.filter(service=target, sha__in=[c.sha for c in commits]).values_list("sha", flat=True)
    )
    rows, seen = [], set(known)
    for commit in commits:
        if commit.sha in seen:
            continue
        seen.add(commit.sha)
        rows.append(
            PushedCommit(service=target, sha=commit.sha, authored_at=commit.authored_at, message=commit.message)
        )
    # ignore_conflicts: a concurrent delivery of the same push may have stored some of these meanwhile.
    PushedCommit.objects.bulk_create(rows, ignore_conflicts=True)
    _backfill_head_only_deploys(service=target, shas=[row.sha for row in rows])
    return len(rows)


def _backfill_head_only_deploys(*, service: Service, shas: Sequence[str]) -> int:
    """Deploys of these heads recorded before their push arrived (webhooks don't keep order, and a
    deploy may come first) were given the head alone, with no authored time (_shipped_commits):
    now that the push is known they get the commits they shipped, so their lead time counts.
    Returns how many deploys were filled in."""
    if not shas:
        return 0
    deploys = (
        Deploy.objects.select_for_update()
        .of_versions(service, shas)
        .select_related("environment")
        .prefetch_related("commits")
        .order_by("deployed_at", "id")  # an earlier deploy's commits are not due to a later one
    )
    filled, touched = 0, set()
    for deploy in deploys:
        commits = list(deploy.commits.all())
        if len(commits) != 1 or not _is_head_alone(commits[0], deploy):
            continue
        shipped = _shipped_commits(
            service=service, environment=deploy.environment, head_sha=deploy.version, before=deploy.deployed_at
        )
        if [(c.sha, c.authored_at, c.message) for c in shipped] == [(deploy.version, None, "")]:
            continue  # the push told nothing more (a commit with no time or message)
        DeployCommit.objects.filter(deploy=deploy).delete()
        DeployCommit.objects.bulk_create(_commit_rows(deploy, shipped))
        touched.update(c.sha for c in shipped)
        filled += 1
    commit_deliveries_refresh(shas=touched)
    return filled


def _is_head_alone(commit: DeployCommit, deploy: Deploy) -> bool:
    return commit.sha == deploy.version and commit.authored_at is None and not commit.message


def _shipped_commits(*, service: Service, environment: Environment, head_sha: str, before) -> list[CommitInput]:
    # The commits pushed up to and including the head (push order = id order) that no earlier deploy
    # of this service that went live in this environment shipped. A failed deploy shipped nothing,
    # so its retry lists the same commits and the lead time counts from the one that went live.
    head = PushedCommit.objects.filter(service=service, sha=head_sha).first()
    if head is None:
        # Not pushed yet (the push webhook comes later, or before the integration existed, or to
        # another branch): the head alone, without an authored time, so the deploy still names what
        # it shipped; a later push of it fills the rest in (_backfill_head_only_deploys).
        return [CommitInput(sha=head_sha)]
    shipped = DeployCommit.objects.filter(
        deploy__in=Deploy.objects.live().filter(service=service, environment=environment, deployed_at__lt=before)
    ).values("sha")
    pending = PushedCommit.objects.filter(service=service, id__lte=head.id).exclude(sha__in=shipped).order_by("id")
    return [CommitInput(sha=c.sha, authored_at=c.authored_at, message=c.message) for c in pending]


def deploy_record_from_hook(*, data: DeployInput, source: str, compare_url: str = "") -> tuple[Deploy, bool]:
    """Store a deploy reported by a webhook that names only its head sha (`data.version`), through
    deploy_record with the webhooks' rules (git shas, http(s) links).

    Its commits are those pushed up to that sha and not yet shipped to the environment (see
    pushed_commits_record), so lead time can be computed. `compare_url` is a template with
    `{previous}` and `{version}`: when the previous live version is a sha, it replaces
    `data.diff_url` (which should link the commit). Idempotent on `data.external_id` through
    deploy_record, also for the commits: a repeat returns the stored deploy untouched. Raises
    ValidationError as deploy_record does, also for a compare link that isn't http(s).

    `source` names where the delivery came from (the integration, e.g. "integration:7"): with
    `data.external_id` (the sender's own id of the deployment) it is the deploy's delivery key, which
    doesn't depend on the integration's service mapping. A replay after the mapping changed finds
    the deploy the first delivery made and leaves it as it is (under the service it was recorded
    with), rather than recording it a second time under the new one.
    """

    def complete(data: DeployInput, service: Service, environment: Environment) -> DeployInput:
        diff_url = data.diff_url
        # Versions from other ingest paths ("25134") are no git refs: only link a compare between shas.
        if compare_url and contract.GIT_SHA.fullmatch(data.previous_version) and data.previous_version != data.version:
            diff_url = compare_url.format(previous=data.previous_version, version=data.version)[:1000]
            contract.field_validate(name="diff_url", value=diff_url, rules=contract.HOOKS)
        # The sender's own list was held to the contract's limit; these are Opslog's, from earlier pushes.
        commits = _shipped_commits(
            service=service, environment=environment, head_sha=data.version, before=data.deployed_at
        )
        return replace(data, diff_url=diff_url, commits=commits)

    # The version is the head sha, matched against pushed commits' shas: in the same (lower) case.
    data = replace(data, version=contract.normalise_sha(data.version))
    delivery_key = f"{source}:{data.external_id}"[:250] if data.external_id else ""
    return deploy_record(data=data, rules=contract.HOOKS, complete=complete, delivery_key=delivery_key)


# What an ingest token without the "may create services" scope is told about a service Opslog
# doesn't know (the API's 400 under `service`).
UNKNOWN_SERVICE_MESSAGE = (
    'No service "{slug}" yet, and this ingest token may not create services. Check the name, make the '
    "service in the admin (Services), or post with a token that may create services."
)


@transaction.atomic
def ingest_token_create(
    *, name: str, services: Iterable[Service] = (), may_create_services: bool = False, by=None
) -> tuple[IngestToken, str]:
    """A new ingest token and its key, limited to `services` (none: any). `may_create_services`: a
    deploy of a service not known yet creates it (else it is refused). The key is returned once
    and never stored."""
    services = list(services)
    key = IngestToken.KEY_PREFIX + secrets.token_urlsafe(32)
    token = IngestToken(
        name=name,
        key_digest=key_digest(key),
        key_start=key[:12],
        created_by=by,
        # A token limited to services can't post a new one anyway (it is none of its services).
        may_create_services=may_create_services and not services,
    )
    token.full_clean()
    token.save()
    token.services.set(services)
    return token, key


def ingest_token_revoke(*, token: IngestToken) -> IngestToken:
    """Revoke: the key stops working at once; the row stays, for the record."""
    IngestToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    return token


@transaction.atomic
def api_token_create(*, user) -> tuple[ApiToken, str]:
    """A new API token for `user`, ending the one they had, and its key: returned once, never stored
    (40 hex digits, the shape DRF's tokens had)."""
    key = secrets.token_hex(20)
    ApiToken.objects.filter(user=user).delete()
    token = ApiToken.objects.create(user=user, key_digest=key_digest(key), key_start=key[:6])
    return token, key
