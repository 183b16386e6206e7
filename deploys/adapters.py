"""GitHub and GitLab webhook senders (deployment statuses, pushes) → deploys.

Each adapter only translates the sender's payload into deploys.services calls; what it writes and
how it stays idempotent lives there. Payload shapes:
- GitHub: https://docs.github.com/en/webhooks/webhook-events-and-payloads (`deployment_status`, `push`),
  exercised with the published examples of the npm package @octokit/webhooks-examples.
- GitLab: https://docs.gitlab.com/user/project/integrations/webhook_events/ (Deployment and Push events).
"""

import re
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest

from deploys import contract, services
from deploys.contract import CommitInput, DeployInput
from deploys.models import Deploy
from plumbing.fields import is_plausible
from plumbing.webhooks import DeliveryIgnored, DeliveryRejected, Sender, SenderIntegration, hmac_sha256, register, same

_MISSING = object()
# Reading a payload: a sha the sender names must be a git sha (the webhooks' rule, deploys.contract.HOOKS).
_SHA = contract.GIT_SHA
_NOT_SLUG = re.compile(r"[^a-z0-9._-]+")


# --- Reading payloads ---------------------------------------------------------------------------


def dig(payload: object, path: str, *, required: bool = True, default=None):
    """The value at a dotted path such as "deployment.creator.login".

    A required value that is absent, null or "" raises DeliveryRejected naming the path, so the
    delivery is marked failed with a reason a person can act on (never a 500, never retried).
    """
    value, keys = payload, path.split(".")
    for depth, key in enumerate(keys):
        if value is not None and not isinstance(value, dict):
            raise DeliveryRejected(f"{'.'.join(keys[:depth]) or 'the body'} is not an object")
        value = _MISSING if value is None else value.get(key, _MISSING)
        if value is _MISSING:
            break
    if value is _MISSING or value is None or value == "":
        if required:
            raise DeliveryRejected(f"{path} is missing")
        return default
    return value


def dig_str(payload: object, path: str, *, required: bool = True, default: str = "") -> str:
    value = dig(payload, path, required=required, default=default)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DeliveryRejected(f"{path} is not a string: {value!r}"[:300])
    return str(value)


def _aware(value: datetime, path: str, raw: str) -> datetime:
    if value.tzinfo is None:
        raise DeliveryRejected(f"{path} has no time zone: {raw!r}"[:300])
    if not is_plausible(value):
        # Also keeps year-1 and year-9999 times, which overflow once converted to UTC, out.
        raise DeliveryRejected(f"{path} is not between 1970 and 2999: {raw!r}"[:300])
    return value


def parse_iso(payload: object, path: str) -> datetime:
    """An ISO 8601 time with a zone (GitHub's `2019-05-15T15:20:55Z`, GitLab's commit timestamps)."""
    raw = dig_str(payload, path)
    try:
        return _aware(datetime.fromisoformat(raw), path, raw)
    except ValueError:
        raise DeliveryRejected(f"{path} is not an ISO 8601 time: {raw!r}"[:300]) from None


def parse_gitlab_time(payload: object, path: str) -> datetime:
    """GitLab's own format, `2021-04-28 21:50:00 +0200` (some events say `UTC` instead of an offset)."""
    raw = dig_str(payload, path)
    for layout in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %Z"):
        try:
            parsed = datetime.strptime(raw, layout)
        except ValueError:
            continue
        if parsed.tzinfo is None and raw.endswith(" UTC"):
            parsed = parsed.replace(tzinfo=UTC)  # strptime's %Z parses the name, sets no zone
        return _aware(parsed, path, raw)
    raise DeliveryRejected(f"{path} is not a GitLab time like '2021-04-28 21:50:00 +0200': {raw!r}"[:300])


def slug_from(name: str) -> str:
    """A sender's name for something (`Hello-World`, `My Project`) as an Opslog slug (`hello-world`)."""
    return _NOT_SLUG.sub("-", name.strip().lower()).strip("-._")[:100]


