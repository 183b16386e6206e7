"""GitHub webhooks on GitHub's own published payloads (@octokit/webhooks-examples), through the full
path: signed HTTP POST → stored Delivery → Celery task (in-process here) → deploys and commits.

The package has no failed deployment status: failure/error/pending variants are the real success
example with its state changed, signed like any other.
"""

import datetime as dt

import pytest

from deploys.models import Deploy, DeployCommit, PushedCommit
from integrations.factories import IntegrationFactory
from integrations.models import Delivery
from integrations.services import delivery_replay
from reports.selectors import monthly_report
from tests.support.hooks import SECRET, github_example, github_examples, post_github

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def integration():
    return IntegrationFactory(kind="github", name="GitHub Codertocat")


@pytest.fixture
def success():
    return github_example("deployment_status", state="success")


@pytest.fixture
def push():
    return github_example("push", ref="refs/heads/master")


def with_state(example: dict, state: str, status_id: int | None = None) -> dict:
    example["deployment_status"]["state"] = state
    if status_id is not None:
        example["deployment_status"]["id"] = status_id
    return example


def only_delivery() -> Delivery:
    [delivery] = Delivery.objects.all()
    return delivery


def test_published_success_example_records_a_succeeded_deploy(client, integration, success):
    response = post_github(client, "deployment_status", success, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")

    assert response.status_code == 202
    delivery = only_delivery()
    assert response.json() == {"delivery": delivery.pk, "duplicate": False}
    assert (delivery.kind, delivery.event, delivery.delivery_id) == (
        "github",
        "deployment_status",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    )
    [deploy] = Deploy.objects.all()
    assert delivery.status == Delivery.Status.PROCESSED
    assert delivery.outcome == f"deploy {deploy.pk} created"
    # Every value below is read off the published payload.
    assert deploy.service.slug == "hello-world"  # repository.name "Hello-World", unmapped
    assert deploy.environment.slug == success["deployment"]["environment"] == "production"
    assert deploy.version == success["deployment"]["sha"] == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert deploy.deployer == success["deployment_status"]["creator"]["login"] == "Codertocat"
    assert deploy.deployed_at == dt.datetime(2019, 5, 15, 15, 20, 55, tzinfo=UTC)  # deployment_status.updated_at
    assert deploy.status == Deploy.Status.SUCCEEDED
    assert deploy.message == ""  # deployment.description is null
    assert deploy.external_id == "github-deployment-status:209916254"
    assert deploy.diff_url == (
        "https://github.com/Codertocat/Hello-World/commit/f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    )
    assert deploy.previous_version == ""
    # The sha was never pushed: the head alone, with no authored time (so no lead time).
    [commit] = deploy.commits.all()
    assert (commit.sha, commit.authored_at, commit.lead_seconds) == (deploy.version, None, None)
    assert commit.first_delivered_at == deploy.deployed_at


@pytest.mark.parametrize("state", ["failure", "error"])
def test_failure_and_error_statuses_record_failed_deploys(client, integration, success, state):
    response = post_github(client, "deployment_status", with_state(success, state))

    assert response.status_code == 202
    [deploy] = Deploy.objects.all()
    assert deploy.status == Deploy.Status.FAILED
    assert deploy.version == success["deployment"]["sha"]
    assert only_delivery().status == Delivery.Status.PROCESSED


def test_published_in_progress_example_is_recorded_and_ignored(client, integration):
    in_progress = github_example("deployment_status", state="in_progress")

    response = post_github(client, "deployment_status", in_progress)

    assert response.status_code == 202
    delivery = only_delivery()
    assert delivery.status == Delivery.Status.IGNORED
    assert delivery.outcome == "deployment status 'in_progress' is recorded and ignored"
    assert not Deploy.objects.exists()


@pytest.mark.parametrize("state", ["pending", "queued", "inactive"])
def test_other_states_are_recorded_and_ignored(client, integration, success, state):
    post_github(client, "deployment_status", with_state(success, state))

    delivery = only_delivery()
    assert (delivery.status, delivery.outcome) == (
        Delivery.Status.IGNORED,
        f"deployment status '{state}' is recorded and ignored",
    )
    assert not Deploy.objects.exists()


def test_the_mapping_of_the_repository_full_name_wins_over_its_name(client, success):
    IntegrationFactory(kind="github", service_mapping={"Codertocat/Hello-World": "web", "other/repo": "api"})

    post_github(client, "deployment_status", success)

    assert Deploy.objects.get().service.slug == "web"


def test_a_mapping_to_something_that_is_not_a_slug_fails_the_delivery(client, success):
    IntegrationFactory(kind="github", service_mapping={"Codertocat/Hello-World": "Web App"})

    post_github(client, "deployment_status", success)

    delivery = only_delivery()
    assert delivery.status == Delivery.Status.FAILED
    assert "'Web App'" in delivery.outcome and "not a service slug" in delivery.outcome
    assert not Deploy.objects.exists()


def test_the_deployer_is_who_created_the_deployment_not_the_bot_posting_its_status(client, integration, success):
    success["deployment"]["creator"]["login"] = "mona"
    success["deployment_status"]["creator"]["login"] = "github-actions[bot]"

    post_github(client, "deployment_status", success)

    assert Deploy.objects.get().deployer == "mona"


def test_deployer_falls_back_to_the_status_creator(client, integration, success):
    success["deployment"]["creator"] = None

    post_github(client, "deployment_status", success)

    assert Deploy.objects.get().deployer == success["deployment_status"]["creator"]["login"]


def test_signature_headers_are_stored_redacted(client, integration, success):
    post_github(client, "deployment_status", success)

    headers = {name.lower(): value for name, value in only_delivery().headers.items()}
    assert headers["x-hub-signature-256"] == "[redacted]"
    assert headers["x-github-event"] == "deployment_status"


def test_push_then_deployment_of_that_sha_gives_commits_with_a_lead_time(client, integration, push, success):
    # The published push (one commit, 6113728…, authored 15:19:25Z) deployed by the published status
    # (15:20:55Z) once it names that sha: 90 seconds of lead time.
    head = push["head_commit"]["id"]
    success["deployment"]["sha"] = head

    assert post_github(client, "push", push).status_code == 202
    assert post_github(client, "deployment_status", success).status_code == 202

    [pushed] = PushedCommit.objects.all()
    assert (pushed.service.slug, pushed.sha) == ("hello-world", head)
    assert pushed.authored_at == dt.datetime(2019, 5, 15, 15, 19, 25, tzinfo=UTC)
    assert pushed.message == "Initial commit"
    deploy = Deploy.objects.get()
    [commit] = deploy.commits.all()
    assert (commit.sha, commit.authored_at, commit.message) == (head, pushed.authored_at, "Initial commit")
    assert commit.first_delivered_at == deploy.deployed_at
    assert commit.lead_seconds == 90.0


def test_a_deploy_ships_the_commits_pushed_up_to_its_sha_not_yet_shipped(client, integration, push, success):
    # Derived from the published push: three commits, an hour apart, pushed in one go.
    template = push["commits"][0]
    shas = ["a" * 40, "b" * 40, "c" * 40]
    push["commits"] = [
        {**template, "id": sha, "message": f"change {n}", "timestamp": f"2019-05-15T1{2 + n}:00:00Z"}
        for n, sha in enumerate(shas)
    ]
    post_github(client, "push", push)

    def deploy_at(sha, status_id, state="success", at="2019-05-15T16:00:00Z"):
        status = with_state(github_example("deployment_status", state="success"), state, status_id)
        status["deployment"]["sha"] = sha
        status["deployment_status"]["updated_at"] = at
        post_github(client, "deployment_status", status)
        return Deploy.objects.get(external_id=f"github-deployment-status:{status_id}")

    first = deploy_at(shas[1], 1)
    failed = deploy_at(shas[2], 2, state="failure", at="2019-05-15T17:00:00Z")
    second = deploy_at(shas[2], 3, at="2019-05-15T18:00:00Z")

    assert list(first.commits.values_list("sha", "lead_seconds")) == [(shas[0], 4 * 3600.0), (shas[1], 3 * 3600.0)]
    # A failed deploy shipped nothing: the commit stays due for the next deploy, which counts it.
    assert list(failed.commits.values_list("sha", "lead_seconds")) == [(shas[2], None)]
    assert list(second.commits.values_list("sha", "lead_seconds")) == [(shas[2], 4 * 3600.0)]
    assert second.previous_version == shas[1]
    assert second.diff_url == f"https://github.com/Codertocat/Hello-World/compare/{shas[1]}...{shas[2]}"


def test_a_push_of_more_commits_than_a_deploy_may_list_is_recorded(client, integration, push):
    # GitHub lists up to 2,048 commits in a push; the API's 1,000 a deploy is for what a sender lists.
    template = push["commits"][0]
    push["commits"] = [{**template, "id": f"{n:040x}"} for n in range(1, 1202)]

    assert post_github(client, "push", push).status_code == 202

    assert only_delivery().status == Delivery.Status.PROCESSED, only_delivery().outcome
    assert PushedCommit.objects.count() == 1201


def three_commit_push(push: dict) -> list[str]:
    """The published push made into three commits, authored at 12:00, 13:00 and 14:00Z."""
    template = push["commits"][0]
    shas = ["a" * 40, "b" * 40, "c" * 40]
    push["commits"] = [
        {**template, "id": sha, "message": f"change {n}", "timestamp": f"2019-05-15T1{2 + n}:00:00Z"}
        for n, sha in enumerate(shas)
    ]
    return shas


def deploy_of(client, sha: str, status_id: int, at: str, environment: str = "production") -> Deploy:
    status = github_example("deployment_status", state="success")
    status["deployment"]["sha"] = sha
    status["deployment"]["environment"] = environment
    status["deployment_status"]["id"] = status_id
    status["deployment_status"]["updated_at"] = at
    post_github(client, "deployment_status", status)
    return Deploy.objects.get(external_id=f"github-deployment-status:{status_id}")


def test_a_push_that_arrives_after_its_deploy_fills_in_the_deploys_commits(client, integration, push):
    shas = three_commit_push(push)
    # GitHub doesn't keep order between webhooks: the deploys of b (16:00Z, to staging then
    # production) arrive before the push, and get b alone, with no lead time.
    staging = deploy_of(client, shas[1], 1, "2019-05-15T15:30:00Z", environment="staging")
    production = deploy_of(client, shas[1], 2, "2019-05-15T16:00:00Z")
    assert list(production.commits.values_list("sha", "authored_at")) == [(shas[1], None)]

    post_github(client, "push", push)

    # Each environment's deploy of b shipped a and b; c was pushed after, for a later deploy.
    assert list(staging.commits.values_list("sha", "message")) == [(shas[0], "change 0"), (shas[1], "change 1")]
    assert list(production.commits.values_list("sha", "lead_seconds", "first_delivered_at")) == [
        (shas[0], 4 * 3600.0, production.deployed_at),
        (shas[1], 3 * 3600.0, production.deployed_at),
    ]
    later = deploy_of(client, shas[2], 3, "2019-05-15T18:00:00Z")
    assert list(later.commits.values_list("sha", "lead_seconds")) == [(shas[2], 4 * 3600.0)]
    # The report counts them: lead times 4 h, 3 h and 4 h, median 4 h.
    may = monthly_report(first=dt.date(2019, 5, 1), last=dt.date(2019, 5, 1)).totals
    assert may.lead_time_seconds.median == 4 * 3600.0


def test_a_late_push_leaves_deploys_that_listed_their_commits_alone(client, integration, push, ingest_key):
    shas = three_commit_push(push)
    # A CI system posted this deploy of b with the one commit it knows, authored at 15:00Z.
    listed = {
        "service": "hello-world",
        "environment": "production",
        "version": shas[1],
        "deployer": "ci",
        "deployed_at": "2019-05-15T16:00:00Z",
        "commits": [{"sha": shas[1], "authored_at": "2019-05-15T15:00:00Z"}],
    }
    response = client.post(
        "/api/deploys/", listed, content_type="application/json", HTTP_AUTHORIZATION=f"Token {ingest_key}"
    )
    assert response.status_code == 201, response.content
    of_a = deploy_of(client, shas[0], 1, "2019-05-15T15:00:00Z")  # a, before the push: a alone

    post_github(client, "push", push)
    post_github(client, "push", push)  # redelivered: nothing more changes

    deploy = Deploy.objects.get(pk=response.json()["id"])
    assert list(deploy.commits.values_list("sha", "lead_seconds")) == [(shas[1], 3600.0)]
    assert list(of_a.commits.values_list("sha", "lead_seconds")) == [(shas[0], 3 * 3600.0)]


def test_the_same_push_twice_stores_each_commit_once(client, integration, push):
    post_github(client, "push", push)
    post_github(client, "push", push)  # a new X-GitHub-Delivery: GitHub's "redeliver"

    assert PushedCommit.objects.count() == len(push["commits"]) == 1
    first, second = Delivery.objects.order_by("id")
    assert first.outcome == "1 new commit(s) of hello-world recorded"
    assert second.outcome == "0 new commit(s) of hello-world recorded"


def test_published_tag_push_is_ignored(client, integration):
    tag_push = github_example("push", ref="refs/tags/simple-tag")

    post_github(client, "push", tag_push)

    delivery = only_delivery()
    assert (delivery.status, delivery.outcome) == (
        Delivery.Status.IGNORED,
        "push to refs/tags/simple-tag, not the default branch",
    )
    assert not PushedCommit.objects.exists()


def test_push_to_another_branch_is_ignored(client, integration, push):
    push["ref"] = "refs/heads/feature"

    post_github(client, "push", push)

    assert only_delivery().outcome == "push to refs/heads/feature, not the default branch"
    assert not PushedCommit.objects.exists()


def test_published_ping_is_ignored(client, integration):
    ping = github_examples("ping")[0]

    assert post_github(client, "ping", ping).status_code == 202

    assert (only_delivery().status, only_delivery().outcome) == (Delivery.Status.IGNORED, "ping")


def test_an_event_opslog_does_not_use_is_ignored_naming_it(client, integration):
    issues = github_examples("issues")[0]

    post_github(client, "issues", issues)

    assert (only_delivery().status, only_delivery().outcome) == (
        Delivery.Status.IGNORED,
        "event 'issues' is not used by Opslog",
    )


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (("deployment", "sha"), "deployment.sha is missing"),
        (("deployment", "environment"), "deployment.environment is missing"),
        (("deployment_status", "state"), "deployment_status.state is missing"),
        (("deployment_status", "id"), "deployment_status.id is missing"),
        (("repository", "full_name"), "repository.full_name is missing"),
        (("deployment",), "deployment.sha is missing"),
    ],
)
def test_a_missing_field_fails_the_delivery_naming_it(client, integration, success, path, reason):
    parent = success
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]

    response = post_github(client, "deployment_status", success)

    assert response.status_code == 202
    delivery = only_delivery()
    assert (delivery.status, delivery.outcome) == (Delivery.Status.FAILED, reason)
    assert not Deploy.objects.exists()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"updated_at": "yesterday"}, "deployment_status.updated_at is not an ISO 8601 time: 'yesterday'"),
        ({"updated_at": "2019-05-15T15:20:55"}, "deployment_status.updated_at has no time zone: '2019-05-15T15:20:55'"),
        ({"state": ["success"]}, "deployment_status.state is not a string: ['success']"),
    ],
)
def test_a_malformed_field_fails_the_delivery_naming_it(client, integration, success, change, reason):
    success["deployment_status"].update(change)

    post_github(client, "deployment_status", success)

    assert (only_delivery().status, only_delivery().outcome) == (Delivery.Status.FAILED, reason)


