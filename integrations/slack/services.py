"""The Slack app's work: who is asking, filing and moving incidents, the announcement, the
incident channel's commands and pins. Views store a request and queue a task; tasks call here.

Every change goes through incidents.services, so the timeline, the role rules and the order rules
are the web page's. A Slack API error is logged and never undoes what was recorded.
"""

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from slack_sdk.errors import SlackApiError

from config.roles import RESPONDER, VIEWER, has_role, role_of
from deploys.models import Deploy, Service
from incidents.models import Incident, IncidentDeploy, TimelineEntry, entries_from
from incidents.selectors import suspect_deploys
from incidents.services import (
    IncidentInput,
    handover_text,
    incident_add_note,
    incident_assign_role,
    incident_create,
    incident_link_deploy,
    incident_remove_note,
    incident_stamp,
    incident_update,
)
from integrations.models import SlackIncident, SlackPin, SlackRequest, SlackUser, SlackWorkspace
from integrations.slack import blocks
from integrations.slack.client import respond, web_client
from integrations.slack.deploys import flag_suspects, mark_linked
from plumbing.queueing import publish

logger = logging.getLogger(__name__)

SOURCE = "slack"


# --- Who is asking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    slack_user_id: str
    user: object | None  # the Opslog user, or None when no account matches
    name: str = ""  # the Slack display name, when it was looked up


def slack_actor(workspace: SlackWorkspace, slack_user_id: str, *, lookup: bool = True) -> Actor:
    """The Opslog user behind a Slack user: the stored mapping, else (with `lookup`) the active
    Opslog account with the e-mail `users.info` gives, then stored so the next action needs no
    call. No account, or several with that e-mail: no user (an admin maps them explicitly)."""
    mapping = SlackUser.objects.select_related("user").filter(workspace=workspace, slack_user_id=slack_user_id).first()
    if mapping is not None:
        return Actor(slack_user_id, mapping.user if mapping.user.is_active else None)
    if not lookup or not slack_user_id:
        return Actor(slack_user_id, None)
    try:
        info = web_client(workspace).users_info(user=slack_user_id)
    except SlackApiError as exc:
        logger.error("Slack users.info %s failed: %s", slack_user_id, exc.response.get("error"))
        return Actor(slack_user_id, None)
    profile = (info.get("user") or {}).get("profile") or {}
    name = _slack_name(info)
    email = (profile.get("email") or "").strip()
    if not email:
        return Actor(slack_user_id, None, name)
    matches = list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2])
    if len(matches) != 1:
        return Actor(slack_user_id, None, name)
    try:
        with transaction.atomic():
            SlackUser.objects.create(
                workspace=workspace, slack_user_id=slack_user_id, user=matches[0], source=SlackUser.Source.EMAIL
            )
    except IntegrityError:
        pass  # mapped meanwhile (two actions at once): the same user
    return Actor(slack_user_id, matches[0], name)


def _slack_name(info) -> str:
    """The name Slack shows for a person, from a users.info answer: display name, else real name."""
    user = info.get("user") or {}
    profile = user.get("profile") or {}
    return (profile.get("display_name") or profile.get("real_name") or user.get("name") or "").strip()


def refusal(actor: Actor, needed: str) -> str | None:
    """Why this person may not do it, and how to get access; None when they may."""
    base = settings.OPSLOG_BASE_URL.rstrip("/") or "Opslog"
    if actor.user is None:
        return (
            "Opslog doesn't know your Slack account, so nothing was changed. Ask an Opslog admin for an "
            f"account with your Slack e-mail address (or to map your Slack user to your account) at {base}."
        )
    if not has_role(actor.user, needed):
        return (
            f"This needs the {needed} role in Opslog; you are a {role_of(actor.user)}, so nothing was changed. "
            f"Ask an Opslog admin to make you a {needed}."
        )
    return None


# --- Requests: stored once, worked by a task -----------------------------------------------------


