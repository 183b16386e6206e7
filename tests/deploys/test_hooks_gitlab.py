"""GitLab webhooks on the payloads GitLab documents (tests/support/payloads/gitlab.py), through the
full path: HTTP POST with X-Gitlab-Token → stored Delivery → Celery task (in-process) → records."""

import datetime as dt

import pytest

from deploys.models import Deploy, PushedCommit, Service
from integrations.factories import IntegrationFactory
from integrations.models import Delivery
from integrations.services import delivery_replay
from tests.support.hooks import SECRET, post_gitlab
from tests.support.payloads.gitlab import DEPLOYMENT, DEPLOYMENT_EVENT, PUSH, PUSH_EVENT, derive

pytestmark = pytest.mark.django_db

UTC = dt.UTC
FULL_SHA = "279484c09fbe69ededfced8c1bb6e6d24616b468"  # the last segment of the documented commit_url


@pytest.fixture
def integration():
    return IntegrationFactory(kind="gitlab", name="GitLab self-managed")


def only_delivery() -> Delivery:
    [delivery] = Delivery.objects.all()
    return delivery


def test_documented_success_records_a_succeeded_deploy(client, integration):
    response = post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT, key="5f0c5a2e-1b7b-4c43-9a8e-0d3b2e0b2f6d")

    assert response.status_code == 202
    delivery = only_delivery()
    assert (delivery.kind, delivery.event, delivery.delivery_id) == (
        "gitlab",
        "Deployment Hook",
        "5f0c5a2e-1b7b-4c43-9a8e-0d3b2e0b2f6d",
    )
    [deploy] = Deploy.objects.all()
    assert (delivery.status, delivery.outcome) == (Delivery.Status.PROCESSED, f"deploy {deploy.pk} created")
    assert deploy.service.slug == "test-deployment-webhooks"  # project.name, unmapped
    assert deploy.environment.slug == "staging"
    # Only short_sha ("279484c0") is a field: the full sha comes from commit_url.
    assert deploy.version == FULL_SHA
    assert deploy.version.startswith(DEPLOYMENT["short_sha"])
    assert deploy.deployer == "root"
    # "2021-04-28 21:50:00 +0200" is 19:50 UTC.
    assert deploy.deployed_at == dt.datetime(2021, 4, 28, 19, 50, tzinfo=UTC)
    assert deploy.status == Deploy.Status.SUCCEEDED
    assert deploy.message == "Add new file"
    assert deploy.external_id == "gitlab-deployment:15:success"
    assert deploy.diff_url == DEPLOYMENT["commit_url"]
    assert list(deploy.commits.values_list("sha", "authored_at")) == [(FULL_SHA, None)]


def test_failed_records_a_failed_deploy(client, integration):
    post_gitlab(client, DEPLOYMENT_EVENT, derive(DEPLOYMENT, status="failed"))

    deploy = Deploy.objects.get()
    assert (deploy.status, deploy.external_id) == (Deploy.Status.FAILED, "gitlab-deployment:15:failed")


def test_canceled_is_recorded_and_ignored(client, integration):
    post_gitlab(client, DEPLOYMENT_EVENT, derive(DEPLOYMENT, status="canceled"))

    assert (only_delivery().status, only_delivery().outcome) == (
        Delivery.Status.IGNORED,
        "deployment canceled: nothing went live",
    )
    assert not Deploy.objects.exists()


def test_running_then_success_records_one_deploy_when_it_succeeds(client, integration):
    post_gitlab(client, DEPLOYMENT_EVENT, derive(DEPLOYMENT, status="running"))
    assert not Deploy.objects.exists()

    post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT)
    post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT)  # a retry without an idempotency key

    assert Deploy.objects.get().external_id == "gitlab-deployment:15:success"
    running, success = Delivery.objects.order_by("id")  # the retry is the same body: the same delivery
    assert (running.status, running.outcome) == (
        Delivery.Status.IGNORED,
        "deployment status 'running' is recorded and ignored",
    )
    assert success.status == Delivery.Status.PROCESSED


