"""/integrations/deliveries/: the admins' page listing webhook deliveries, with replay."""

import datetime as dt
import json

import pytest

from integrations.factories import DeliveryFactory, IntegrationFactory
from plumbing import webhooks
from plumbing.webhooks import DeliveryIgnored, DeliveryRejected, Sender

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def staff(client, django_user_model):
    """An admin (config.roles): the deliveries page is theirs."""
    user = django_user_model.objects.create_superuser(username="opsadmin", password="a-long-test-password")
    client.force_login(user)
    return client


@pytest.fixture
def fake_sender(monkeypatch):
    """A github Sender whose processing is whatever the test sets in `outcomes` (a string, or an
    exception to raise), counting its calls."""
    calls = []
    outcomes = {"next": "deploy 42 created"}

    def process(delivery, payload):
        calls.append((delivery.pk, payload))
        result = outcomes["next"]
        if isinstance(result, Exception):
            raise result
        return result

    sender = Sender(kind="github", verify=lambda *a: True, identify=lambda *a: ("push", ""), process=process)
    monkeypatch.setitem(webhooks.SENDERS, "github", sender)
    return outcomes, calls


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/integrations/deliveries/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", ["/integrations/deliveries/", "/integrations/deliveries/{pk}/"])
def test_the_pages_are_for_admins_only(logged_in, url):
    delivery = DeliveryFactory()

    assert logged_in.get(url.format(pk=delivery.pk)).status_code == 403


def test_replay_is_for_admins_only(logged_in, fake_sender):
    _outcomes, calls = fake_sender
    delivery = DeliveryFactory()

    assert logged_in.post(f"/integrations/deliveries/{delivery.pk}/replay/").status_code == 403
    assert calls == []


def test_the_nav_link_shows_for_admins_only(staff, client, user):
    assert 'href="/integrations/deliveries/"' in staff.get("/deploys/").content.decode()
    client.force_login(user)
    assert 'href="/integrations/deliveries/"' not in client.get("/deploys/").content.decode()


def test_the_list_is_newest_first_with_outcome_reasons(staff):
    github = IntegrationFactory(kind="github", name="GitHub acme")
    base = dt.datetime(2024, 5, 18, 12, 0, tzinfo=UTC)
    DeliveryFactory(
        integration=github,
        delivery_id="older-one",
        received_at=base,
        status="processed",
        outcome="deploy 7 created",
        attempts=1,
        processed_at=base + dt.timedelta(seconds=2),
    )
    DeliveryFactory(
        integration=github,
        delivery_id="newer-one",
        received_at=base + dt.timedelta(hours=1),
        status="failed",
        outcome="deployment.sha is missing",
        attempts=3,
    )
    DeliveryFactory(
        integration=github,
        delivery_id="ignored-one",
        received_at=base + dt.timedelta(minutes=30),
        status="ignored",
        outcome="pending deployment status",
    )

    html = staff.get("/integrations/deliveries/").content.decode()

    assert html.index("newer-one") < html.index("ignored-one") < html.index("older-one")
    assert 'Failed: <span class="outcome">deployment.sha is missing</span>' in html
    assert 'Ignored: <span class="outcome">pending deployment status</span>' in html
    # A processed delivery's outcome is on its own page, not in the list.
    assert "deploy 7 created" not in html
    assert "2024-05-18 12:00:02" in html  # processed at
    assert "3 deliveries" in html


def test_the_list_filters_by_kind_and_status(staff):
    gitlab = IntegrationFactory(kind="gitlab", name="GitLab")
    DeliveryFactory(delivery_id="gh-failed", status="failed")
    DeliveryFactory(delivery_id="gl-failed", integration=gitlab, status="failed")
    DeliveryFactory(delivery_id="gl-processed", integration=gitlab, status="processed")

    html = staff.get("/integrations/deliveries/?kind=gitlab&status=failed").content.decode()

    assert "gl-failed" in html
    assert "gh-failed" not in html and "gl-processed" not in html
    assert "1 delivery" in html


def test_an_unknown_filter_value_is_shown_as_an_error(staff):
    DeliveryFactory(delivery_id="any")

    html = staff.get("/integrations/deliveries/?status=exploded").content.decode()

    assert "Select a valid choice" in html
    assert "No deliveries match." in html


def test_the_list_is_paginated_keeping_filters(staff):
    base = dt.datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(55):
        DeliveryFactory(delivery_id=f"d-{n:03d}", received_at=base + dt.timedelta(minutes=n), status="failed")

    first = staff.get("/integrations/deliveries/?status=failed").content.decode()
    second = staff.get("/integrations/deliveries/?status=failed&page=2").content.decode()

    assert "d-054" in first and "d-005" in first and "d-004" not in first
    assert "d-004" in second and "d-000" in second and "d-005" not in second
    assert "?status=failed&amp;page=2" in first