def service_slug(integration: SenderIntegration, full_name: str, name: str, *, what: str) -> str:
    """The integration's mapping of the full name wins; unmapped, the project's own short name."""
    mapped = integration.map_service(full_name)
    if mapped != full_name:
        if not isinstance(mapped, str) or slug_from(mapped) != mapped:
            # A typo in the admin's mapping: refuse rather than invent a service; fixing the mapping
            # and replaying the delivery records it.
            raise DeliveryRejected(
                f"the service mapping sends {full_name!r} to {mapped!r}, which is not a service slug"
            )
        return mapped
    slug = slug_from(name)
    if not slug:
        raise DeliveryRejected(f"{what} {name!r} gives no usable service slug")
    return slug


def environment_slug(payload: dict, path: str) -> str:
    name = dig_str(payload, path)
    slug = slug_from(name)
    if not slug:
        raise DeliveryRejected(f"{path} {name!r} gives no usable environment slug")
    return slug


def _one_line(value: str, limit: int = 200) -> str:
    # Deployer and version end up in chat lines and email headers (single_line_validator).
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value).strip()[:limit]


def _commits(payload: dict, path: str = "commits") -> list[CommitInput]:
    commits = dig(payload, path, required=False, default=[])
    if not isinstance(commits, list):
        raise DeliveryRejected(f"{path} is not a list")
    result = []
    for index, commit in enumerate(commits):
        where = f"{path}[{index}]"
        if not isinstance(commit, dict):
            raise DeliveryRejected(f"{where} is not an object")
        result.append(
            CommitInput(
                sha=_commit_sha(commit, where),
                authored_at=_commit_time(commit, where),
                message=commit.get("message") if isinstance(commit.get("message"), str) else "",
            )
        )
    return result


def _commit_time(commit: dict, where: str) -> datetime | None:
    if not commit.get("timestamp"):
        return None  # no authored time: the commit is kept, it just gives no lead time
    try:
        return parse_iso(commit, "timestamp")
    except DeliveryRejected as exc:
        raise DeliveryRejected(f"{where}.{exc}") from None


def _commit_sha(commit: dict, where: str) -> str:
    sha = commit.get("id")
    if not isinstance(sha, str) or not sha:
        raise DeliveryRejected(f"{where}.id is missing")
    sha = contract.normalise_sha(sha)
    if not _SHA.fullmatch(sha):
        raise DeliveryRejected(f"{where}.id is not a commit sha: {sha!r}"[:300])
    return sha


def _record_push(delivery, payload: dict, default_branch_path: str, service_of) -> str:
    """A push (GitHub's or GitLab's, same shape): its commits, when it is to the default branch."""
    ref = dig_str(payload, "ref")
    default_branch = dig_str(payload, default_branch_path)
    if ref != f"refs/heads/{default_branch}":
        raise DeliveryIgnored(f"push to {ref}, not the default branch")
    service = service_of(delivery.integration, payload)
    try:
        added = services.pushed_commits_record(service=service, commits=_commits(payload))
    except ValidationError as exc:
        raise DeliveryRejected(f"The push's {contract.describe(exc)}"[:1000]) from None
    return f"{added} new commit(s) of {service} recorded"


def record_deploy(delivery, data: DeployInput, *, compare_url: str = "") -> str:
    """Store a deploy an adapter read; the deploy contract's refusal becomes a failed delivery with
    the reason (never retried). The deploy's key is the integration's and the sender's id, not the
    mapped service: a replay after the mapping changed says where the deploy already is."""
    try:
        deploy, created = services.deploy_record_from_hook(
            data=data, source=f"integration:{delivery.integration.pk}", compare_url=compare_url
        )
    except ValidationError as exc:
        raise DeliveryRejected(f"The deploy's {contract.describe(exc)}"[:1000]) from None
    if created:
        return f"deploy {deploy.pk} created"
    recorded_under = deploy.service.slug
    if recorded_under != data.service:
        return (
            f"deploy {deploy.pk} already recorded, under service {recorded_under}; the mapping now gives "
            f"{data.service}, and a replay doesn't move a deploy (change its service in the admin)"
        )
    return f"deploy {deploy.pk} already recorded"