def test_a_sha_that_is_not_a_sha_fails_the_delivery(client, integration, success):
    success["deployment"]["sha"] = "main; rm -rf /"

    post_github(client, "deployment_status", success)

    assert only_delivery().outcome == "deployment.sha is not a commit sha: 'main; rm -rf /'"


def test_the_same_delivery_posted_twice_takes_effect_once(client, integration, success):
    first = post_github(client, "deployment_status", success, delivery="d-1")
    second = post_github(client, "deployment_status", success, delivery="d-1")

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["duplicate"] is False
    assert second.json() == {"delivery": first.json()["delivery"], "duplicate": True}
    assert Delivery.objects.count() == 1
    assert Deploy.objects.count() == 1


def test_replaying_a_processed_delivery_changes_nothing(client, integration, push, success):
    success["deployment"]["sha"] = push["head_commit"]["id"]
    post_github(client, "push", push)
    post_github(client, "deployment_status", success)
    before = (
        list(Deploy.objects.values()),
        list(DeployCommit.objects.values()),
        list(PushedCommit.objects.values()),
    )

    for delivery in Delivery.objects.order_by("id"):
        result = delivery_replay(delivery=delivery)
        assert result.status == Delivery.Status.PROCESSED

    after = (
        list(Deploy.objects.values()),
        list(DeployCommit.objects.values()),
        list(PushedCommit.objects.values()),
    )
    assert after == before
    deploy = Deploy.objects.get()
    assert Delivery.objects.get(event="deployment_status").outcome == f"deploy {deploy.pk} already recorded"


