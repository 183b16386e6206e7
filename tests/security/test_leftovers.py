"""Issue #14, findings 10 and 13: a scoped ingest token and another service's change record, and the
leftovers of the last closing notes (shas in one case, webhook keys independent of mappings,
reminders sent then marked, remediation changes in the history, the (service, version) index,
creating services an explicit ingest-token scope). Each test failed on the code before its fix."""

import datetime as dt
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from deploys.factories import DeployFactory, ServiceFactory
from deploys.models import ChangeRecord, Deploy, DeployCommit, Service
from deploys.services import ingest_token_create
from incidents.factories import IncidentFactory
from integrations.factories import IntegrationFactory
from integrations.models import Delivery
from integrations.services import delivery_replay
from postmortems import services as postmortem_services
from postmortems import tasks as postmortem_tasks
from postmortems.factories import PostMortemFactory, RemediationFactory
from postmortems.models import Remediation
from tests.support.hooks import post_gitlab
from tests.support.payloads.gitlab import DEPLOYMENT, DEPLOYMENT_EVENT, PUSH, PUSH_EVENT, derive
from tests.support.roles import responder

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _deploy(service: str, external_id: str, **extra) -> dict:
    return {
        "service": service,
        "environment": "production",
        "version": external_id,
        "deployer": "ci",
        "external_id": external_id,
        **extra,
    }


def _change_record(service: Service | None) -> ChangeRecord:
    return ChangeRecord.objects.create(
        title="Drop the legacy column",
        service=service,
        owner="sam",
        done_before="yes",
        failure_impact="errors",
        failure_response="roll back",
    )


# --- Finding 10: a scoped token and another service's change record ------------------------------


def test_a_web_only_token_cannot_attach_a_change_record_of_api():
    """#14.10: a service-limited ingest token attached another service's change record (201)."""
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    record = _change_record(api)
    _, key = ingest_token_create(name="web-ci", services=[web])

    refused = _client(key).post("/api/deploys/", _deploy("web", "w1", change_record=record.pk), format="json")
    batch = {"deploys": [_deploy("web", "w2"), _deploy("web", "w3", change_record=record.pk)]}
    refused_bulk = _client(key).post("/api/deploys/bulk/", batch, format="json")

    assert refused.status_code == 403
    assert "change_record" in refused.json()["detail"] and "api" in refused.json()["detail"]
    assert refused_bulk.status_code == 403
    assert "change_record" in refused_bulk.json()["detail"]
    assert not Deploy.objects.exists()
    # Its own service's record is fine.
    own = _change_record(web)
    assert (
        _client(key).post("/api/deploys/", _deploy("web", "w4", change_record=own.pk), format="json").status_code == 201
    )


# --- Finding 13: shas in one case --------------------------------------------------------------


def test_a_sha_sent_in_capitals_then_in_lowercase_is_one_commit_with_one_lead_time():
    """#14.13 shas: the API and a webhook (or two senders) stored one commit twice, in two cases,
    and counted its lead time twice."""
    ServiceFactory(slug="web")
    _, key = ingest_token_create(name="ci")
    client = _client(key)
    authored = "2024-07-01T10:00:00Z"
    sha = "DA1560886D4F094C3E6C9EF40349F7D38B5D27D7"
    first = _deploy(
        "web", "v1", deployed_at="2024-07-02T10:00:00Z", commits=[{"sha": f" {sha} ", "authored_at": authored}]
    )
    bulk = {"deploys": [_deploy("web", "v2", deployed_at="2024-07-03T10:00:00Z", commits=[{"sha": sha.lower()}])]}

    answer = client.post("/api/deploys/", first, format="json")
    assert client.post("/api/deploys/bulk/", bulk, format="json").status_code == 201

    assert answer.status_code == 201 and answer.json()["commits"][0]["sha"] == sha.lower()
    assert set(DeployCommit.objects.values_list("sha", flat=True)) == {sha.lower()}
    assert DeployCommit.objects.filter(lead_seconds__isnull=False).count() == 1