def request_receive(
    *, workspace: SlackWorkspace, key: str, kind: str, payload: dict, status: str = SlackRequest.Status.RECEIVED
) -> tuple[SlackRequest, bool]:
    """Store a request from Slack under its event or trigger id; the same id again (Slack's
    retries, a double delivery, twenty at once) finds the first row, and only that one is worked.
    A request stored as done (handled in the request itself) queues no task."""
    try:
        with transaction.atomic():
            request = SlackRequest.objects.create(
                workspace=workspace, key=key[:200], kind=kind[:40], payload=payload, status=status
            )
    except IntegrityError:
        return SlackRequest.objects.get(workspace=workspace, key=key[:200]), False
    if status == SlackRequest.Status.RECEIVED:
        transaction.on_commit(lambda: request_queue(request.pk))
    return request, True


def request_queue(request_id: int) -> None:
    from integrations import tasks

    publish(tasks.slack_request, request_id)


def request_process(request_id: int) -> None:
    """Work one stored request, once: concurrent tasks for it take turns on its row."""
    with transaction.atomic():
        request = SlackRequest.objects.select_for_update().select_related("workspace").filter(pk=request_id).first()
        if request is None or request.status != SlackRequest.Status.RECEIVED:
            return
        handler = {"command": _command, "block_actions": _block_actions, "event": _event}.get(request.kind)
        try:
            with transaction.atomic(), entries_from(TimelineEntry.Source.SLACK):
                outcome = handler(request.workspace, request.payload) if handler else "not handled"
            request.status = SlackRequest.Status.DONE
        except Exception as exc:
            logger.exception("Slack request %s failed", request_id)
            request.status, outcome = SlackRequest.Status.FAILED, f"{type(exc).__name__}: {exc}"
        request.outcome = (outcome or "")[:1000]
        request.save(update_fields=["status", "outcome"])


def request_purge(*, older_than: dt.timedelta) -> int:
    """Delete the Slack requests received more than `older_than` ago, whatever their status: a
    request still waiting by then can't be answered (a response_url lasts 30 minutes) and Slack
    stopped retrying long before. What they did (incidents, timeline entries, pins) stays."""
    deleted, _ = SlackRequest.objects.filter(received_at__lt=timezone.now() - older_than).delete()
    return deleted


# --- /incident -----------------------------------------------------------------------------------

SEVERITY_WORD = re.compile(r"^sev\s*([1-4])\b[\s:,-]*", re.IGNORECASE)
TITLE_MAX = Incident._meta.get_field("title").max_length


def parse_quick_filing(text: str) -> tuple[int, str]:
    """`/incident sev2 checkout down` → (2, "checkout down"); no severity word: SEV3."""
    text = " ".join(text.split())
    match = SEVERITY_WORD.match(text)
    if match:
        return int(match.group(1)), text[match.end() :]
    return Incident.Severity.SEV3, text


def open_modal(workspace: SlackWorkspace, trigger_id: str, view: dict) -> str | None:
    """views.open: the one Web API call made inside a request, because a trigger id is good for
    3 seconds only and a queued task could start after that. None, or the error's name."""
    try:
        web_client(workspace).views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        logger.error("Slack views.open failed: %s", exc.response.get("error"))
        return exc.response.get("error") or "error"
    return None


def _command(workspace: SlackWorkspace, payload: dict) -> str:
    """A slash command whose user wasn't mapped yet (looked up here, by e-mail), or one with text."""
    actor = slack_actor(workspace, payload.get("user_id", ""))
    response_url = payload.get("response_url", "")
    why = refusal(actor, RESPONDER)
    if why:
        respond(response_url, why)
        return "refused"
    text = (payload.get("text") or "").strip()
    if not text:
        error = open_modal(
            workspace, payload.get("trigger_id", ""), blocks.file_modal(channel_id=payload.get("channel_id", ""))
        )
        if error:
            respond(response_url, f"Slack couldn't open the form ({error}). Run {workspace.command} again.")
        return "modal opened" if not error else f"views.open: {error}"
    severity, title = parse_quick_filing(text)
    if not title:
        respond(response_url, f"Give a title after the severity, e.g. `{workspace.command} sev2 checkout is down`.")
        return "no title"
    incident, created = file_incident(
        workspace,
        actor,
        title=title[:TITLE_MAX],
        severity=severity,
        services=[],
        summary="",
        key=payload.get("trigger_id", ""),
    )
    respond(response_url, f"Filed incident #{incident.pk} ({incident.get_severity_display()}): {incident.title}")
    return f"filed #{incident.pk}"