def test_the_same_status_id_in_two_deliveries_records_one_deploy(client, integration, success):
    post_github(client, "deployment_status", success, delivery="first")
    post_github(client, "deployment_status", success, delivery="second")

    deploy = Deploy.objects.get()
    assert list(Delivery.objects.order_by("id").values_list("delivery_id", "outcome")) == [
        ("first", f"deploy {deploy.pk} created"),
        ("second", f"deploy {deploy.pk} already recorded"),
    ]


@pytest.mark.parametrize("secret", [None, "not-the-secret", ""])
def test_a_missing_or_wrong_signature_is_refused_and_nothing_stored(client, integration, success, secret):
    response = post_github(client, "deployment_status", success, secret=secret)

    assert response.status_code == 401
    assert not Delivery.objects.exists()
    assert not Deploy.objects.exists()


def test_a_signature_of_another_body_is_refused(client, integration, success):
    body = b'{"tampered": true}'
    from tests.support.hooks import signature

    response = client.post(
        "/hooks/github/",
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="deployment_status",
        HTTP_X_GITHUB_DELIVERY="x",
        HTTP_X_HUB_SIGNATURE_256=signature(SECRET, b"{}"),
    )

    assert response.status_code == 401
    assert not Delivery.objects.exists()


def test_the_old_sha1_signature_alone_is_refused(client, integration, success):
    import hashlib
    import hmac
    import json

    body = json.dumps(success).encode()
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()

    response = client.post(
        "/hooks/github/",
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="deployment_status",
        HTTP_X_GITHUB_DELIVERY="x",
        HTTP_X_HUB_SIGNATURE=sha1,
    )

    assert response.status_code == 401


def test_an_inactive_integrations_secret_is_refused(client, success):
    IntegrationFactory(kind="github", is_active=False)

    assert post_github(client, "deployment_status", success).status_code == 401
    assert not Delivery.objects.exists()


def test_an_integration_with_an_empty_secret_accepts_nothing(client, success):
    IntegrationFactory(kind="github", secret="")

    assert post_github(client, "deployment_status", success, secret="").status_code == 401


def test_a_gitlab_integrations_secret_does_not_open_the_github_hook(client, success):
    IntegrationFactory(kind="gitlab")

    assert post_github(client, "deployment_status", success).status_code == 401


def test_the_delivery_goes_to_the_integration_whose_secret_signed_it(client, success):
    IntegrationFactory(kind="github", name="other", secret="another-secret")
    mine = IntegrationFactory(kind="github", name="mine", service_mapping={"Codertocat/Hello-World": "mine"})

    post_github(client, "deployment_status", success)

    assert only_delivery().integration == mine
    assert Deploy.objects.get().service.slug == "mine"
