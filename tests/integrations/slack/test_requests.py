"""Slack's three request URLs: signatures, the url_verification handshake, retries."""

import json
import time

import pytest

from incidents.models import Incident
from integrations.models import SlackRequest
from tests.integrations.slack.conftest import command, send
from tests.support.payloads import slack as payloads

pytestmark = pytest.mark.django_db

PATHS = ["/hooks/slack/commands", "/hooks/slack/interactivity", "/hooks/slack/events"]


def _body(path: str, fake) -> bytes:
    if path.endswith("commands"):
        return payloads.form_body(
            payloads.slash_command(user_id="UADMIN", text="sev2 db down", response_url=fake.response_url())
        )
    if path.endswith("events"):
        return json.dumps(payloads.url_verification()).encode()
    return payloads.interactivity_body(
        payloads.block_actions(user_id="UADMIN", action_id="opslog_ack", value="1", response_url=fake.response_url())
    )


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("how", ["wrong secret", "stale", "future", "missing"])
def test_a_bad_or_stale_signature_is_a_401_and_nothing_is_stored(client, people, fake_slack, path, how):
    body = _body(path, fake_slack)
    if how == "missing":
        response = client.post(path, data=body, content_type="application/x-www-form-urlencoded")
    else:
        secret = "not-the-secret" if how == "wrong secret" else "test-slack-signing-secret"
        timestamp = {"stale": int(time.time()) - 301, "future": int(time.time()) + 301}.get(how)
        response = send(client, path, body, secret=secret, timestamp=timestamp)
    assert response.status_code == 401
    assert SlackRequest.objects.count() == 0
    assert Incident.objects.count() == 0
    assert fake_slack.calls == []


def test_a_signature_within_five_minutes_is_accepted(client, people, fake_slack):
    response = send(
        client,
        "/hooks/slack/events",
        json.dumps(payloads.url_verification("abc")).encode(),
        timestamp=int(time.time()) - 290,
    )
    assert response.status_code == 200


def test_url_verification_is_answered_with_the_challenge(client, workspace, fake_slack):
    body = json.dumps(payloads.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")).encode()
    response = send(client, "/hooks/slack/events", body)
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_a_body_over_the_limit_is_refused_before_anything(client, workspace, fake_slack, settings):
    settings.OPSLOG_WEBHOOK_MAX_BYTES = 1024
    body = payloads.form_body(
        payloads.slash_command(user_id="UADMIN", text="x" * 2000, response_url=fake_slack.response_url())
    )
    assert send(client, "/hooks/slack/commands", body).status_code == 413
    assert SlackRequest.objects.count() == 0


def test_bad_input_is_a_400_not_a_500(client, workspace, fake_slack):
    assert send(client, "/hooks/slack/interactivity", b"payload=%7Bnot+json").status_code == 400
    assert send(client, "/hooks/slack/interactivity", b"payload=" + b"%5B" * 5000).status_code == 400
    assert send(client, "/hooks/slack/events", b"[1, 2]").status_code == 400
    assert send(client, "/hooks/slack/commands", b"text=hello").status_code == 400
    assert (
        send(
            client,
            "/hooks/slack/events",
            b'{"type": "event_callback", "event": {"text": "\\u0000"}, "event_id": "Ev1"}',
        ).status_code
        == 400
    )
    assert SlackRequest.objects.count() == 0


def test_twenty_identical_retried_deliveries_make_one_change(client, people, fake_slack):
    incident = Incident.objects.create(
        title="Checkout down", started_at=__import__("django.utils.timezone").utils.timezone.now()
    )
    body = payloads.interactivity_body(
        payloads.block_actions(
            user_id="UADMIN", action_id="opslog_ack", value=str(incident.pk), response_url=fake_slack.response_url()
        )
    )
    for retry in range(20):
        extra = {"HTTP_X_SLACK_RETRY_NUM": str(retry), "HTTP_X_SLACK_RETRY_REASON": "http_timeout"} if retry else {}
        assert send(client, "/hooks/slack/interactivity", body, **extra).status_code == 200
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None
    assert incident.timeline.filter(text__startswith="Acknowledged").count() == 1
    assert SlackRequest.objects.count() == 1
    assert len(fake_slack.responses) == 1


def test_twenty_retries_of_one_event_file_one_note(client, people, fake_slack):
    from tests.integrations.slack.test_channel import incident_with_channel

    incident, channel = incident_with_channel(people)
    event = payloads.event_callback(
        payloads.message(channel=channel, user="UADMIN", text="note the cache is cold", ts="1700000000.000200"),
        event_id="Ev0RETRY",
    )
    body = json.dumps(event).encode()
    for retry in range(20):
        extra = {"HTTP_X_SLACK_RETRY_NUM": str(retry)} if retry else {}
        assert send(client, "/hooks/slack/events", body, **extra).status_code == 200
    assert incident.timeline.filter(kind="note").count() == 1


def test_a_quick_filing_from_a_command(client, people, fake_slack):
    response = command(
        client, user_id=people["admin"], text="sev2 Checkout down for EU", response_url=fake_slack.response_url()
    )
    assert response.status_code == 200
    incident = Incident.objects.get()
    assert (incident.title, incident.severity, incident.source) == ("Checkout down for EU", 2, "slack")
    assert incident.created_by.username == "admin-person"
    assert "Filed incident" in fake_slack.responses[-1]["text"]


@pytest.mark.parametrize(
    "value,expected",
    [
        ("42", 42),
        (42, 42),
        ("000000000000000007", 7),
        ("9" * 18, 10**18 - 1),
        ("9" * 19, None),
        ("1" * 5000, None),
        ("١٢", None),  # Arabic-Indic digits: int() takes them
        ("²", None),
        ("+1", None),
        ("-1", None),
        (" 1", None),
        ("1_000", None),
        ("", None),
        (None, None),
        (True, None),
        ({"a": 1}, None),
    ],
)
def test_numbers_from_slack_are_ascii_digits_at_most_18_long(value, expected):
    from integrations.slack.services import _int

    assert _int(value) == expected


@pytest.mark.parametrize("value", ["1" * 5000, "١"])
def test_a_button_naming_an_incident_in_odd_digits_changes_nothing(client, people, fake_slack, value):
    incident = Incident.objects.create(
        title="Checkout down", started_at=__import__("django.utils.timezone").utils.timezone.now()
    )
    body = payloads.interactivity_body(
        payloads.block_actions(
            user_id=people["admin"], action_id="opslog_ack", value=value, response_url=fake_slack.response_url()
        )
    )
    assert send(client, "/hooks/slack/interactivity", body).status_code == 200
    incident.refresh_from_db()
    assert incident.acknowledged_at is None
    assert SlackRequest.objects.get().status == SlackRequest.Status.DONE
    assert fake_slack.responses[-1]["text"] == "This incident no longer exists."