def file_incident(workspace, actor: Actor, *, title, severity, services, summary, key: str) -> tuple[Incident, bool]:
    """File through incidents.services by the mapped user, idempotent on Slack's id for the
    filing (the modal's view id or the command's trigger id): submitted twice, filed once."""
    now = timezone.now()
    incident, created = incident_create(
        data=IncidentInput(
            title=title,
            started_at=now,
            severity=severity,
            services=services,
            detected_by=Incident.DetectedBy.STAFF,
            detection_source=f"Filed from Slack ({workspace.name})"[:200],
            summary=summary,
            source=SOURCE,
            external_id=f"{workspace.team_id}:{key}"[:200],
        ),
        by=actor.user,
        now=now,
    )
    if created:
        SlackIncident.objects.get_or_create(workspace=workspace, incident=incident)
    return incident, created


def submit_filing(workspace: SlackWorkspace, payload: dict) -> dict | None:
    """A submitted filing modal, in the request (Slack waits for its errors): None when filed, or
    {"response_action": "errors", "errors": {block_id: message}}."""
    view = payload.get("view") or {}
    actor = slack_actor(workspace, (payload.get("user") or {}).get("id", ""), lookup=False)
    why = refusal(actor, RESPONDER)
    if why:
        return {"response_action": "errors", "errors": {"title": why[:150]}}
    errors: dict[str, str] = {}
    title = " ".join((blocks.view_value(view, "title") or "").split())
    if not title:
        errors["title"] = "Say what is broken, e.g. “Checkout fails for EU cards”."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX} characters."
    severity = blocks.view_value(view, "severity")
    if severity not in {str(v) for v in Incident.Severity.values}:
        errors["severity"] = "Choose a severity."
    slugs = blocks.view_value(view, "services") or []
    services = list(Service.objects.active().filter(slug__in=[s for s in slugs if isinstance(s, str)]))
    if len(services) != len(set(slugs)):
        errors["services"] = "One of these services is gone or archived; choose again."
    summary = blocks.view_value(view, "summary") or ""
    if errors:
        return {"response_action": "errors", "errors": errors}
    try:
        file_incident(
            workspace,
            actor,
            title=title,
            severity=int(severity),
            services=services,
            summary=summary,
            key=view.get("id", "") or payload.get("trigger_id", ""),
        )
    except ValidationError as exc:
        return {"response_action": "errors", "errors": _block_errors(exc, blocks.FILE_BLOCKS, fallback="title")}
    return None


def _block_errors(exc: ValidationError, fields: dict[str, str], *, fallback: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name, messages in exc.message_dict.items():
        block = fields.get(name, fallback)
        errors[block] = " ".join([errors.get(block, ""), *messages]).strip()[:150]
    return errors


def submit_note(workspace: SlackWorkspace, payload: dict) -> dict | None:
    view = payload.get("view") or {}
    actor = slack_actor(workspace, (payload.get("user") or {}).get("id", ""), lookup=False)
    why = refusal(actor, RESPONDER)
    if why:
        return {"response_action": "errors", "errors": {"text": why[:150]}}
    incident = Incident.objects.filter(pk=_int(view.get("private_metadata"))).first()
    if incident is None:
        return {"response_action": "errors", "errors": {"text": "This incident no longer exists."}}
    try:
        incident_add_note(incident=incident, text=blocks.view_value(view, "text") or "", by=actor.user)
    except ValidationError as exc:
        return {"response_action": "errors", "errors": _block_errors(exc, {"text": "text"}, fallback="text")}
    return None


# Ids and numbers from Slack payloads: ASCII digits only (int() also takes "١٢", signs, spaces
# and underscores) and at most 18 of them, so a bigint column takes the value and a 5,000-digit
# string never reaches int(), which is quadratic in its length.
INT_MAX_DIGITS = 18


def _int(value) -> int | None:
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) else ""
    if not (0 < len(text) <= INT_MAX_DIGITS and text.isascii() and text.isdigit()):
        return None
    return int(text)