def test_a_webhook_push_in_capitals_backfills_the_deploy_of_its_lowercase_head():
    """#14.13 shas: a webhook's capital sha was refused or stored apart from the same commit."""
    IntegrationFactory(kind="gitlab")
    head = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    push = derive(PUSH, commits=[{**c, "id": c["id"].upper()} for c in PUSH["commits"]])
    deployment = derive(
        DEPLOYMENT,
        project=PUSH["project"],
        environment="production",
        short_sha="da156088",
        commit_url=f"http://example.com/mike/diaspora/-/commit/{head.upper()}",
    )

    post_gitlab(client=APIClient(), event=DEPLOYMENT_EVENT, payload=deployment)
    post_gitlab(client=APIClient(), event=PUSH_EVENT, payload=push)

    deploy = Deploy.objects.get()
    assert deploy.version == head
    assert sorted(deploy.commits.values_list("sha", flat=True)) == sorted(c["id"] for c in PUSH["commits"])
    assert deploy.commits.filter(lead_seconds__isnull=False).count() == 2


# --- Finding 13: a webhook deploy's key independent of the service mapping -----------------------


def test_fixing_a_mapping_and_replaying_keeps_one_deploy():
    """#14.13 webhook key: the key included the mapped service, so fixing a mapping and replaying
    recorded the deploy a second time."""
    integration = IntegrationFactory(kind="gitlab")
    post_gitlab(APIClient(), DEPLOYMENT_EVENT, DEPLOYMENT)
    [deploy] = Deploy.objects.all()
    assert deploy.service.slug == "test-deployment-webhooks"

    integration.service_mapping = {"root/test-deployment-webhooks": "web"}
    integration.save()
    result = delivery_replay(delivery=Delivery.objects.get())

    assert Deploy.objects.count() == 1
    assert result.status == Delivery.Status.PROCESSED
    assert f"deploy {deploy.pk} already recorded" in result.outcome


# --- Finding 13: reminders sent, then marked ----------------------------------------------------


@pytest.fixture
def due_remediation(django_user_model):
    owner = responder(django_user_model.objects.create_user(username="sam", email="sam@example.com"))
    incident = IncidentFactory(started_at=timezone.now() - dt.timedelta(days=9))
    return RemediationFactory(
        postmortem=PostMortemFactory(incident=incident),
        owner=owner,
        owner_name="",
        due_date=timezone.localdate() + dt.timedelta(days=1),
    )


@pytest.fixture
def working_hours(monkeypatch):
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: noon)


class WorkerKilled(BaseException):
    """What a worker that dies takes with it: nothing after this point runs (not an Exception)."""


def test_a_worker_dying_while_sending_does_not_skip_the_days_reminder(due_remediation, working_hours):
    """#14.13 reminders: the reminder was marked sent before it went out, so a worker that died
    while sending skipped that day's reminder."""
    with mock.patch.object(postmortem_tasks, "send_mail", side_effect=WorkerKilled), pytest.raises(WorkerKilled):
        postmortem_tasks.send_remediation_reminders()

    assert postmortem_tasks.send_remediation_reminders() == 1
    assert len(mail.outbox) == 1
    assert postmortem_tasks.send_remediation_reminders() == 0
    assert len(mail.outbox) == 1


def test_a_worker_dying_between_send_and_mark_sends_once_more_then_never_again(due_remediation, working_hours):
    """#14.13 reminders: a crash after the email went out and before it was marked: the retry sends
    it at most once more, and the next run not at all."""
    with (
        mock.patch.object(postmortem_tasks, "_mark_reminded", side_effect=WorkerKilled, create=True),
        pytest.raises(WorkerKilled),
    ):
        postmortem_tasks.send_remediation_reminders()
    assert len(mail.outbox) == 1
    due_remediation.refresh_from_db()
    assert due_remediation.last_reminded_on is None

    assert postmortem_tasks.send_remediation_reminders() == 1
    assert postmortem_tasks.send_remediation_reminders() == 0
    assert len(mail.outbox) == 2
    due_remediation.refresh_from_db()
    assert due_remediation.last_reminded_on == timezone.localdate()


