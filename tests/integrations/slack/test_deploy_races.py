"""Deploys in Slack under concurrency (PostgreSQL: SQLite serialises every write anyway): a notice
sent by several workers at once, and a suspect flag raised by the deploy and by the incident at once,
are each posted once."""

import datetime as dt

import pytest
from django.utils import timezone

from deploys import outbox
from deploys.factories import DeployFactory, ServiceFactory
from deploys.models import OutboxMessage
from incidents.factories import IncidentFactory
from integrations.factories import SlackWorkspaceFactory
from integrations.models import SlackDeployPost, SlackIncident, SlackWorkspace
from integrations.slack.deploys import NOTICE, flag, flag_suspects
from tests.support.concurrency import at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
]

CONCURRENCY = 10


def test_workers_sending_one_notice_at_once_post_it_once(fake_slack):
    SlackWorkspaceFactory(deploy_channel="C0DEPLOYS")
    deploy = DeployFactory()
    message = OutboxMessage.objects.create(
        kind=NOTICE, key=f"deploy:{deploy.pk}:slack", payload={"deploy_id": deploy.pk}
    )

    at_once(CONCURRENCY, lambda index: outbox.send(message_id=message.pk))

    assert len(fake_slack.called("chat.postMessage")) == 1
    assert SlackDeployPost.objects.filter(deploy=deploy, kind="notice").count() == 1
    message.refresh_from_db()
    assert message.status == "sent"


def test_the_deploy_and_the_incident_flagging_at_once_post_one_flag(fake_slack):
    workspace = SlackWorkspaceFactory()
    checkout = ServiceFactory(slug="checkout")
    now = timezone.now()
    incident = IncidentFactory(started_at=now - dt.timedelta(minutes=30), detected_at=now)
    incident.services.add(checkout)
    SlackIncident.objects.create(workspace=workspace, incident=incident, channel="C0ANNOUNCE", ts="1700000000.000100")
    deploy = DeployFactory(service=checkout, deployed_at=incident.started_at - dt.timedelta(minutes=10))

    def raise_it(index):
        # Each thread reads its own rows, as a worker would.
        workspace_ = SlackWorkspace.objects.get(pk=workspace.pk)
        incident_ = type(incident).objects.get(pk=incident.pk)
        if index % 2:
            return flag(workspace_, incident_, type(deploy).objects.get(pk=deploy.pk))
        return flag_suspects(workspace_, incident_)

    results = at_once(CONCURRENCY, raise_it)

    assert sorted(results, key=int) == [0] * (CONCURRENCY - 1) + [1]  # True counts as 1
    assert len(fake_slack.called("chat.postMessage")) == 1
    assert SlackDeployPost.objects.filter(kind="suspect", deploy=deploy, incident=incident).count() == 1