# --- Buttons on the announcement -----------------------------------------------------------------

# action_id → (the role it needs, what it does). Later actions (assigning roles) join here.
ActionHandler = Callable[[Incident, Actor, dict], str]


def _stamp(stage: str) -> ActionHandler:
    def handler(incident: Incident, actor: Actor, action: dict) -> str:
        incident_stamp(incident=incident, stage=stage, by=actor.user)
        return f"Incident #{incident.pk} {stage}."

    return handler


def _link_suspect(incident: Incident, actor: Actor, action: dict) -> str:
    deploy_id = _int((action.get("selected_option") or {}).get("value"))
    deploy = suspect_deploys(incident).filter(pk=deploy_id).first()
    if deploy is None:
        deploy = Deploy.objects.filter(pk=deploy_id).first()
        if deploy is None:
            raise ValidationError({"deploy": ["That deploy no longer exists."]})
    incident_link_deploy(incident=incident, deploy=deploy, relation=IncidentDeploy.Relation.CAUSE, by=actor.user)
    return f"Linked deploy #{deploy.pk} ({deploy.service.slug} {deploy.version}) to incident #{incident.pk} as a suspect cause."


def _link_cause(incident: Incident, actor: Actor, action: dict) -> str:
    """The "Link as cause" button of a suspect deploy's flag (value `incident:deploy`)."""
    deploy = Deploy.objects.select_related("service").filter(pk=_int(_value_parts(action)[1])).first()
    if deploy is None:
        raise ValidationError({"deploy": ["That deploy no longer exists."]})
    _, created = incident_link_deploy(
        incident=incident, deploy=deploy, relation=IncidentDeploy.Relation.CAUSE, by=actor.user
    )
    if created:
        by = actor.user.get_full_name() or actor.user.get_username()
        incident_id, deploy_id = incident.pk, deploy.pk
        transaction.on_commit(lambda: mark_linked(incident_id, deploy_id, by))
    already = "" if created else " (it was already)"
    return f"Linked deploy #{deploy.pk} ({deploy.service.slug} {deploy.version}) to incident #{incident.pk} as a cause{already}."


ACTIONS: dict[str, tuple[str, ActionHandler]] = {
    blocks.ACK: (RESPONDER, _stamp("acknowledged")),
    blocks.MITIGATE: (RESPONDER, _stamp("mitigated")),
    blocks.RESOLVE: (RESPONDER, _stamp("resolved")),
    blocks.SUSPECT: (RESPONDER, _link_suspect),
    blocks.LINK_CAUSE: (RESPONDER, _link_cause),
}


def _value_parts(action: dict) -> tuple[str, str]:
    # A button's value is the incident's id, or `incident:deploy` for a suspect flag's button.
    incident, _, rest = str(action.get("value") or "").partition(":")
    return incident, rest


def _errors_text(exc: ValidationError) -> str:
    return " ".join(m for messages in exc.message_dict.values() for m in messages)


def _block_actions(workspace: SlackWorkspace, payload: dict) -> str:
    response_url = payload.get("response_url", "")
    actor = slack_actor(workspace, (payload.get("user") or {}).get("id", ""))
    done = []
    for action in payload.get("actions") or []:
        action_id = action.get("action_id", "")
        if action_id == blocks.NOTE:
            why = refusal(actor, RESPONDER)
            if why:
                respond(response_url, why)
                return "refused"
            incident = Incident.objects.filter(pk=_int(action.get("value"))).first()
            if incident is not None:
                error = open_modal(workspace, payload.get("trigger_id", ""), blocks.note_modal(incident))
                if error:
                    respond(response_url, f"Slack couldn't open the note form ({error}); press Add note again.")
            continue
        if action_id not in ACTIONS:
            continue
        needed, handler = ACTIONS[action_id]
        why = refusal(actor, needed)
        if why:
            respond(response_url, why)
            return "refused"
        incident_id = _int(_value_parts(action)[0]) or _int((action.get("block_id") or "").removeprefix("incident-"))
        incident = Incident.objects.filter(pk=incident_id).first()
        if incident is None:
            respond(response_url, "This incident no longer exists.")
            continue
        try:
            with transaction.atomic():
                done.append(handler(incident, actor, action))
        except ValidationError as exc:
            respond(response_url, f"Nothing changed: {_errors_text(exc)}")
            return "refused by the rules"
    for text in done:
        respond(response_url, text)
    return "; ".join(done) or "nothing to do"


