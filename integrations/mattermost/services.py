"""The Mattermost command's work: who is asking, filing and moving incidents from `/incident` and
the announcement's buttons, the announcement itself. Views store a request and queue a task;
tasks call here.

Every change goes through incidents.services, so the timeline, the role rules and the order rules
are the web page's. A Mattermost API error is logged and never undoes what was recorded.
"""

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.roles import RESPONDER, VIEWER, has_role, role_of
from deploys.models import Service
from incidents.models import Incident, TimelineEntry, entries_from
from incidents.services import (
    IncidentInput,
    incident_add_note,
    incident_assign_role,
    incident_create,
    incident_stamp,
    incident_update,
)
from integrations.mattermost import message
from integrations.mattermost.client import MattermostClient, MattermostError, respond
from integrations.models import MattermostIncident, MattermostRequest, MattermostServer, MattermostUser
from integrations.slack.services import parse_quick_filing, parse_time
from plumbing.queueing import publish

logger = logging.getLogger(__name__)

SOURCE = "mattermost"
TITLE_MAX = Incident._meta.get_field("title").max_length


# --- Which server is asking ----------------------------------------------------------------------


def server_for_command_token(token: str) -> MattermostServer | None:
    """The active server one of whose slash command tokens is `token`, compared in constant time
    against every configured token (Mattermost's documented check: it sends the token with
    each command)."""
    if not token:
        return None
    found = None
    for server in MattermostServer.objects.filter(is_active=True):
        try:
            tokens = server.command_tokens
        except ImproperlyConfigured:
            continue
        for candidate in tokens:
            # Every token compared, whatever matched first: the time taken says nothing.
            if hmac.compare_digest(candidate.encode(), token.encode()) and found is None:
                found = server
    return found


# --- Who is asking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    mattermost_user_id: str
    user: object | None  # the Opslog user, or None when no account matches


def mattermost_actor(server: MattermostServer, user_id: str, *, lookup: bool = True) -> Actor:
    """The Opslog user behind a Mattermost user: the stored mapping, else (with `lookup`) the one
    active Opslog account with the e-mail GET /users/{id} gives, then stored. No account, several
    with that e-mail, or an e-mail Mattermost doesn't show the bot: no user (an admin maps them)."""
    mapping = (
        MattermostUser.objects.select_related("user").filter(server=server, mattermost_user_id=user_id).first()
        if user_id
        else None
    )
    if mapping is not None:
        return Actor(user_id, mapping.user if mapping.user.is_active else None)
    if not lookup or not user_id:
        return Actor(user_id, None)
    try:
        info = MattermostClient(server).get_user(user_id)
    except MattermostError as exc:
        logger.error("Mattermost GET /users/%s failed: %s", user_id, exc)
        return Actor(user_id, None)
    email = str(info.get("email") or "").strip()
    if not email:
        return Actor(user_id, None)
    matches = list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2])
    if len(matches) != 1:
        return Actor(user_id, None)
    try:
        with transaction.atomic():
            MattermostUser.objects.create(
                server=server, mattermost_user_id=user_id, user=matches[0], source=MattermostUser.Source.EMAIL
            )
    except IntegrityError:
        pass  # mapped meanwhile (two actions at once): the same user
    return Actor(user_id, matches[0])


def refusal(actor: Actor, needed: str) -> str | None:
    """Why this person may not do it, and how to get access; None when they may."""
    base = settings.OPSLOG_BASE_URL.rstrip("/") or "Opslog"
    if actor.user is None:
        return (
            "Opslog doesn't know your Mattermost account, so nothing was changed. Ask an Opslog admin for an "
            f"account with your Mattermost e-mail address (or to map your Mattermost user to your account) at {base}."
        )
    if not has_role(actor.user, needed):
        return (
            f"This needs the {needed} role in Opslog; you are a {role_of(actor.user)}, so nothing was changed. "
            f"Ask an Opslog admin to make you a {needed}."
        )
    return None


# --- Requests: stored once, worked by a task -----------------------------------------------------