# --- GitHub -------------------------------------------------------------------------------------

GITHUB_STATUSES = {"success": Deploy.Status.SUCCEEDED, "failure": Deploy.Status.FAILED, "error": Deploy.Status.FAILED}


def github_verify(request: HttpRequest, body: bytes, secret: str) -> bool:
    given = request.headers.get("X-Hub-Signature-256", "")
    # An integration saved without a secret must not accept every unsigned request.
    if not secret or not given.startswith("sha256="):
        return False
    return same(given.removeprefix("sha256="), hmac_sha256(secret, body))


def github_identify(request: HttpRequest, body: bytes) -> tuple[str, str]:
    return request.headers.get("X-GitHub-Event", ""), request.headers.get("X-GitHub-Delivery", "")


def _github_service(integration: SenderIntegration, payload: dict) -> str:
    full_name = dig_str(payload, "repository.full_name")
    return service_slug(integration, full_name, dig_str(payload, "repository.name"), what="repository")


def github_deployment_status(delivery, payload: dict) -> str:
    state = dig_str(payload, "deployment_status.state")
    status = GITHUB_STATUSES.get(state)
    if status is None:
        raise DeliveryIgnored(f"deployment status {state!r} is recorded and ignored")
    sha = contract.normalise_sha(dig_str(payload, "deployment.sha"))
    if not _SHA.fullmatch(sha):
        raise DeliveryRejected(f"deployment.sha is not a commit sha: {sha!r}"[:300])
    # Whoever created the deployment deployed; its statuses are often posted by a CI bot, which
    # would make every deploy the bot's and the distinct-deployers figure one.
    deployer = dig_str(payload, "deployment.creator.login", required=False) or dig_str(
        payload, "deployment_status.creator.login", required=False
    )
    if not deployer:
        raise DeliveryRejected("deployment.creator.login is missing (and so is deployment_status.creator.login)")
    if dig(payload, "deployment_status.updated_at", required=False):
        deployed_at = parse_iso(payload, "deployment_status.updated_at")
    else:
        deployed_at = parse_iso(payload, "deployment_status.created_at")
    html_url = dig_str(payload, "repository.html_url", required=False).rstrip("/")
    data = DeployInput(
        service=_github_service(delivery.integration, payload),
        environment=environment_slug(payload, "deployment.environment"),
        version=sha,
        deployer=_one_line(deployer),
        deployed_at=deployed_at,
        message=dig_str(payload, "deployment.description", required=False)
        or dig_str(payload, "deployment_status.description", required=False),
        status=status,
        diff_url=f"{html_url}/commit/{sha}" if html_url else "",
        external_id=f"github-deployment-status:{dig_str(payload, 'deployment_status.id')}",
    )
    return record_deploy(
        delivery, data, compare_url=f"{html_url}/compare/{{previous}}...{{version}}" if html_url else ""
    )


def github_push(delivery, payload: dict) -> str:
    return _record_push(delivery, payload, "repository.default_branch", _github_service)


def github_process(delivery, payload: object) -> str:
    if not isinstance(payload, dict):
        raise DeliveryRejected("the body is not a JSON object")
    event = delivery.event
    if event == "deployment_status":
        return github_deployment_status(delivery, payload)
    if event == "push":
        return github_push(delivery, payload)
    if event == "ping":
        raise DeliveryIgnored("ping")
    raise DeliveryIgnored(f"event {event!r} is not used by Opslog" if event else "no X-GitHub-Event header")