# --- The announcement ----------------------------------------------------------------------------


def announce_queue(incident_id: int) -> None:
    from integrations import tasks

    if SlackWorkspace.objects.filter(is_active=True).exists():
        publish(tasks.slack_announce, incident_id)


def _digest(text: str, message_blocks: list[dict]) -> str:
    # Without the "Updated …" line: an update that shows nothing new is not sent.
    kept = [b for b in message_blocks if b.get("type") != "context"]
    return hashlib.sha256(json.dumps([text, kept], sort_keys=True).encode()).hexdigest()


def announce(incident_id: int) -> None:
    """Post the incident's announcement in each workspace, or update it in place (chat.update).
    Rendered from the incident as it is now, so of several changes queued the latest wins."""
    incident = Incident.objects.prefetch_related("services").filter(pk=incident_id).first()
    if incident is None:
        return
    for workspace in SlackWorkspace.objects.filter(is_active=True):
        try:
            _announce_in(workspace, incident)
            # Deploys recorded before the incident was filed, or that became suspects as it
            # changed (services, start): flagged once the incident has somewhere to show them.
            flag_suspects(workspace, incident)
        except SlackApiError as exc:
            logger.error(
                "Slack announcement of incident %s in %s failed: %s",
                incident.pk,
                workspace.team_id,
                exc.response.get("error"),
            )


def _announce_in(workspace: SlackWorkspace, incident: Incident) -> None:
    with transaction.atomic():
        link = SlackIncident.objects.select_for_update().filter(workspace=workspace, incident=incident).first()
        if link is None:
            # An incident first seen closed (filed after the fact, archived) isn't announced.
            if incident.status == Incident.Status.RESOLVED or incident.is_archived:
                return
            if not workspace.announce_channel and not workspace.channel_per_incident:
                return
            link, _ = SlackIncident.objects.get_or_create(workspace=workspace, incident=incident)
            link = SlackIncident.objects.select_for_update().get(pk=link.pk)
        client = web_client(workspace)
        text, message_blocks = blocks.announcement(incident)
        digest = _digest(text, message_blocks)
        if not link.ts and workspace.announce_channel:
            response = client.chat_postMessage(channel=workspace.announce_channel, text=text, blocks=message_blocks)
            link.channel, link.ts, link.posted_digest = response["channel"], response["ts"], digest
            link.save(update_fields=["channel", "ts", "posted_digest"])
        elif link.ts and digest != link.posted_digest:
            client.chat_update(channel=link.channel, ts=link.ts, text=text, blocks=message_blocks)
            link.posted_digest = digest
            link.save(update_fields=["posted_digest"])
        if workspace.channel_per_incident and not link.incident_channel and incident.status != Incident.Status.RESOLVED:
            _open_channel(workspace, client, incident, link)


CHANNEL_NAME_MAX = 80


def channel_name(prefix: str, incident: Incident) -> str:
    """Slack's rules: lowercase letters, digits, - and _; at most 80 characters."""
    words = re.sub(r"[^a-z0-9_]+", "-", incident.title.lower()).strip("-_")
    name = "-".join(part for part in (prefix, str(incident.pk), words) if part)
    return name[:CHANNEL_NAME_MAX].rstrip("-_")