def request_key(payload: dict, body: bytes) -> str:
    """Mattermost's trigger id for the request, else a digest of the body: sent again, found again."""
    trigger = payload.get("trigger_id")
    if isinstance(trigger, str) and trigger:
        return "trigger:" + hashlib.sha256(trigger.encode()).hexdigest()
    return "body:" + hashlib.sha256(body).hexdigest()


def request_receive(
    *,
    server: MattermostServer,
    key: str,
    kind: str,
    payload: dict,
    status: str = MattermostRequest.Status.RECEIVED,
    outcome: str = "",
) -> tuple[MattermostRequest, bool]:
    """Store a request under its key; the same key again finds the first row, and only that one
    is worked. A request stored as done (answered in the request itself) queues no task."""
    try:
        with transaction.atomic():
            request = MattermostRequest.objects.create(
                server=server, key=key[:200], kind=kind[:40], payload=payload, status=status, outcome=outcome
            )
    except IntegrityError:
        return MattermostRequest.objects.get(server=server, key=key[:200]), False
    if status == MattermostRequest.Status.RECEIVED:
        transaction.on_commit(lambda: request_queue(request.pk))
    return request, True


def request_queue(request_id: int) -> None:
    from integrations import tasks

    publish(tasks.mattermost_request, request_id)


def request_process(request_id: int) -> None:
    """Work one stored request, once: concurrent tasks for it take turns on its row."""
    with transaction.atomic():
        request = MattermostRequest.objects.select_for_update().select_related("server").filter(pk=request_id).first()
        if request is None or request.status != MattermostRequest.Status.RECEIVED:
            return
        handler = {"command": _command, "action": _action}.get(request.kind)
        try:
            with transaction.atomic(), entries_from(TimelineEntry.Source.MATTERMOST):
                outcome = handler(request.server, request.payload) if handler else "not handled"
            request.status = MattermostRequest.Status.DONE
        except Exception as exc:
            logger.exception("Mattermost request %s failed", request_id)
            request.status, outcome = MattermostRequest.Status.FAILED, f"{type(exc).__name__}: {exc}"
        request.outcome = (outcome or "")[:1000]
        request.save(update_fields=["status", "outcome"])


def request_purge(*, older_than) -> int:
    """Requests received before `older_than` ago go: they only guard against a resend."""
    deleted, _ = MattermostRequest.objects.filter(received_at__lt=timezone.now() - older_than).delete()
    return deleted


def _answer_url(server: MattermostServer, url: str) -> str:
    # Only the server's own response URLs are answered: a command can't make Opslog post elsewhere.
    return url if isinstance(url, str) and url.startswith(server.url.rstrip("/") + "/") else ""


# --- /incident -----------------------------------------------------------------------------------


def open_dialog(server: MattermostServer, *, trigger_id: str, user_id: str, channel_id: str) -> str | None:
    """Open the filing dialog (a trigger id is good for seconds only). None, or the error."""
    url = message.actions_url()
    if not url:
        return "OPSLOG_BASE_URL is not set, so Mattermost can't post the form back"
    state = message.signed_state(user=user_id, channel=channel_id, nonce=trigger_id[-64:], server=server.pk)
    try:
        MattermostClient(server).open_dialog(trigger_id=trigger_id, url=url, dialog=message.file_dialog(state=state))
    except MattermostError as exc:
        logger.error("Mattermost dialogs/open failed: %s", exc)
        return exc.message
    return None


@dataclass(frozen=True)
class ChannelCommand:
    role: str
    run: Callable[[Incident, Actor, str], str]
    usage: str


def _stamp_command(stage: str):
    def run(incident: Incident, actor: Actor, rest: str) -> str:
        at = parse_time(rest)
        incident_stamp(incident=incident, stage=stage, by=actor.user, at=at)
        when = f" at {timezone.localtime(at):%H:%M}" if at else ""
        return f"Incident #{incident.pk} {stage}{when}."

    return run


def _note_command(incident: Incident, actor: Actor, rest: str) -> str:
    incident_add_note(incident=incident, text=rest, by=actor.user)
    return f"Noted on incident #{incident.pk}'s timeline."


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _severity_command(incident: Incident, actor: Actor, rest: str) -> str:
    value = _int(rest.strip().lower().removeprefix("sev"))
    if value not in Incident.Severity.values:
        raise ValidationError({"severity": ["Give a severity from 1 to 4, e.g. `/incident severity 2`."]})
    incident_update(incident=incident, changes={"severity": value}, by=actor.user)
    return f"Incident #{incident.pk} is now {Incident.Severity(value).label}."


