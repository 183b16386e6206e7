"""A remediation's "Create issue" and "Link existing issue" (buttons on the post-mortem page), and
the trackers' webhooks that bring an issue's status back.

The webhooks have their own addresses, one per connection (/hooks/github-issues/<id>/,
/hooks/jira/<id>/): they are signed with the connection's own webhook secret, where /hooks/github/
is signed with a deploy integration's and handled by the deploys app, which knows nothing of
remediations. No login and no CSRF token: the tracker proves itself with its signature.
"""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.roles import RESPONDER, role_required
from integrations.models import TrackerConnection
from integrations.trackers import services
from plumbing import jsoninput
from plumbing.webhooks import hmac_sha256, same
from postmortems.models import Remediation

logger = logging.getLogger(__name__)


def _back(remediation: Remediation):
    return redirect(f"{remediation.postmortem.get_absolute_url()}#remediation-{remediation.pk}")


def _connection(request) -> TrackerConnection | None:
    raw = request.POST.get("connection", "")
    connections = services.active_connections()
    if raw.isdigit():
        return connections.filter(pk=int(raw)).first()
    # One connection: the form needs no choice.
    only = list(connections[:2])
    return only[0] if len(only) == 1 else None


def _first_error(exc: ValidationError) -> str:
    return next(iter(m for ms in exc.message_dict.values() for m in ms), "That can't be done.")


@require_POST
@role_required(RESPONDER)
def issue_create(request, pk: int):
    remediation = get_object_or_404(Remediation.objects.select_related("postmortem__incident"), pk=pk)
    connection = _connection(request)
    if connection is None:
        messages.error(request, "Choose a tracker: there is no such active tracker connection.")
        return _back(remediation)
    try:
        link, created = services.tracker_issue_request(remediation=remediation, connection=connection)
    except ValidationError as exc:
        messages.error(request, _first_error(exc))
        return _back(remediation)
    link.refresh_from_db()
    if not created:
        messages.info(
            request, f"This remediation already has an issue ({link.display_key or link.get_state_display().lower()})."
        )
    elif link.state == link.State.LINKED:
        messages.success(request, f"Created {link.display_key} in {connection.where}.")
    elif link.state == link.State.FAILED:
        messages.error(request, f"No issue was created: {link.last_error}")
    else:
        messages.success(request, f"Creating the issue in {connection.where}…")
    return _back(remediation)


@require_POST
@role_required(RESPONDER)
def issue_link(request, pk: int):
    remediation = get_object_or_404(Remediation.objects.select_related("postmortem__incident"), pk=pk)
    connection = _connection(request)
    if connection is None:
        messages.error(request, "Choose a tracker: there is no such active tracker connection.")
        return _back(remediation)
    try:
        link = services.tracker_link_existing(
            remediation=remediation, connection=connection, ref=request.POST.get("ref", "")
        )
    except ValidationError as exc:
        messages.error(request, f"Not linked: {_first_error(exc)}")
        return _back(remediation)
    messages.success(request, f"Linked {link.display_key}.")
    return _back(remediation)


# --- webhooks --------------------------------------------------------------------------------------


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _read_signed(request, pk: int, kind: str, header: str):
    """(connection, payload) or an error response: the body within OPSLOG_WEBHOOK_MAX_BYTES, signed
    `sha256=<hex HMAC of the body>` in `header` with the connection's secret (constant-time), JSON."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > settings.OPSLOG_WEBHOOK_MAX_BYTES:
        return None, _error(413, f"The body is over {settings.OPSLOG_WEBHOOK_MAX_BYTES} bytes.")
    body = request.read(settings.OPSLOG_WEBHOOK_MAX_BYTES + 1)
    if len(body) > settings.OPSLOG_WEBHOOK_MAX_BYTES:
        return None, _error(413, f"The body is over {settings.OPSLOG_WEBHOOK_MAX_BYTES} bytes.")
    connection = TrackerConnection.objects.filter(pk=pk, kind=kind, is_active=True).first()
    given = request.headers.get(header, "")
    try:
        secret = connection.webhook_secret if connection else ""
    except ImproperlyConfigured:
        logger.error("tracker connection %s: its webhook secret can't be decrypted; set it again", pk)
        secret = ""
    # The same answer for an unknown connection and a bad signature: nothing to probe ids with.
    if (
        not secret
        or not given.startswith("sha256=")
        or not same(given.removeprefix("sha256="), hmac_sha256(secret, body))
    ):
        return None, _error(401, f"The {header} signature is missing or does not match.")
    try:
        payload = jsoninput.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return None, _error(400, "The body is not UTF-8 text.")
    except jsoninput.JSONInputError as exc:
        return None, _error(400, f"The body is refused: {exc}")
    except ValueError as exc:
        return None, _error(400, f"The body is not valid JSON: {exc}"[:300])
    if not isinstance(payload, dict):
        return None, _error(400, "The body is not a JSON object.")
    return (connection, payload), None


def _ok(outcome: str) -> JsonResponse:
    return JsonResponse({"outcome": jsoninput.printable(outcome)}, status=200)


@csrf_exempt
@login_not_required
@require_POST
def github_issues_hook(request, pk: int):
    read, error = _read_signed(request, pk, TrackerConnection.Kind.GITHUB, "X-Hub-Signature-256")
    if error:
        return error
    connection, payload = read
    event = request.headers.get("X-GitHub-Event", "")
    if event == "ping":
        return _ok("pong")
    action = payload.get("action")
    if event != "issues" or action not in ("closed", "reopened"):
        return _ok(f"event {event!r} {action!r} is not used: ignored")
    issue = payload.get("issue")
    repo = (payload.get("repository") or {}).get("full_name") if isinstance(payload.get("repository"), dict) else None
    if not isinstance(issue, dict) or not isinstance(issue.get("number"), int) or isinstance(issue.get("number"), bool):
        return _error(400, "issue.number is missing or not a number.")
    if not isinstance(repo, str) or repo.lower() != connection.repository.lower():
        return _ok(f"repository {str(repo)[:100]!r} is not this connection's: ignored")
    if action == "closed" and issue.get("state_reason") == "not_planned":
        return _ok("closed as not planned: the remediation is left as it is (mark it won't do with a reason)")
    outcome = services.tracker_issue_status(
        connection=connection, issue_key=str(issue["number"]), done=action == "closed", words=action
    )
    return _ok(outcome)


@csrf_exempt
@login_not_required
@require_POST
def jira_hook(request, pk: int):
    read, error = _read_signed(request, pk, TrackerConnection.Kind.JIRA, "X-Hub-Signature")
    if error:
        return error
    connection, payload = read
    event = payload.get("webhookEvent")
    if event != "jira:issue_updated":
        return _ok(f"event {str(event)[:100]!r} is not used: ignored")
    issue = payload.get("issue")
    key = issue.get("key") if isinstance(issue, dict) else None
    if not isinstance(key, str) or not key:
        return _error(400, "issue.key is missing.")
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    category = status.get("statusCategory") if isinstance(status.get("statusCategory"), dict) else {}
    category_key = category.get("key")
    if not isinstance(category_key, str):
        return _error(400, "issue.fields.status.statusCategory.key is missing.")
    name = status.get("name") if isinstance(status.get("name"), str) else category_key
    outcome = services.tracker_issue_status(
        connection=connection, issue_key=key[:100], done=category_key == "done", words=f"moved to {name[:100]}"
    )
    return _ok(outcome)