# --- Finding 13: remediation changes in the post-mortem's history --------------------------------


def test_remediation_changes_are_in_the_postmortems_history(logged_in, user):
    """#14.13 history: adding, editing, marking and deleting remediations left no trace in the
    post-mortem's history."""
    postmortem = PostMortemFactory()
    kept = postmortem_services.remediation_create(
        postmortem=postmortem, data={"description": "Alert on 502s", "kind": "ops", "owner_name": "sam"}, by=user
    )
    dropped = postmortem_services.remediation_create(
        postmortem=postmortem, data={"description": "Typo twin", "kind": "dev", "owner_name": "sam"}, by=user
    )
    postmortem_services.remediation_update(remediation=kept, changes={"owner_name": "priya"}, by=user)
    postmortem_services.remediation_update(remediation=kept, changes={"status": Remediation.Status.DONE}, by=user)
    postmortem_services.remediation_delete(remediation=dropped, by=user)

    page = logged_in.get(f"/incidents/{postmortem.incident_id}/postmortem/history/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "Remediation added: Alert on 502s" in text
    assert "Remediation added: Typo twin" in text
    assert "Remediation deleted: Typo twin" in text
    assert "sam → priya" in text
    assert "open → done" in text.lower()
    assert text.count(user.get_username()) >= 5


# --- Finding 13: the (service, version) index --------------------------------------------------


def test_deploys_have_an_index_on_service_and_version():
    """#14.13 index: a push's backfill looked deploys up by (service, version) with no index."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Deploy._meta.db_table)
    assert any(c["index"] and c["columns"][:2] == ["service_id", "version"] for c in constraints.values())


# --- Finding 13: creating services is an explicit scope -----------------------------------------


def test_a_token_without_the_scope_cannot_create_a_service():
    """#14.13 scope: an ingest token with no service limit created services."""
    ServiceFactory(slug="web")
    _, key = ingest_token_create(name="ci")

    refused = _client(key).post("/api/deploys/", _deploy("payments", "p1"), format="json")
    refused_bulk = _client(key).post(
        "/api/deploys/bulk/", {"deploys": [_deploy("web", "w1"), _deploy("payments", "p2")]}, format="json"
    )

    assert refused.status_code == 400
    [message] = refused.json()["service"]
    assert "payments" in message and "may create services" in message
    assert refused_bulk.status_code == 400
    assert "payments" in refused_bulk.json()["deploys"]["1"]["service"][0]
    assert not Service.objects.filter(slug="payments").exists() and not Deploy.objects.exists()
    # Known services are fine, and a token given the scope creates one.
    assert _client(key).post("/api/deploys/", _deploy("web", "w2"), format="json").status_code == 201
    _, creator = ingest_token_create(name="ci-creator", may_create_services=True)
    assert _client(creator).post("/api/deploys/", _deploy("payments", "p3"), format="json").status_code == 201


@pytest.mark.postgres_only(reason="EXPLAIN output and the planner's choice are PostgreSQL's")
def test_the_backfill_lookup_can_use_the_service_version_index():
    """#14.13 index: the backfill's own query, planned on PostgreSQL, reads the index. A sequential
    scan is ruled out for the plan only, so the answer doesn't hang on the table's size."""
    web = ServiceFactory(slug="web")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = Deploy.objects.of_versions(web, ["a" * 40, "b" * 40]).order_by("deployed_at", "id").explain()
    assert "deploy_service_version_idx" in plan


def test_a_commit_added_in_the_admin_is_stored_in_lowercase(admin_client):
    """#14.13 shas: the admin is one more way in, and keeps the same case rule."""
    deploy = DeployFactory()

    response = admin_client.post(
        "/admin/deploys/deploycommit/add/",
        {"deploy": deploy.pk, "sha": " ABCDEF1 ", "authored_at_0": "", "authored_at_1": "", "message": ""},
    )

    assert response.status_code == 302
    assert list(deploy.commits.values_list("sha", flat=True)) == ["abcdef1"]