def _role_command(role: str, label: str):
    def run(incident: Incident, actor: Actor, rest: str) -> str:
        # `@alice` names Mattermost's user alice: the handle is the name kept, without the @.
        name = rest.strip().removeprefix("@")
        if not name:
            raise ValidationError({"name": [f"Name the new {label}, e.g. `/incident {role} @alice`."]})
        incident_assign_role(incident=incident, role=role, name=name, by=actor.user)
        return f"{name} is now the {label} of incident #{incident.pk}."

    return run


def _status_command(incident: Incident, actor: Actor, rest: str) -> str:
    incident.refresh_from_db()
    text, _ = message.announcement(incident, server_id=0)
    url = message.incident_url(incident)
    return f"{text}. Lead: {incident.commander or 'no lead yet'}." + (f" {url}" if url else "")


# The words `/incident` understands in a channel linked to an incident.
CHANNEL_COMMANDS: dict[str, ChannelCommand] = {
    "ack": ChannelCommand(RESPONDER, _stamp_command("acknowledged"), "ack [14:05]"),
    "mitigated": ChannelCommand(RESPONDER, _stamp_command("mitigated"), "mitigated [14:05]"),
    "resolved": ChannelCommand(RESPONDER, _stamp_command("resolved"), "resolved [14:05]"),
    "note": ChannelCommand(RESPONDER, _note_command, "note what happened"),
    "severity": ChannelCommand(RESPONDER, _severity_command, "severity 2"),
    "lead": ChannelCommand(RESPONDER, _role_command("lead", "incident lead"), "lead @person"),
    "comms": ChannelCommand(RESPONDER, _role_command("comms", "comms lead"), "comms @person"),
    "scribe": ChannelCommand(RESPONDER, _role_command("scribe", "scribe"), "scribe @person"),
    "status": ChannelCommand(VIEWER, _status_command, "status"),
}
HERE = re.compile(r"^#?(\d+)$")


def _errors_text(exc: ValidationError) -> str:
    return " ".join(m for messages in exc.message_dict.values() for m in messages)


def linked_incident(server: MattermostServer, channel_id: str) -> Incident | None:
    if not channel_id:
        return None
    link = (
        MattermostIncident.objects.select_related("incident")
        .filter(server=server, linked_channel_id=channel_id)
        .first()
    )
    return link.incident if link else None


def link_channel(server: MattermostServer, *, incident: Incident, channel_id: str) -> None:
    """Link the channel to the incident; a channel is linked to one incident at a time."""
    MattermostIncident.objects.filter(server=server, linked_channel_id=channel_id).exclude(incident=incident).update(
        linked_channel_id=""
    )
    link, _ = MattermostIncident.objects.get_or_create(server=server, incident=incident)
    link.linked_channel_id = channel_id
    link.save(update_fields=["linked_channel_id"])


def run_command(server: MattermostServer, actor: Actor, form: dict) -> str:
    """The answer to `/incident <text>` by a known actor (a refusal, an error or what was done).
    Raises nothing for bad input: every answer is text for the person."""
    text = " ".join(str(form.get("text") or "").split())
    word, _, rest = text.partition(" ")
    word = word.lower()
    channel_id = str(form.get("channel_id") or "")
    command = form.get("command") or "/incident"
    if word == "here":
        why = refusal(actor, RESPONDER)
        if why:
            return why
        match = HERE.match(rest.strip())
        incident = Incident.objects.filter(pk=int(match.group(1))).first() if match else None
        if incident is None:
            return f"Name an existing incident, e.g. `{command} here #42`."
        link_channel(server, incident=incident, channel_id=channel_id)
        return f"This channel is now linked to incident #{incident.pk}: {incident.title}"
    if word in CHANNEL_COMMANDS:
        spec = CHANNEL_COMMANDS[word]
        why = refusal(actor, spec.role)
        if why:
            return why
        incident = linked_incident(server, channel_id)
        if incident is None:
            return f"This channel isn't linked to an incident: `{command} here #42` links it, then `{command} {word}`."
        try:
            with transaction.atomic():
                return spec.run(incident, actor, rest)
        except ValidationError as exc:
            return f"Nothing changed: {_errors_text(exc)} (usage: `{command} {spec.usage}`)"
    why = refusal(actor, RESPONDER)
    if why:
        return why
    severity, title = parse_quick_filing(text)
    if not title:
        return f"Give a title after the severity, e.g. `{command} sev2 checkout is down`."
    incident, _ = file_incident(
        server,
        actor,
        title=title[:TITLE_MAX],
        severity=severity,
        services=[],
        summary="",
        key=str(form.get("trigger_id") or ""),
        channel_id=channel_id,
    )
    return f"Filed incident #{incident.pk} ({incident.get_severity_display()}): {incident.title}"


