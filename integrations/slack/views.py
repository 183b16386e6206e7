"""Slack's three request URLs: slash commands, interactivity (buttons, modals) and the Events API.

No login and no CSRF token: Slack proves itself by signing each request with the app's signing
secret (checked in constant time, within 5 minutes of its timestamp); a bad or stale signature is a
401 and nothing is stored. Each request is answered at once: it is stored under Slack's own id
(event id, trigger id), so a retry finds it and does nothing more, and a Celery task does the work
and answers through the response_url or the Web API. The exceptions are views.open (a trigger id
expires 3 seconds after the click, sooner than a busy queue might start a task) and a modal's
submission, whose errors Slack only takes as the answer to that request: both touch only the
database (and views.open), and only for a user already mapped.
"""

from urllib.parse import parse_qsl

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.signature import SignatureVerifier

from config.roles import RESPONDER
from incidents.models import Incident, TimelineEntry, entries_from
from integrations.models import SlackRequest, SlackWorkspace
from integrations.slack import blocks, services
from plumbing import jsoninput


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _signed(request, body: bytes) -> SlackWorkspace | None:
    headers = {
        "x-slack-request-timestamp": request.headers.get("X-Slack-Request-Timestamp"),
        "x-slack-signature": request.headers.get("X-Slack-Signature"),
    }
    timestamp = headers["x-slack-request-timestamp"] or ""
    if not timestamp.isdigit() or not headers["x-slack-signature"]:
        return None
    for workspace in SlackWorkspace.objects.filter(is_active=True):
        try:
            secret = workspace.signing_secret
        except ImproperlyConfigured:
            continue
        if SignatureVerifier(secret).is_valid(body=body, timestamp=timestamp, signature=headers["x-slack-signature"]):
            return workspace
    return None


def _read(request) -> tuple[SlackWorkspace | None, str, JsonResponse | None]:
    """The signing workspace and the body as text, or an error response."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    limit = settings.OPSLOG_WEBHOOK_MAX_BYTES
    if not length.isdigit() or int(length) > limit:
        return None, "", _error(413, f"The body is over {limit} bytes.")
    body = request.read(limit + 1)
    if len(body) > limit:
        return None, "", _error(413, f"The body is over {limit} bytes.")
    workspace = _signed(request, body)
    if workspace is None:
        return None, "", _error(401, "The Slack signature is missing, stale (over 5 minutes) or doesn't match.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, "", _error(400, "The body is not UTF-8 text.")
    if "\x00" in text:
        return None, "", _error(400, "The body has a NUL character, which Slack never sends.")
    return workspace, text, None


def _json(text: str) -> dict | None:
    try:
        value = jsoninput.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or "\\u0000" in text:
        return None
    return value


def _ephemeral(text: str) -> JsonResponse:
    return JsonResponse({"response_type": "ephemeral", "text": text})


def _open_now(workspace: SlackWorkspace, trigger_id: str, kind: str, payload: dict, view: dict) -> HttpResponse:
    # Marked done when stored: the modal is opened here, and a redelivery must not open a second one.
    _, created = services.request_receive(
        workspace=workspace, key=trigger_id, kind=kind, payload=payload, status=SlackRequest.Status.DONE
    )
    if created:
        error = services.open_modal(workspace, trigger_id, view)
        if error:
            return _ephemeral(f"Slack couldn't open the form ({error}); try again.")
    return HttpResponse(status=200)


@csrf_exempt
@login_not_required
@require_POST
def commands(request):
    workspace, text, error = _read(request)
    if error:
        return error
    form = dict(parse_qsl(text, keep_blank_values=True))
    trigger_id = form.get("trigger_id", "")
    if not trigger_id or not form.get("user_id"):
        return _error(400, "A slash command needs trigger_id and user_id.")
    if not form.get("text", "").strip():
        actor = services.slack_actor(workspace, form["user_id"], lookup=False)
        if actor.user is not None:
            why = services.refusal(actor, RESPONDER)
            if why:
                return _ephemeral(why)
            return _open_now(
                workspace, trigger_id, "command", form, blocks.file_modal(channel_id=form.get("channel_id", ""))
            )
    # Unmapped (an e-mail lookup is a Web API call) or with text: the task does it.
    services.request_receive(workspace=workspace, key=trigger_id, kind="command", payload=form)
    return HttpResponse(status=200)


@csrf_exempt
@login_not_required
@require_POST
def interactivity(request):
    workspace, text, error = _read(request)
    if error:
        return error
    payload = _json(dict(parse_qsl(text, keep_blank_values=True)).get("payload", ""))
    if payload is None:
        return _error(400, "Slack's interactivity requests carry a JSON object in the `payload` field.")
    kind = payload.get("type")
    trigger_id = str(payload.get("trigger_id") or "")
    user_id = str((payload.get("user") or {}).get("id") or "")
    if kind == "view_submission":
        view = payload.get("view") or {}
        _, created = services.request_receive(
            workspace=workspace,
            key=f"view_submission:{trigger_id}",
            kind="view_submission",
            payload=payload,
            status=SlackRequest.Status.DONE,
        )
        if not created:
            return HttpResponse(status=200)
        submit = {blocks.FILE_VIEW: services.submit_filing, blocks.NOTE_VIEW: services.submit_note}.get(
            view.get("callback_id")
        )
        with entries_from(TimelineEntry.Source.SLACK):
            answer = submit(workspace, payload) if submit else None
        if answer is not None:
            # Not done: the person corrects the form and submits it again under a new trigger id.
            SlackRequest.objects.filter(workspace=workspace, key=f"view_submission:{trigger_id}").delete()
            return JsonResponse(answer)
        return HttpResponse(status=200)
    if kind != "block_actions" or not trigger_id:
        return HttpResponse(status=200)
    note = next((a for a in payload.get("actions") or [] if a.get("action_id") == blocks.NOTE), None)
    if note is not None:
        actor = services.slack_actor(workspace, user_id, lookup=False)
        incident = Incident.objects.filter(pk=services._int(note.get("value"))).first()
        if actor.user is not None and incident is not None and not services.refusal(actor, RESPONDER):
            return _open_now(workspace, trigger_id, "block_actions", payload, blocks.note_modal(incident))
    services.request_receive(workspace=workspace, key=trigger_id, kind="block_actions", payload=payload)
    return HttpResponse(status=200)


@csrf_exempt
@login_not_required
@require_POST
def events(request):
    workspace, text, error = _read(request)
    if error:
        return error
    payload = _json(text)
    if payload is None:
        return _error(400, "The Events API sends a JSON object.")
    if payload.get("type") == "url_verification":
        return JsonResponse({"challenge": str(payload.get("challenge", ""))})
    if payload.get("type") != "event_callback" or not payload.get("event_id"):
        return HttpResponse(status=200)
    # A retry (X-Slack-Retry-Num) carries the same event id: it finds the stored row.
    services.request_receive(workspace=workspace, key=str(payload["event_id"]), kind="event", payload=payload)
    return HttpResponse(status=200)