def responders_to_invite(workspace: SlackWorkspace, incident: Incident) -> list[str]:
    """The Slack user ids of whoever filed the incident and of the role holders whose name is an
    Opslog username mapped in this workspace, filer first, each once. A holder known only by a
    name (no account, or not mapped yet) can't be found in Slack and is left out."""
    users = get_user_model().objects.filter(is_active=True)
    wanted = []
    if incident.created_by_id:
        wanted.append(incident.created_by_id)
    holders = [name for name in incident.roles.values() if name]
    by_name = dict(users.filter(username__in=holders).values_list("username", "pk")) if holders else {}
    wanted += [by_name[name] for name in holders if name in by_name]
    mapped: dict[int, str] = {}
    for user_id, slack_user_id in (
        SlackUser.objects.filter(workspace=workspace, user_id__in=wanted)
        .order_by("pk")
        .values_list("user_id", "slack_user_id")
    ):
        mapped.setdefault(user_id, slack_user_id)
    return list(dict.fromkeys(mapped[pk] for pk in wanted if pk in mapped))


def _open_channel(workspace, client, incident: Incident, link: SlackIncident) -> None:
    name = channel_name(workspace.channel_prefix, incident)
    try:
        response = client.conversations_create(name=name)
    except SlackApiError as exc:
        if exc.response.get("error") != "name_taken":
            raise
        response = client.conversations_create(name=f"{name[: CHANNEL_NAME_MAX - 7]}-{timezone.now():%H%M%S}")
    link.incident_channel = response["channel"]["id"]
    link.save(update_fields=["incident_channel"])
    for slack_user_id in responders_to_invite(workspace, incident):
        # One at a time: Slack refuses a whole list for one bad member, and one person who can't be
        # invited (deactivated, a guest) must not keep the others out.
        try:
            client.conversations_invite(channel=link.incident_channel, users=slack_user_id)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_in_channel":
                logger.error(
                    "Slack conversations.invite %s to %s failed: %s",
                    slack_user_id,
                    link.incident_channel,
                    exc.response.get("error"),
                )
    url = blocks.incident_url(incident)
    client.chat_postMessage(
        channel=link.incident_channel,
        text=f"Incident #{incident.pk}: {incident.title}"
        + (f" — {url}" if url else "")
        + "\nCommands here: `ack`, `mitigated`, `resolved` (each with an optional time, e.g. `resolved 14:05`), "
        + "`note …`, `severity 2`, `lead @person`, `comms @person`, `scribe @person` (alone: you take it; "
        + f"`lead -`: nobody), `status`. React with :{workspace.pin_reaction}: to copy a message to the timeline.",
    )


# --- The incident channel: commands and pins ------------------------------------------------------


@dataclass(frozen=True)
class ChannelCommand:
    role: str
    run: Callable[[SlackWorkspace, Incident, Actor, str], str]
    usage: str