def _command(server: MattermostServer, form: dict) -> str:
    """A slash command the request didn't answer itself: the person's e-mail is looked up here."""
    actor = mattermost_actor(server, str(form.get("user_id") or ""))
    response_url = _answer_url(server, form.get("response_url", ""))
    if not str(form.get("text") or "").strip():
        why = refusal(actor, RESPONDER)
        if why:
            respond(response_url, why)
            return "refused"
        error = open_dialog(
            server,
            trigger_id=str(form.get("trigger_id") or ""),
            user_id=actor.mattermost_user_id,
            channel_id=str(form.get("channel_id") or ""),
        )
        if error:
            respond(response_url, f"Mattermost couldn't open the form ({error}). Run {form.get('command')} again.")
        return f"dialogs/open: {error}" if error else "dialog opened"
    answer = run_command(server, actor, form)
    respond(response_url, answer)
    return answer[:200]


def file_incident(
    server: MattermostServer, actor: Actor, *, title, severity, services, summary, key: str, channel_id: str = ""
) -> tuple[Incident, bool]:
    """File through incidents.services by the mapped user, idempotent on Mattermost's id for
    the filing (the command's trigger id, the dialog's nonce): sent twice, filed once."""
    now = timezone.now()
    incident, created = incident_create(
        data=IncidentInput(
            title=title,
            started_at=now,
            severity=severity,
            services=services,
            detected_by=Incident.DetectedBy.STAFF,
            detection_source=f"Filed from Mattermost ({server.name})"[:200],
            summary=summary,
            source=SOURCE,
            external_id=f"{server.pk}:{hashlib.sha256(key.encode()).hexdigest()}",
        ),
        by=actor.user,
        now=now,
    )
    if created:
        MattermostIncident.objects.get_or_create(server=server, incident=incident)
    return incident, created


def submit_dialog(server: MattermostServer, payload: dict, state: dict) -> dict | None:
    """A submitted filing dialog, in the request (Mattermost shows errors only from its answer):
    None when filed, else {"errors": {element: message}} or {"error": message}."""
    actor = mattermost_actor(server, str(payload.get("user_id") or ""), lookup=False)
    why = refusal(actor, RESPONDER)
    if why:
        return {"error": why}
    submission = payload.get("submission")
    if not isinstance(submission, dict):
        return {"error": "The form came back empty; run the command again."}
    errors: dict[str, str] = {}
    title = " ".join(str(submission.get("title") or "").split())
    if not title:
        errors["title"] = "Say what is broken, e.g. “Checkout fails for EU cards”."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX} characters."
    severity = str(submission.get("severity") or "")
    if severity not in {str(v) for v in Incident.Severity.values}:
        errors["severity"] = "Choose a severity."
    raw = submission.get("services") or []
    slugs = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else []
    slugs = {s.strip() for s in slugs if isinstance(s, str) and s.strip()}
    services = list(Service.objects.active().filter(slug__in=slugs))
    if len(services) != len(slugs):
        errors["services"] = "One of these services is gone or archived; choose again."
    summary = submission.get("summary") or ""
    if not isinstance(summary, str):
        errors["summary"] = "Say what is happening as text."
    if errors:
        return {"errors": errors}
    try:
        file_incident(
            server,
            actor,
            title=title,
            severity=int(severity),
            services=services,
            summary=summary,
            key="dialog:" + str(state.get("nonce") or ""),
            channel_id=str(state.get("channel") or ""),
        )
    except ValidationError as exc:
        names = {"title", "severity", "services", "summary"}
        return {"errors": {(k if k in names else "title"): " ".join(v)[:150] for k, v in exc.message_dict.items()}}
    return None


