"""Deploys in Slack: each production deploy's notice in a workspace's deploy channel, and the flag
on a deploy an open incident names as suspect, in that incident's channel (or its announcement's
thread), with a "Link as cause" button.

Both are deploy notification channels (deploys.notifications.register_channel, registered from
integrations' AppConfig.ready), so each deploy's are outbox messages written with the deploy and
sent after commit, retried on failure. A SlackDeployPost row per message posted makes a retry post
only what is still missing: once per deploy and workspace, once per deploy, incident and workspace.
The other order — the incident filed (or its services or times changed) after the deploy — is
flagged when the incident's announcement is posted or updated (flag_suspects).
"""

import logging

from django.db import transaction
from slack_sdk.errors import SlackApiError

from deploys import outbox
from deploys.models import Deploy
from deploys.notifications import chat_text, payload_deploy, register_channel
from incidents.models import Incident, IncidentDeploy
from incidents.selectors import incidents_suspecting, suspect_deploys
from integrations.models import SlackDeployPost, SlackIncident, SlackWorkspace
from integrations.slack import blocks
from integrations.slack.client import web_client

logger = logging.getLogger(__name__)

NOTICE = "deploy.slack"
SUSPECT = "deploy.slack_suspect"
# A service deploying continuously could have dozens of suspects in the window: past this many
# flags an incident's channel gets no more (the announcement's select and the page list them all).
MAX_FLAGS_PER_INCIDENT = 10


def _notice_workspaces():
    return SlackWorkspace.objects.filter(is_active=True).exclude(deploy_channel="").order_by("pk")


def _has_notice_channel(deploy: Deploy) -> bool:
    return _notice_workspaces().exists()


def _may_be_suspect(deploy: Deploy) -> bool:
    # A cheap guess at record time; the sender computes the suspects for real when it runs.
    return (
        SlackWorkspace.objects.filter(is_active=True).exists()
        and Incident.objects.unresolved().not_archived().filter(services=deploy.service_id).exists()
    )


def register() -> None:
    register_channel("slack", NOTICE, _has_notice_channel)
    register_channel("slack-suspect", SUSPECT, _may_be_suspect)


def _error(exc: Exception) -> str:
    # A Slack error's name (channel_not_found, ratelimited, …); never the request, which has the token.
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    return type(exc).__name__


@outbox.sender(NOTICE)
def send_notice(payload: dict) -> None:
    """The deploy's chat line (the webhook's, mention-safe) in every workspace's deploy channel
    where it isn't yet. One workspace failing doesn't stop the others; the message is retried
    (deploys.outbox) for the ones that failed, and only those."""
    deploy = payload_deploy(payload)
    workspaces = list(_notice_workspaces())
    if not workspaces:
        raise outbox.Undeliverable("no active Slack workspace has a deploy channel")
    posted = set(
        SlackDeployPost.objects.filter(deploy=deploy, kind=SlackDeployPost.Kind.NOTICE).values_list(
            "workspace_id", flat=True
        )
    )
    text = chat_text(deploy)
    failures = []
    for workspace in workspaces:
        if workspace.pk in posted:
            continue
        try:
            # Rate limits are waited out by the client (integrations.slack.client) before this raises.
            response = web_client(workspace).chat_postMessage(
                channel=workspace.deploy_channel, text=text, unfurl_links=False, unfurl_media=False
            )
        except Exception as exc:
            logger.error("Slack deploy notice of deploy %s in %s failed: %s", deploy.pk, workspace.team_id, _error(exc))
            failures.append(f"{workspace.team_id}: {_error(exc)}")
            continue
        # get_or_create: its own savepoint, so even a lost race leaves the outbox's transaction usable.
        SlackDeployPost.objects.get_or_create(
            workspace=workspace,
            deploy=deploy,
            kind=SlackDeployPost.Kind.NOTICE,
            defaults={"channel": response["channel"], "ts": response["ts"]},
        )
    if failures:
        raise outbox.Failed("Slack chat.postMessage failed in " + "; ".join(failures))