def parse_time(text: str, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """`14:05` (today, in the reporting zone) or an ISO time (without a zone: the reporting zone).
    Raises ValidationError for anything else."""
    text = text.strip()
    if not text:
        return None
    now = timezone.localtime(now or timezone.now())
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    try:
        if match:
            return now.replace(hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None:
        raise ValidationError({"at": [f"“{text[:40]}” isn't a time: give 14:05 or 2026-03-01T14:05."]})
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def _stamp_command(stage: str):
    def run(workspace: SlackWorkspace, incident: Incident, actor: Actor, rest: str) -> str:
        at = parse_time(rest)
        incident_stamp(incident=incident, stage=stage, by=actor.user, at=at)
        when = f" at {timezone.localtime(at):%H:%M}" if at else ""
        return f"Incident #{incident.pk} {stage}{when}."

    return run


def _note_command(workspace: SlackWorkspace, incident: Incident, actor: Actor, rest: str) -> str:
    incident_add_note(incident=incident, text=rest, by=actor.user)
    return f"Noted on incident #{incident.pk}'s timeline."


def _severity_command(workspace: SlackWorkspace, incident: Incident, actor: Actor, rest: str) -> str:
    value = _int(rest.strip().lower().removeprefix("sev"))
    if value not in Incident.Severity.values:
        raise ValidationError({"severity": ["Give a severity from 1 to 4, e.g. `severity 2`."]})
    incident_update(incident=incident, changes={"severity": value}, by=actor.user)
    return f"Incident #{incident.pk} is now {Incident.Severity(value).label}."


def _status_command(workspace: SlackWorkspace, incident: Incident, actor: Actor, rest: str) -> str:
    incident.refresh_from_db()
    text, _ = blocks.announcement(incident)
    url = blocks.incident_url(incident)
    return f"{text}. {blocks.roles_line(incident)}." + (f" {url}" if url else "")


# `<@U123>`, or the older `<@U123|ana>` that still carries the name: the whole of what follows
# a role command. Slack user ids are U… or W… (Enterprise Grid).
PERSON = re.compile(r"<@([UW][A-Z0-9]{1,20})(?:\|([^>]{0,200}))?>")
NOBODY = {"-", "none", "nobody"}


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def role_holder_name(workspace: SlackWorkspace, slack_user_id: str, fallback: str = "") -> str:
    """The name a mentioned Slack person holds a role under: the Opslog username of their account
    (the admin's mapping first, else their Slack e-mail, as for whoever acts), else the name Slack
    shows for them (display name, else real name), else the name the mention carried. Raises
    ValidationError naming `name` when Slack can't say who it is."""
    person = slack_actor(workspace, slack_user_id)
    if person.user is not None:
        return person.user.get_username()
    name = person.name
    if not name:
        # A mapping to a deactivated account: slack_actor made no call, so ask Slack for the name.
        try:
            name = _slack_name(web_client(workspace).users_info(user=slack_user_id))
        except SlackApiError as exc:
            logger.error("Slack users.info %s failed: %s", slack_user_id, exc.response.get("error"))
    name = name or fallback.strip()
    if not name:
        raise ValidationError(
            {"name": [f"Slack couldn't say who <@{slack_user_id}> is; try again, or name them on the page."]}
        )
    return name


def _role_command(role: str):
    label = Incident.Role(role).label

    def run(workspace: SlackWorkspace, incident: Incident, actor: Actor, rest: str) -> str:
        rest = rest.strip()
        if not rest:
            name = actor.user.get_username()
        elif rest.lower() in NOBODY:
            name = ""
        else:
            match = PERSON.fullmatch(rest)
            if match is None:
                raise ValidationError(
                    {
                        "name": [
                            f"Name the new {label.lower()} with an @-mention, `{role}` alone to take it yourself, or `{role} -` to leave it to nobody."
                        ]
                    }
                )
            name = role_holder_name(workspace, match.group(1), _unescape(match.group(2) or ""))
        field_name = Incident.ROLE_FIELDS[Incident.Role(role)]
        old = getattr(Incident.objects.get(pk=incident.pk), field_name)
        updated = incident_assign_role(incident=incident, role=role, name=name, by=actor.user)
        new = getattr(updated, field_name)
        if old == new:
            holder = new or "nobody"
            return f"Incident #{incident.pk}: the {label.lower()} is already {holder}; nothing changed."
        return f"Incident #{incident.pk}: {handover_text(field_name, old, new)}"

    return run


# The words understood in an incident's channel.
CHANNEL_COMMANDS: dict[str, ChannelCommand] = {
    "ack": ChannelCommand(RESPONDER, _stamp_command("acknowledged"), "ack [14:05]"),
    "mitigated": ChannelCommand(RESPONDER, _stamp_command("mitigated"), "mitigated [14:05]"),
    "resolved": ChannelCommand(RESPONDER, _stamp_command("resolved"), "resolved [14:05]"),
    "note": ChannelCommand(RESPONDER, _note_command, "note what happened"),
    "severity": ChannelCommand(RESPONDER, _severity_command, "severity 2"),
    "status": ChannelCommand(VIEWER, _status_command, "status"),
    **{
        role: ChannelCommand(RESPONDER, _role_command(role), f"{role} @person, {role} (yourself) or {role} -")
        for role in Incident.Role.values
    },
}
MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")


def _event(workspace: SlackWorkspace, payload: dict) -> str:
    event = payload.get("event") or {}
    kind = event.get("type")
    if kind == "message":
        return _channel_message(workspace, event)
    if kind in ("reaction_added", "reaction_removed"):
        return _reaction(workspace, event, added=kind == "reaction_added")
    return f"{kind} ignored"


def _incident_of_channel(workspace: SlackWorkspace, channel: str) -> Incident | None:
    link = (
        SlackIncident.objects.select_related("incident").filter(workspace=workspace, incident_channel=channel).first()
    )
    return link.incident if link and channel else None


def _ephemeral(workspace, channel: str, user: str, text: str) -> None:
    try:
        web_client(workspace).chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:
        logger.error("Slack chat.postEphemeral failed: %s", exc.response.get("error"))


def _channel_message(workspace: SlackWorkspace, event: dict) -> str:
    # Bots (Opslog's own answers among them) and edits, joins and the like are not commands.
    if event.get("subtype") or event.get("bot_id"):
        return "not a person's message"
    incident = _incident_of_channel(workspace, event.get("channel", ""))
    if incident is None:
        return "not an incident channel"
    text = MENTION.sub("", event.get("text") or "", count=1).strip()
    word, _, rest = text.partition(" ")
    command = CHANNEL_COMMANDS.get(word.lower())
    if command is None:
        return "not a command"
    actor = slack_actor(workspace, event.get("user", ""))
    why = refusal(actor, command.role)
    channel, user = event.get("channel", ""), event.get("user", "")
    if why:
        _ephemeral(workspace, channel, user, why)
        return "refused"
    try:
        with transaction.atomic():
            answer = command.run(workspace, incident, actor, rest)
    except ValidationError as exc:
        _ephemeral(workspace, channel, user, f"Nothing changed: {_errors_text(exc)} (usage: `{command.usage}`)")
        return "refused by the rules"
    try:
        web_client(workspace).chat_postMessage(channel=channel, thread_ts=event.get("ts"), text=answer)
    except SlackApiError as exc:
        logger.error("Slack chat.postMessage failed: %s", exc.response.get("error"))
    return answer


def _message_at(ts: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(ts), tz=dt.UTC)


def _read_message(workspace, channel: str, ts: str) -> dict | None:
    client = web_client(workspace)
    history = client.conversations_history(channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1)
    for message in history.get("messages") or []:
        if message.get("ts") == ts:
            return message
    # A reply in a thread isn't in the channel's history: read it from its thread.
    replies = client.conversations_replies(channel=channel, ts=ts, latest=ts, oldest=ts, inclusive=True, limit=1)
    return next((m for m in replies.get("messages") or [] if m.get("ts") == ts), None)


def _reaction(workspace: SlackWorkspace, event: dict, *, added: bool) -> str:
    item = event.get("item") or {}
    if event.get("reaction") != workspace.pin_reaction or item.get("type") != "message":
        return "not the pin reaction"
    channel, ts = item.get("channel", ""), item.get("ts", "")
    incident = _incident_of_channel(workspace, channel)
    if incident is None:
        return "not an incident channel"
    actor = slack_actor(workspace, event.get("user", ""))
    why = refusal(actor, RESPONDER)
    if why:
        _ephemeral(workspace, channel, event.get("user", ""), why)
        return "refused"
    if not added:
        pin = (
            SlackPin.objects.select_related("entry__incident")
            .filter(workspace=workspace, channel=channel, message_ts=ts)
            .first()
        )
        if pin is None:
            return "no pinned entry"
        incident_remove_note(entry=pin.entry, by=actor.user)
        return "pinned entry removed"
    if SlackPin.objects.filter(workspace=workspace, channel=channel, message_ts=ts).exists():
        return "already pinned"
    message = _read_message(workspace, channel, ts)
    if message is None:
        return "message not found"
    author = slack_actor(workspace, message.get("user", "")) if message.get("user") else Actor("", None)
    text = (message.get("text") or "").strip()
    if author.user is None:
        text = f"{author.name or message.get('username') or 'Someone'} (in Slack): {text}"
    entry = incident_add_note(incident=incident, text=text, by=author.user, at=_message_at(ts))
    SlackPin.objects.create(workspace=workspace, channel=channel, message_ts=ts, entry=entry)
    return f"pinned as entry {entry.pk}"
