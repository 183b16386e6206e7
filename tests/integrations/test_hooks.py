"""The path every webhook sender shares (/hooks/<kind>/ → stored Delivery → process_delivery task),
exercised through the GitHub and GitLab senders. Bad input never gives a 500."""

import dataclasses
import json

import pytest
from django.test import Client

from deploys.models import Deploy
from integrations import tasks
from integrations.factories import IntegrationFactory
from integrations.models import Delivery
from integrations.services import delivery_process, delivery_replay
from plumbing.webhooks import SENDERS
from tests.support.concurrency import at_once
from tests.support.hooks import github_example, github_headers, post, post_github, post_gitlab
from tests.support.payloads.gitlab import DEPLOYMENT, DEPLOYMENT_EVENT


@pytest.fixture
def github():
    return IntegrationFactory(kind="github")


@pytest.mark.django_db
def test_an_unknown_kind_is_404(client, github):
    response = client.post("/hooks/bitbucket/", data=b"{}", content_type="application/json")

    assert response.status_code == 404
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_only_post_is_accepted(client, github):
    assert client.get("/hooks/github/").status_code == 405


@pytest.mark.django_db
def test_a_body_over_the_limit_is_413_and_not_stored(client, github, settings):
    settings.OPSLOG_WEBHOOK_MAX_BYTES = 1024
    body = json.dumps({"padding": "x" * 2000}).encode()

    response = post(client, "/hooks/github/", body, **github_headers("push", body))

    assert response.status_code == 413
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_a_body_over_the_form_limit_but_under_the_webhook_limit_is_accepted(client, github, settings):
    # DATA_UPLOAD_MAX_MEMORY_SIZE is for forms; a big push or alert batch answers to its own limit.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.OPSLOG_WEBHOOK_MAX_BYTES = 64 * 1024
    body = json.dumps({"zen": "x" * 4000}).encode()

    response = post(client, "/hooks/github/", body, **github_headers("ping", body, delivery="big-1"))

    assert response.status_code == 202
    assert Delivery.objects.get().body == body.decode()


@pytest.mark.django_db
def test_an_integration_whose_secret_cant_be_decrypted_does_not_block_the_others(client, settings):
    IntegrationFactory(kind="github", name="A broken one", secret_encrypted="not-a-fernet-token")
    working = IntegrationFactory(kind="github", name="B working")
    body = json.dumps({"zen": "hi"}).encode()

    response = post(client, "/hooks/github/", body, **github_headers("ping", body, delivery="p-1"))

    assert response.status_code == 202
    assert Delivery.objects.get().integration == working


@pytest.mark.django_db
def test_a_signed_body_that_is_not_json_is_stored_and_failed_with_the_reason(client, github):
    body = b"payload=%7B%22zen%22%3A%22hi%22%7D"  # the form-encoded content type, chosen by mistake

    response = post(client, "/hooks/github/", body, **github_headers("ping", body, delivery="form-1"))

    assert response.status_code == 202
    delivery = Delivery.objects.get()
    assert (delivery.delivery_id, delivery.body) == ("form-1", body.decode())
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.outcome.startswith("The body is not valid JSON: ")


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"[]", b'"deployment"', b"null", b"42"])
def test_json_that_is_not_an_object_fails_with_the_reason(client, github, body):
    response = post(client, "/hooks/github/", body, **github_headers("deployment_status", body))

    assert response.status_code == 202
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.outcome) == (Delivery.Status.FAILED, "the body is not a JSON object")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"deployment_status": "success"},
        {"deployment_status": {"state": "success"}, "deployment": ["sha"]},
        {"deployment_status": {"state": "success", "creator": 7}, "deployment": {"sha": "a" * 40}},
        {
            "deployment_status": {"state": "success", "creator": {"login": "x"}, "updated_at": 5},
            "deployment": {"sha": "a" * 40},
        },
    ],
)
def test_odd_shapes_fail_with_a_reason_never_a_500(client, github, payload):
    response = post_github(client, "deployment_status", payload)

    assert response.status_code == 202
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.outcome and "Error" not in delivery.outcome  # a reason, not a traceback's last line
    assert delivery.attempts == 1


@pytest.mark.django_db
def test_an_adapter_error_fails_the_delivery_for_a_retry_and_a_replay_recovers(client, github, monkeypatch):
    success = github_example("deployment_status", state="success")
    real = SENDERS["github"]

    def broken(delivery, payload):
        raise RuntimeError("database hiccup")

    monkeypatch.setitem(SENDERS, "github", dataclasses.replace(real, process=broken))
    assert post_github(client, "deployment_status", success).status_code == 202

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.outcome, delivery.attempts) == (
        Delivery.Status.FAILED,
        "RuntimeError: database hiccup",
        1,
    )
    assert not Deploy.objects.exists()
    # What the task's retry runs: the same failure asks to be retried (a rejected payload would not).
    result = delivery_process(delivery_id=delivery.pk)
    assert (result.status, result.retry) == (Delivery.Status.FAILED, True)

    monkeypatch.setitem(SENDERS, "github", real)
    result = delivery_process(delivery_id=delivery.pk)  # the next retry, once the hiccup is over

    deploy = Deploy.objects.get()
    assert (result.status, result.outcome, result.retry) == (
        Delivery.Status.PROCESSED,
        f"deploy {deploy.pk} created",
        False,
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.PROCESSED, 3)