@outbox.sender(SUSPECT)
def send_suspect_flags(payload: dict) -> None:
    """Flag the deploy in each open incident that names it as suspect, in every workspace the
    incident is announced in. Failures are retried, and only those."""
    deploy = payload_deploy(payload)
    failures = []
    for incident in incidents_suspecting(deploy):
        for workspace in SlackWorkspace.objects.filter(is_active=True).order_by("pk"):
            try:
                flag(workspace, incident, deploy)
            except Exception as exc:
                logger.error(
                    "Slack flag of deploy %s on incident %s in %s failed: %s",
                    deploy.pk,
                    incident.pk,
                    workspace.team_id,
                    _error(exc),
                )
                failures.append(f"incident {incident.pk} in {workspace.team_id}: {_error(exc)}")
    if failures:
        raise outbox.Failed("Slack suspect flag failed for " + "; ".join(failures))


def flag(workspace: SlackWorkspace, incident: Incident, deploy: Deploy) -> bool:
    """Post the deploy's suspect flag where the incident is worked in this workspace: its own
    channel, else its announcement's thread; nowhere when it has neither (not announced here).
    Returns whether it was posted now. Raises the Slack client's error; nothing is recorded then.

    The incident's Slack row is locked while this runs, so the deploy's flag (the outbox) and the
    incident's (its announcement) can't both post at once."""
    with transaction.atomic():
        link = SlackIncident.objects.select_for_update().filter(workspace=workspace, incident=incident).first()
        if link is None:
            return False
        if link.incident_channel:
            channel, thread_ts = link.incident_channel, None
        elif link.channel and link.ts:
            channel, thread_ts = link.channel, link.ts
        else:
            return False
        flags = SlackDeployPost.objects.filter(
            workspace=workspace, incident=incident, kind=SlackDeployPost.Kind.SUSPECT
        )
        if flags.filter(deploy=deploy).exists() or flags.count() >= MAX_FLAGS_PER_INCIDENT:
            return False
        text, message_blocks = blocks.suspect_flag(incident, deploy)
        response = web_client(workspace).chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text, blocks=message_blocks, unfurl_links=False
        )
        SlackDeployPost.objects.create(
            workspace=workspace,
            deploy=deploy,
            incident=incident,
            kind=SlackDeployPost.Kind.SUSPECT,
            channel=response["channel"],
            ts=response["ts"],
        )
        return True


def flag_suspects(workspace: SlackWorkspace, incident: Incident) -> int:
    """The incident's suspect deploys not flagged yet (and not linked as causes), in the page's
    order (newest first), up to MAX_FLAGS_PER_INCIDENT in all. Called after its announcement, so
    an incident filed after the deploy, or whose services or start changed, gets the flags too.
    Returns how many were posted."""
    if incident.status == Incident.Status.RESOLVED or incident.is_archived:
        return 0
    flagged = SlackDeployPost.objects.filter(
        workspace=workspace, incident=incident, kind=SlackDeployPost.Kind.SUSPECT
    ).values_list("deploy_id", flat=True)
    causes = incident.deploy_links.filter(relation=IncidentDeploy.Relation.CAUSE).values_list("deploy_id", flat=True)
    pending = suspect_deploys(incident).exclude(pk__in=flagged).exclude(pk__in=causes)[:MAX_FLAGS_PER_INCIDENT]
    return sum(flag(workspace, incident, deploy) for deploy in pending)


def mark_linked(incident_id: int, deploy_id: int, by: str) -> None:
    """The deploy's flags on the incident, once it is linked as a cause from one: who linked it,
    in place of the button (chat.update). A failure is logged; the link stands."""
    posts = SlackDeployPost.objects.select_related("workspace", "incident", "deploy__service", "deploy__environment")
    for post in posts.filter(kind=SlackDeployPost.Kind.SUSPECT, incident_id=incident_id, deploy_id=deploy_id):
        text, message_blocks = blocks.suspect_flag(post.incident, post.deploy, linked_by=by)
        try:
            web_client(post.workspace).chat_update(channel=post.channel, ts=post.ts, text=text, blocks=message_blocks)
        except Exception as exc:  # after the link's commit: nothing to undo, and no caller to tell
            logger.error("Slack update of the flag %s failed: %s", post.pk, _error(exc))