def test_the_list_takes_a_constant_number_of_queries(staff, django_assert_max_num_queries):
    for n in range(3):
        DeliveryFactory(integration=IntegrationFactory(name=f"I{n}"))
    with django_assert_max_num_queries(6) as few:
        staff.get("/integrations/deliveries/")
    for n in range(3, 30):
        DeliveryFactory(integration=IntegrationFactory(name=f"I{n}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        staff.get("/integrations/deliveries/")


def test_the_detail_shows_headers_and_pretty_json_escaped(staff):
    body = json.dumps({"deployment": {"sha": "9fceb02", "description": "<img src=x onerror=alert(1)>"}})
    delivery = DeliveryFactory(
        body=body,
        headers={"X-GitHub-Event": "deployment_status", "X-GitHub-Delivery": "72d3162e"},
        outcome="deploy 9 created",
        status="processed",
    )

    html = staff.get(f"/integrations/deliveries/{delivery.pk}/").content.decode()

    assert "X-GitHub-Delivery" in html and "72d3162e" in html
    assert "{\n  &quot;deployment&quot;: {\n    &quot;sha&quot;: &quot;9fceb02&quot;" in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "deploy 9 created" in html


def test_a_body_that_is_not_json_is_shown_as_it_arrived(staff):
    delivery = DeliveryFactory(body="payload=%7B%22a%22%3A1%7D <b>")

    html = staff.get(f"/integrations/deliveries/{delivery.pk}/").content.decode()

    assert "payload=%7B%22a%22%3A1%7D &lt;b&gt;" in html
    assert "As it arrived (not JSON)." in html


def test_replay_processes_again_and_says_the_outcome(staff, fake_sender):
    outcomes, calls = fake_sender
    delivery = DeliveryFactory(status="failed", outcome="ConnectionError: boom", attempts=2, body='{"a": 1}')

    response = staff.post(f"/integrations/deliveries/{delivery.pk}/replay/", follow=True)

    assert response.redirect_chain == [(f"/integrations/deliveries/{delivery.pk}/", 302)]
    assert calls == [(delivery.pk, {"a": 1})]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.outcome, delivery.attempts) == ("processed", "deploy 42 created", 3)
    assert delivery.processed_at is not None
    assert f"Replayed delivery {delivery.pk}: processed — deploy 42 created" in response.content.decode()


def test_replay_of_a_processed_delivery_runs_it_again(staff, fake_sender):
    outcomes, calls = fake_sender
    outcomes["next"] = "deploy 42 already recorded"
    delivery = DeliveryFactory(status="processed", outcome="deploy 42 created", attempts=1)

    response = staff.post(f"/integrations/deliveries/{delivery.pk}/replay/", follow=True)

    assert len(calls) == 1
    assert "processed — deploy 42 already recorded" in response.content.decode()


@pytest.mark.parametrize(
    "raised, status, level",
    [
        (DeliveryRejected("deployment.sha is missing"), "failed", "error"),
        (DeliveryIgnored("pending deployment status"), "ignored", "info"),
    ],
)
def test_replay_says_a_failure_or_an_ignore(staff, fake_sender, raised, status, level):
    outcomes, _calls = fake_sender
    outcomes["next"] = raised
    delivery = DeliveryFactory(status="received")

    response = staff.post(f"/integrations/deliveries/{delivery.pk}/replay/", follow=True)

    delivery.refresh_from_db()
    assert delivery.status == status
    [message] = list(response.context["messages"])
    assert message.level_tag == level
    assert str(message) == f"Replayed delivery {delivery.pk}: {status} — {raised}"


def test_replay_from_the_list_goes_back_to_the_list(staff, fake_sender):
    delivery = DeliveryFactory()

    response = staff.post(
        f"/integrations/deliveries/{delivery.pk}/replay/", {"next": "/integrations/deliveries/?status=failed&page=1"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/integrations/deliveries/?status=failed&page=1"


def test_replay_never_redirects_to_another_site(staff, fake_sender):
    delivery = DeliveryFactory()

    response = staff.post(f"/integrations/deliveries/{delivery.pk}/replay/", {"next": "https://evil.example.com/"})

    assert response["Location"] == f"/integrations/deliveries/{delivery.pk}/"


def test_replay_is_a_post_with_csrf(client, django_user_model, fake_sender):
    from django.test import Client

    user = django_user_model.objects.create_superuser(username="ops2", password="a-long-test-password")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    delivery = DeliveryFactory()

    assert strict.get(f"/integrations/deliveries/{delivery.pk}/replay/").status_code == 405
    assert strict.post(f"/integrations/deliveries/{delivery.pk}/replay/").status_code == 403
    _outcomes, calls = fake_sender
    assert calls == []
    page = strict.get(f"/integrations/deliveries/{delivery.pk}/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_replay_of_an_unknown_delivery_is_a_404(staff):
    assert staff.post("/integrations/deliveries/999999/replay/").status_code == 404
    assert staff.get("/integrations/deliveries/999999/").status_code == 404


def test_the_page_lists_no_bodies_from_the_database(staff):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    DeliveryFactory(body='{"big": "' + "x" * 10000 + '"}')

    with CaptureQueriesContext(connection) as queries:
        staff.get("/integrations/deliveries/")

    listing = [
        q["sql"] for q in queries.captured_queries if 'FROM "deploys_delivery"' in q["sql"] and "COUNT" not in q["sql"]
    ]
    assert listing and all('"deploys_delivery"."body"' not in sql for sql in listing)