@pytest.mark.django_db
def test_a_rejected_payload_is_not_retried(client, github):
    success = github_example("deployment_status", state="success")
    del success["deployment"]["sha"]
    post_github(client, "deployment_status", success)

    result = delivery_process(delivery_id=Delivery.objects.get().pk)

    # Run again, as a retry would: the same reason, and no retry asked for.
    assert (result.status, result.outcome, result.retry) == (Delivery.Status.FAILED, "deployment.sha is missing", False)


@pytest.mark.django_db
def test_the_task_retries_an_adapter_error_with_backoff(github, monkeypatch, settings):
    settings.OPSLOG_WEBHOOK_RETRY_DELAY = 10.0
    settings.OPSLOG_WEBHOOK_MAX_RETRIES = 6
    delivery = Delivery.objects.create(
        integration=github, kind="github", event="deployment_status", delivery_id="d", body="{}"
    )

    def broken(delivery, payload):
        raise RuntimeError("boom")

    monkeypatch.setitem(SENDERS, "github", dataclasses.replace(SENDERS["github"], process=broken))
    retries = []

    class Retry(Exception):
        pass

    def retry(**kwargs):
        retries.append(kwargs)
        raise Retry

    monkeypatch.setattr(tasks.process_delivery, "retry", retry)
    # As a worker runs it (not eager), on its third attempt.
    tasks.process_delivery.push_request(is_eager=False, retries=2)
    try:
        with pytest.raises(Retry):
            tasks.process_delivery.run(delivery.pk)
    finally:
        tasks.process_delivery.pop_request()

    assert retries == [{"countdown": 40.0, "max_retries": 6}]  # 10 s × 2²
    delivery.refresh_from_db()
    assert (delivery.status, delivery.outcome) == (Delivery.Status.FAILED, "RuntimeError: boom")


@pytest.mark.django_db
def test_replaying_an_ignored_delivery_changes_nothing(client, github):
    ping = {"zen": "Design for failure.", "hook_id": 1}
    post_github(client, "ping", ping)
    delivery = Delivery.objects.get()

    result = delivery_replay(delivery=delivery)

    assert (result.status, result.outcome) == (Delivery.Status.IGNORED, "ping")
    assert not Deploy.objects.exists()


@pytest.mark.django_db
def test_each_sender_only_reads_its_own_hook(client):
    IntegrationFactory(kind="github")
    IntegrationFactory(kind="gitlab")

    assert post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT).status_code == 202
    assert Delivery.objects.get().kind == "gitlab"


# --- Many identical deliveries at once (PostgreSQL) ---------------------------------------------

CONCURRENCY = 20


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_same_delivery_posted_many_times_at_once_takes_effect_once():
    IntegrationFactory(kind="github")
    success = github_example("deployment_status", state="success")
    body = json.dumps(success).encode()
    headers = github_headers("deployment_status", body, delivery="the-one-delivery")

    def send(index):
        response = Client().post("/hooks/github/", data=body, content_type="application/json", **headers)
        return response.status_code, response.json()

    results = at_once(CONCURRENCY, send)

    assert sorted(status for status, _ in results) == [202] * CONCURRENCY
    assert sorted(payload["duplicate"] for _, payload in results) == [False] + [True] * (CONCURRENCY - 1)
    assert len({payload["delivery"] for _, payload in results}) == 1
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PROCESSED
    assert Deploy.objects.count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_distinct_deliveries_of_one_status_at_once_record_one_deploy():
    # GitHub's "redeliver" gives a new X-GitHub-Delivery: only the status id keeps it single.
    IntegrationFactory(kind="github")
    success = github_example("deployment_status", state="success")
    body = json.dumps(success).encode()

    def send(index):
        response = Client().post(
            "/hooks/github/",
            data=body,
            content_type="application/json",
            **github_headers("deployment_status", body, delivery=f"redelivery-{index}"),
        )
        return response.status_code

    statuses = at_once(CONCURRENCY, send)

    assert statuses == [202] * CONCURRENCY
    assert Delivery.objects.count() == CONCURRENCY
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.PROCESSED}
    deploy = Deploy.objects.get()
    assert sorted(Delivery.objects.values_list("outcome", flat=True)) == sorted(
        [f"deploy {deploy.pk} created"] + [f"deploy {deploy.pk} already recorded"] * (CONCURRENCY - 1)
    )
