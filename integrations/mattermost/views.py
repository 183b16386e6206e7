"""Mattermost's two request URLs: the slash command, and what buttons and dialogs post back.

No login and no CSRF token. The slash command proves itself the way Mattermost documents: the
command's token, sent with each request, compared in constant time with the tokens configured; a
wrong one is a 401 and nothing is stored. Buttons and dialogs carry no token of Mattermost's, so
Opslog signs what it puts in them (the button's context, the dialog's state) and refuses, with a
401, anything whose signature doesn't match.

Each request is answered at once: it is stored under Mattermost's trigger id (or a digest of the
body), so the same request sent again finds it and does nothing more, and a Celery task does the
work and answers through the command's response_url or a private (ephemeral) post. The exceptions
are opening the dialog (a trigger id expires within seconds) and a dialog's submission, whose
errors Mattermost only takes as the answer to that request: both touch only the database (and
dialogs/open), and only for a user already mapped.
"""

from urllib.parse import parse_qsl

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.roles import RESPONDER
from incidents.models import TimelineEntry, entries_from
from integrations.mattermost import message, services
from integrations.models import MattermostRequest, MattermostServer
from plumbing import jsoninput


def _error(status: int, message_text: str) -> JsonResponse:
    return JsonResponse({"detail": message_text}, status=status)


def _ephemeral(text: str) -> JsonResponse:
    return JsonResponse({"response_type": "ephemeral", "text": text})


def _read(request) -> tuple[bytes, str, JsonResponse | None]:
    """The body as bytes and as text, or an error response."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    limit = settings.OPSLOG_WEBHOOK_MAX_BYTES
    if not length.isdigit() or int(length) > limit:
        return b"", "", _error(413, f"The body is over {limit} bytes.")
    body = request.read(limit + 1)
    if len(body) > limit:
        return b"", "", _error(413, f"The body is over {limit} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return b"", "", _error(400, "The body is not UTF-8 text.")
    if "\x00" in text:
        return b"", "", _error(400, "The body has a NUL character, which Mattermost never sends.")
    return body, text, None


@csrf_exempt
@login_not_required
@require_POST
def command(request):
    body, text, error = _read(request)
    if error:
        return error
    form = dict(parse_qsl(text, keep_blank_values=True))
    token = form.get("token") or request.headers.get("Authorization", "").removeprefix("Token ").strip()
    server = services.server_for_command_token(token)
    if server is None:
        return _error(401, "The slash command's token is missing or isn't one configured in Opslog.")
    if not form.get("user_id"):
        return _error(400, "A slash command needs user_id.")
    key = services.request_key(form, body)
    if not form.get("text", "").strip():
        actor = services.mattermost_actor(server, form["user_id"], lookup=False)
        if actor.user is not None:
            why = services.refusal(actor, RESPONDER)
            if why:
                return _ephemeral(why)
            # Marked done when stored: the dialog opens here, and a resend must not open a second.
            _, created = services.request_receive(
                server=server, key=key, kind="command", payload=form, status=MattermostRequest.Status.DONE
            )
            if created:
                failed = services.open_dialog(
                    server,
                    trigger_id=form.get("trigger_id", ""),
                    user_id=form["user_id"],
                    channel_id=form.get("channel_id", ""),
                )
                if failed:
                    return _ephemeral(f"Mattermost couldn't open the form ({failed}); try again.")
            return _ephemeral("")
    # Unmapped (the e-mail lookup is an API call) or with text: the task does it.
    services.request_receive(server=server, key=key, kind="command", payload=form)
    return _ephemeral("")


def _json(text: str) -> dict | None:
    try:
        value = jsoninput.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or "\\u0000" in text:
        return None
    return value


def _server(pk) -> MattermostServer | None:
    return MattermostServer.objects.filter(pk=pk, is_active=True).first() if isinstance(pk, int) else None


@csrf_exempt
@login_not_required
@require_POST
def actions(request):
    body, text, error = _read(request)
    if error:
        return error
    payload = _json(text)
    if payload is None:
        return _error(400, "Mattermost posts a JSON object for a button or a dialog.")
    user_id = payload.get("user_id")
    if payload.get("type") == "dialog_submission":
        state = message.verified_state(payload.get("state"))
        server = _server((state or {}).get("server"))
        if state is None or server is None or state.get("user") != user_id:
            return _error(401, "The dialog's state isn't one Opslog signed for this person.")
        if payload.get("cancelled"):
            return JsonResponse({})
        key = f"dialog:{state.get('nonce')}"
        _, created = services.request_receive(
            server=server, key=key, kind="dialog", payload=payload, status=MattermostRequest.Status.DONE
        )
        if not created:
            return JsonResponse({})
        with entries_from(TimelineEntry.Source.MATTERMOST):
            answer = services.submit_dialog(server, payload, state)
        if answer is not None:
            # Not done: the person corrects the form and submits it again, with the same state.
            MattermostRequest.objects.filter(server=server, key=key).delete()
            return JsonResponse(answer)
        return JsonResponse({})
    context = message.verified_context(payload.get("context"))
    server = _server((context or {}).get("server"))
    if context is None or server is None:
        return _error(401, "The button's context isn't one Opslog signed.")
    if not isinstance(user_id, str) or not user_id:
        return _error(400, "A button's post needs user_id.")
    actor = services.mattermost_actor(server, user_id, lookup=False)
    why = services.refusal(actor, RESPONDER) if actor.user is not None else None
    if why:
        services.request_receive(
            server=server,
            key=services.request_key(payload, body),
            kind="action",
            payload=payload,
            status=MattermostRequest.Status.DONE,
            outcome="refused",
        )
        return JsonResponse({"ephemeral_text": why})
    services.request_receive(server=server, key=services.request_key(payload, body), kind="action", payload=payload)
    return JsonResponse({})