def test_without_commit_url_the_short_sha_is_the_version(client, integration):
    post_gitlab(client, DEPLOYMENT_EVENT, derive(DEPLOYMENT, commit_url=None))

    deploy = Deploy.objects.get()
    assert deploy.version == "279484c0"
    assert deploy.diff_url == ""


def test_the_mapping_of_path_with_namespace_wins(client):
    IntegrationFactory(kind="gitlab", service_mapping={"root/test-deployment-webhooks": "web"})

    post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT)

    assert Deploy.objects.get().service.slug == "web"


def test_a_project_name_with_spaces_becomes_a_slug(client, integration):
    project = {**DEPLOYMENT["project"], "name": "Test Deployment Webhooks"}

    post_gitlab(client, DEPLOYMENT_EVENT, derive(DEPLOYMENT, project=project))

    assert Deploy.objects.get().service.slug == "test-deployment-webhooks"


@pytest.mark.parametrize("value", ["2021-04-28T21:50:00", "28/04/2021 21:50", "2021-04-28 21:50:00"])
def test_a_malformed_status_changed_at_fails_naming_the_field(client, integration, value):
    post_gitlab(client, DEPLOYMENT_EVENT, derive(DEPLOYMENT, status_changed_at=value))

    delivery = only_delivery()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.outcome.startswith("status_changed_at is not a GitLab time")
    assert not Deploy.objects.exists()


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        ("status", "status is missing"),
        ("deployment_id", "deployment_id is missing"),
        ("status_changed_at", "status_changed_at is missing"),
        ("environment", "environment is missing"),
        ("user", "user.username is missing"),
        ("project", "project.path_with_namespace is missing"),
    ],
)
def test_a_missing_field_fails_naming_it(client, integration, missing, reason):
    post_gitlab(client, DEPLOYMENT_EVENT, derive(DEPLOYMENT, **{missing: None}))

    assert (only_delivery().status, only_delivery().outcome) == (Delivery.Status.FAILED, reason)


def test_no_sha_at_all_fails_naming_the_field(client, integration):
    post_gitlab(client, DEPLOYMENT_EVENT, derive(DEPLOYMENT, commit_url=None, short_sha=None))

    assert only_delivery().outcome == "short_sha is missing"


def test_documented_push_then_deployment_gives_commits_with_lead_times(client, integration):
    # The documented push (project mike/diaspora, two commits) then a deployment of its head to
    # production, derived from the documented deployment for that project.
    deployment = derive(
        DEPLOYMENT,
        project=PUSH["project"],
        environment="production",
        short_sha="da156088",
        commit_url="http://example.com/mike/diaspora/-/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    )

    post_gitlab(client, PUSH_EVENT, PUSH)
    post_gitlab(client, DEPLOYMENT_EVENT, deployment)

    older = dt.datetime(2011, 12, 12, 12, 27, 31, tzinfo=UTC)  # 2011-12-12T14:27:31+02:00
    newer = dt.datetime(2012, 1, 3, 21, 36, 29, tzinfo=UTC)  # 2012-01-03T23:36:29+02:00
    assert list(PushedCommit.objects.values_list("service__slug", "sha", "authored_at")) == [
        ("diaspora", "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327", older),
        ("diaspora", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", newer),
    ]
    deploy = Deploy.objects.get()
    deployed_at = dt.datetime(2021, 4, 28, 19, 50, tzinfo=UTC)
    assert (deploy.service.slug, deploy.version, deploy.deployed_at) == (
        "diaspora",
        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        deployed_at,
    )
    rows = list(deploy.commits.values_list("sha", "authored_at", "first_delivered_at", "lead_seconds"))
    assert rows == [
        ("b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327", older, deployed_at, (deployed_at - older).total_seconds()),
        ("da1560886d4f094c3e6c9ef40349f7d38b5d27d7", newer, deployed_at, (deployed_at - newer).total_seconds()),
    ]


def test_push_to_another_branch_is_ignored(client, integration):
    post_gitlab(client, PUSH_EVENT, derive(PUSH, ref="refs/heads/feature"))

    assert (only_delivery().status, only_delivery().outcome) == (
        Delivery.Status.IGNORED,
        "push to refs/heads/feature, not the default branch",
    )
    assert not PushedCommit.objects.exists()


def test_a_push_commit_with_a_bad_timestamp_fails_naming_it(client, integration):
    commits = [dict(PUSH["commits"][0], timestamp="last tuesday")]

    post_gitlab(client, PUSH_EVENT, derive(PUSH, commits=commits))

    assert only_delivery().outcome == "commits[0].timestamp is not an ISO 8601 time: 'last tuesday'"
    assert not PushedCommit.objects.exists()


def test_other_events_are_ignored_naming_them(client, integration):
    post_gitlab(client, "Tag Push Hook", derive(PUSH, object_kind="tag_push", ref="refs/tags/v1.0.0"))

    assert (only_delivery().status, only_delivery().outcome) == (
        Delivery.Status.IGNORED,
        "event 'tag_push' is not used by Opslog",
    )


def test_the_same_idempotency_key_twice_is_one_delivery(client, integration):
    first = post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT, key="k-1")
    second = post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT, key="k-1")

    assert second.json() == {"delivery": first.json()["delivery"], "duplicate": True}
    assert Delivery.objects.count() == 1
    assert Deploy.objects.count() == 1