# --- Buttons on the announcement -----------------------------------------------------------------


def private(server: MattermostServer, *, user_id: str, channel_id: str, text: str) -> None:
    """A private answer in the channel (an ephemeral post); a failure is logged."""
    if not user_id or not channel_id:
        return
    try:
        MattermostClient(server).ephemeral(user_id=user_id, channel_id=channel_id, message=text)
    except MattermostError as exc:
        logger.error("Mattermost ephemeral post failed: %s", exc)


def _action(server: MattermostServer, payload: dict) -> str:
    """A button pressed on the announcement (its context verified in the view)."""
    context = message.verified_context(payload.get("context")) or {}
    user_id, channel_id = str(payload.get("user_id") or ""), str(payload.get("channel_id") or "")
    stage = message.STAGES.get(context.get("action"))
    if stage is None:
        return "not an action"
    actor = mattermost_actor(server, user_id)
    why = refusal(actor, RESPONDER)
    if why:
        private(server, user_id=user_id, channel_id=channel_id, text=why)
        return "refused"
    incident = Incident.objects.filter(pk=_int(context.get("incident"))).first()
    if incident is None:
        private(server, user_id=user_id, channel_id=channel_id, text="This incident no longer exists.")
        return "no such incident"
    try:
        with transaction.atomic():
            incident_stamp(incident=incident, stage=stage, by=actor.user)
    except ValidationError as exc:
        private(server, user_id=user_id, channel_id=channel_id, text=f"Nothing changed: {_errors_text(exc)}")
        return "refused by the rules"
    text = f"Incident #{incident.pk} {stage}."
    private(server, user_id=user_id, channel_id=channel_id, text=text)
    return text


# --- The announcement ----------------------------------------------------------------------------


def announce_queue(incident_id: int) -> None:
    """Queue the announcement's update when a server is set up: on an install without Mattermost,
    one query of an empty table and nothing queued."""
    from integrations import tasks

    if MattermostServer.objects.filter(is_active=True).exists():
        publish(tasks.mattermost_announce, incident_id)


def _digest(text: str, props: dict) -> str:
    return hashlib.sha256(json.dumps([text, props], sort_keys=True).encode()).hexdigest()


def announce(incident_id: int) -> None:
    """Post the incident's announcement on each server, or update it in place (PUT posts/{id}).
    Rendered from the incident as it is now, so of several changes queued the latest wins."""
    incident = Incident.objects.prefetch_related("services").filter(pk=incident_id).first()
    if incident is None:
        return
    for server in MattermostServer.objects.filter(is_active=True):
        try:
            _announce_on(server, incident)
        except (MattermostError, ImproperlyConfigured) as exc:
            logger.error("Mattermost announcement of incident %s on %s failed: %s", incident.pk, server.name, exc)


def _announce_on(server: MattermostServer, incident: Incident) -> None:
    with transaction.atomic():
        link = MattermostIncident.objects.select_for_update().filter(server=server, incident=incident).first()
        if link is None or not link.post_id:
            # An incident first seen closed (filed after the fact, archived) isn't announced.
            if not server.announce_channel or incident.status == Incident.Status.RESOLVED or incident.is_archived:
                return
            if link is None:
                link, _ = MattermostIncident.objects.get_or_create(server=server, incident=incident)
                link = MattermostIncident.objects.select_for_update().get(pk=link.pk)
        text, props = message.announcement(incident, server_id=server.pk)
        digest = _digest(text, props)
        client = MattermostClient(server)
        if not link.post_id:
            post = client.create_post(channel_id=server.announce_channel, message=text, props=props)
            link.channel_id, link.post_id, link.posted_digest = server.announce_channel, str(post["id"]), digest
            link.save(update_fields=["channel_id", "post_id", "posted_digest"])
        elif digest != link.posted_digest:
            client.update_post(post_id=link.post_id, message=text, props=props)
            link.posted_digest = digest
            link.save(update_fields=["posted_digest"])
