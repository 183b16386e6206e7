"""Values a signed sender may still get wrong: each is refused with a reason (never retried, never a
500, nothing stored but the delivery), as the deploys API would refuse it."""

import datetime as dt
import json

import pytest
from django.test import TestCase
from django.utils import timezone

from deploys.adapters import record_deploy
from deploys.models import Deploy
from deploys.services import CommitInput, DeployInput, deploy_record_from_hook
from integrations import tasks
from integrations.factories import DeliveryFactory, IntegrationFactory
from integrations.models import Delivery
from integrations.services import delivery_process
from plumbing.webhooks import DeliveryRejected
from tests.support.hooks import github_headers, post, post_gitlab
from tests.support.payloads.gitlab import DEPLOYMENT, DEPLOYMENT_EVENT, derive

pytestmark = pytest.mark.django_db


@pytest.fixture
def gitlab():
    return IntegrationFactory(kind="gitlab")


@pytest.fixture
def github():
    return IntegrationFactory(kind="github")


def only_delivery() -> Delivery:
    [delivery] = Delivery.objects.all()
    return delivery


@pytest.mark.parametrize(
    "changes, reason",
    [
        # A javascript: URL would become the deploy's diff link on every page that lists it.
        ({"commit_url": "javascript:alert(document.cookie)//-/commit/" + "a" * 40}, "diff_url: Enter an http(s) URL."),
        (
            {"status_changed_at": "2999-06-01 10:00:00 +0000"},
            "deployed_at: A deploy can't have gone live in the future.",
        ),
        ({"status_changed_at": "9999-12-31 23:59:59 -1400"}, "not between 1970 and 2999"),
        ({"deployment_id": "9" * 300}, "external_id: Ensure this field has no more than 200 characters."),
        # The deploys API's limit (deploys.limits.MAX_DEPLOY_MESSAGE_LENGTH), in the API's words.
        ({"commit_title": "m" * 10_001}, "The deploy's message: Ensure this field has no more than 10000 characters."),
    ],
)
def test_a_bad_value_fails_the_delivery_with_the_reason_and_stores_no_deploy(client, gitlab, changes, reason):
    response = post_gitlab(client, DEPLOYMENT_EVENT, derive(DEPLOYMENT, **changes))

    assert response.status_code == 202
    delivery = only_delivery()
    assert delivery.status == Delivery.Status.FAILED
    assert reason in delivery.outcome
    assert not Deploy.objects.exists()
    # Refused, not an error to retry.
    assert delivery_process(delivery_id=delivery.pk, replay=True).retry is False


def test_a_message_of_10000_characters_is_recorded(client, gitlab):
    post_gitlab(client, DEPLOYMENT_EVENT, derive(DEPLOYMENT, commit_title="m" * 10_000))

    assert only_delivery().status == Delivery.Status.PROCESSED, only_delivery().outcome
    assert len(Deploy.objects.get().message) == 10_000


@pytest.mark.parametrize(
    "changes, reason",
    [
        (
            {"duration_seconds": 1e308},
            "The deploy's duration_seconds: Ensure this value is less than or equal to 604800.",
        ),
        ({"duration_seconds": float("nan")}, "The deploy's duration_seconds: A valid number is required."),
        ({"duration_seconds": -1.0}, "The deploy's duration_seconds: Ensure this value is greater than or equal to 0."),
        (
            {"commits": [CommitInput(sha=f"{n:040x}") for n in range(1001)]},
            "The deploy's commits: A deploy may list up to 1,000 commits; this one lists 1,001.",
        ),
    ],
)
def test_a_hook_deploy_past_the_apis_limits_is_refused(changes, reason):
    # No sender's adapter gives a duration or a list of commits today; the rules hold for the one that will.
    data = DeployInput(
        service="web",
        environment="production",
        version="a" * 40,
        deployer="sandrews",
        deployed_at=dt.datetime(2010, 5, 18, 22, 20, 50, tzinfo=dt.UTC),
        **changes,
    )

    # The service refuses with Django's ValidationError; the adapter makes it the delivery's reason.
    with pytest.raises(DeliveryRejected) as refusal:
        record_deploy(DeliveryFactory(), data)

    assert str(refusal.value) == reason
    assert not Deploy.objects.exists()


def test_a_hook_deploy_at_the_apis_limits_is_recorded():
    data = DeployInput(
        service="web",
        environment="production",
        version="a" * 40,
        deployer="sandrews",
        message="m" * 10_000,
        deployed_at=dt.datetime(2010, 5, 18, 22, 20, 50, tzinfo=dt.UTC),
        duration_seconds=604_800.0,
        commits=[CommitInput(sha=f"{n:040x}") for n in range(1000)],
    )

    deploy, created = deploy_record_from_hook(data=data, source="integration:1")

    assert created
    assert deploy.duration_seconds == 604_800.0


def test_a_nul_byte_in_the_body_is_refused_before_anything_is_stored(client, github):
    body = b'{"zen": "a\x00b"}'

    response = post(client, "/hooks/github/", body, **github_headers("ping", body))

    assert response.status_code == 400
    assert not Delivery.objects.exists()


def test_an_escaped_nul_in_a_string_fails_the_delivery_with_the_reason(client, gitlab):
    body = json.dumps(derive(DEPLOYMENT, environment="staging\u0000")).encode()

    response = post_gitlab(client, DEPLOYMENT_EVENT, json.loads(body))

    assert response.status_code == 202
    delivery = only_delivery()
    assert delivery.status == Delivery.Status.FAILED
    assert "NUL character" in delivery.outcome
    assert not Deploy.objects.exists()


def test_deeply_nested_json_is_a_failed_delivery_and_its_page_still_shows(client, github, admin_client):
    body = b"[" * 100_000 + b"]" * 100_000

    response = post(client, "/hooks/github/", body, **github_headers("ping", body))

    assert response.status_code == 202
    delivery = only_delivery()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.outcome == "The body is refused: JSON nested deeper than 64 levels."
    assert admin_client.get(f"/integrations/deliveries/{delivery.pk}/").status_code == 200


def test_a_delivery_whose_task_was_never_queued_is_processed_by_the_sweep(gitlab):
    # Stored while the broker was down: still "received" ten minutes later.
    body = json.dumps(DEPLOYMENT)
    stale = DeliveryFactory(
        integration=gitlab,
        kind="gitlab",
        event=DEPLOYMENT_EVENT,
        body=body,
        delivery_id="stale-1",
        received_at=timezone.now() - dt.timedelta(minutes=11),
    )
    fresh = DeliveryFactory(integration=gitlab, kind="gitlab", event=DEPLOYMENT_EVENT, body=body, delivery_id="fresh-1")

    assert tasks.requeue_stale_deliveries() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == Delivery.Status.PROCESSED
    assert fresh.status == Delivery.Status.RECEIVED  # its own task may still be on its way
    assert Deploy.objects.count() == 1


def test_the_sender_retrying_a_delivery_still_waiting_queues_it_again(client, gitlab):
    DeliveryFactory(
        integration=gitlab, kind="gitlab", event=DEPLOYMENT_EVENT, body=json.dumps(DEPLOYMENT), delivery_id="retried-1"
    )

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = post_gitlab(client, DEPLOYMENT_EVENT, DEPLOYMENT, key="retried-1")

    assert response.json()["duplicate"] is True
    assert only_delivery().status == Delivery.Status.PROCESSED
    assert Deploy.objects.count() == 1