GITHUB = register(
    Sender(
        kind="github",
        verify=github_verify,
        identify=github_identify,
        process=github_process,
        secret_headers=frozenset({"x-hub-signature", "x-hub-signature-256"}),
    )
)


# --- GitLab -------------------------------------------------------------------------------------

GITLAB_STATUSES = {"success": Deploy.Status.SUCCEEDED, "failed": Deploy.Status.FAILED}


def gitlab_verify(request: HttpRequest, body: bytes, secret: str) -> bool:
    given = request.headers.get("X-Gitlab-Token", "")
    if not secret or not given:
        return False
    return same(given, secret)


def gitlab_identify(request: HttpRequest, body: bytes) -> tuple[str, str]:
    # Idempotency-Key (GitLab 17.4+) is the one GitLab keeps the same when it retries a delivery;
    # X-Gitlab-Event-UUID is there on older versions.
    delivery_id = request.headers.get("Idempotency-Key") or request.headers.get("X-Gitlab-Event-UUID") or ""
    return request.headers.get("X-Gitlab-Event", ""), delivery_id


def _gitlab_service(integration: SenderIntegration, payload: dict) -> str:
    full_name = dig_str(payload, "project.path_with_namespace")
    return service_slug(integration, full_name, dig_str(payload, "project.name"), what="project")


def _gitlab_version(payload: dict) -> str:
    # Only the short sha is a field; the full one is the last segment of commit_url
    # (".../-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468").
    commit_url = dig_str(payload, "commit_url", required=False)
    full = contract.normalise_sha(commit_url.rstrip("/").rsplit("/", 1)[-1]) if commit_url else ""
    if _SHA.fullmatch(full):
        return full
    short = contract.normalise_sha(dig_str(payload, "short_sha"))
    if not _SHA.fullmatch(short):
        raise DeliveryRejected(f"short_sha is not a commit sha: {short!r}"[:300])
    return short


def gitlab_deployment(delivery, payload: dict) -> str:
    state = dig_str(payload, "status")
    if state == "canceled":
        raise DeliveryIgnored("deployment canceled: nothing went live")
    status = GITLAB_STATUSES.get(state)
    if status is None:
        raise DeliveryIgnored(f"deployment status {state!r} is recorded and ignored")
    version = _gitlab_version(payload)
    web_url = dig_str(payload, "project.web_url", required=False).rstrip("/")
    data = DeployInput(
        service=_gitlab_service(delivery.integration, payload),
        environment=environment_slug(payload, "environment"),
        version=version,
        deployer=_one_line(dig_str(payload, "user.username")),
        deployed_at=parse_gitlab_time(payload, "status_changed_at"),
        message=dig_str(payload, "commit_title", required=False),
        status=status,
        diff_url=dig_str(payload, "commit_url", required=False)[:1000],
        external_id=f"gitlab-deployment:{dig_str(payload, 'deployment_id')}:{state}",
    )
    return record_deploy(
        delivery, data, compare_url=f"{web_url}/-/compare/{{previous}}...{{version}}" if web_url else ""
    )


def gitlab_push(delivery, payload: dict) -> str:
    return _record_push(delivery, payload, "project.default_branch", _gitlab_service)


def gitlab_process(delivery, payload: object) -> str:
    if not isinstance(payload, dict):
        raise DeliveryRejected("the body is not a JSON object")
    # object_kind is in every GitLab payload; the X-Gitlab-Event header names the same thing.
    kind = payload.get("object_kind") or delivery.event
    if kind in ("deployment", "Deployment Hook"):
        return gitlab_deployment(delivery, payload)
    if kind in ("push", "Push Hook"):
        return gitlab_push(delivery, payload)
    raise DeliveryIgnored(f"event {kind!r} is not used by Opslog" if kind else "no object_kind in the body")


GITLAB = register(
    Sender(
        kind="gitlab",
        verify=gitlab_verify,
        identify=gitlab_identify,
        process=gitlab_process,
        secret_headers=frozenset({"x-gitlab-token"}),
    )
)