def test_the_event_uuid_names_the_delivery_without_an_idempotency_key(client, integration):
    post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT, HTTP_X_GITLAB_EVENT_UUID="uuid-1")

    assert only_delivery().delivery_id == "uuid-1"


def test_replaying_changes_nothing(client, integration):
    post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT)
    before = list(Deploy.objects.values())

    result = delivery_replay(delivery=only_delivery())

    assert list(Deploy.objects.values()) == before
    assert result.outcome == f"deploy {Deploy.objects.get().pk} already recorded"


@pytest.mark.parametrize("token", [None, "", "not-the-token", SECRET + " "])
def test_a_missing_or_wrong_token_is_refused_and_nothing_stored(client, integration, token):
    response = post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT, token=token)

    assert response.status_code == 401
    assert not Delivery.objects.exists()


def test_an_inactive_integrations_token_is_refused(client):
    IntegrationFactory(kind="gitlab", is_active=False)

    assert post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT).status_code == 401


def test_an_integration_with_an_empty_secret_accepts_nothing(client):
    IntegrationFactory(kind="gitlab", secret="")

    assert post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT, token="").status_code == 401


def test_the_token_is_not_stored_with_the_delivery(client, integration):
    post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT)

    headers = only_delivery().headers
    assert headers["X-Gitlab-Token"] == "[redacted]"
    assert SECRET not in str(headers)


def test_a_replay_after_the_mapping_changed_says_where_the_deploy_already_is(client, integration):
    post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT)
    deploy = Deploy.objects.get()
    integration.service_mapping = {"root/test-deployment-webhooks": "web"}
    integration.save()

    result = delivery_replay(delivery=only_delivery())

    assert Deploy.objects.get().pk == deploy.pk
    assert deploy.delivery_key == f"integration:{integration.pk}:gitlab-deployment:15:success"
    assert result.outcome == (
        f"deploy {deploy.pk} already recorded, under service test-deployment-webhooks; the mapping now gives web, "
        "and a replay doesn't move a deploy (change its service in the admin)"
    )
    # The replay made no service of the new mapping either.
    assert not Service.objects.filter(slug="web").exists()


def test_a_deploy_recorded_before_delivery_keys_is_found_and_keyed_by_a_replay(client, integration):
    post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT)
    Deploy.objects.update(delivery_key="")  # as deploys were stored before they kept one

    delivery_replay(delivery=only_delivery())
    integration.service_mapping = {"root/test-deployment-webhooks": "web"}
    integration.save()
    delivery_replay(delivery=only_delivery())

    deploy = Deploy.objects.get()
    assert deploy.delivery_key == f"integration:{integration.pk}:gitlab-deployment:15:success"
