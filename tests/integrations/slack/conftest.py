import pytest
from django.test import TestCase

from config.roles import ADMIN, RESPONDER, VIEWER, role_set
from integrations.factories import SlackUserFactory, SlackWorkspaceFactory
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import slack as payloads

SIGNING_SECRET = "test-slack-signing-secret"  # SlackWorkspaceFactory's default


@pytest.fixture
def fake_slack(settings):
    fake = FakeSlack().start()
    settings.OPSLOG_SLACK_API_URL = fake.api_url
    settings.OPSLOG_BASE_URL = "https://opslog.example.com"
    yield fake
    fake.stop()
    assert fake.problems == [], fake.problems


@pytest.fixture
def workspace(db):
    return SlackWorkspaceFactory()


@pytest.fixture
def people(django_user_model, workspace, fake_slack):
    """Slack user ids by role: viewer, responder and admin mapped; `unmapped` has a Slack account
    whose e-mail no Opslog account has. The responder is known by e-mail only (`users.info`)."""
    made = {}
    for role in (VIEWER, RESPONDER, ADMIN):
        user = django_user_model.objects.create_user(
            username=f"{role}-person", email=f"{role}@example.com", password="a-long-test-password"
        )
        role_set(user=user, role=role)
        slack_id = f"U{role.upper()}"
        fake_slack.add_user(slack_id, email=f"{role}@example.com", name=f"{role} person")
        if role != RESPONDER:
            SlackUserFactory(workspace=workspace, slack_user_id=slack_id, user=user)
        made[role] = slack_id
    fake_slack.add_user("UNOBODY", email="stranger@elsewhere.example", name="Stranger")
    made["unmapped"] = "UNOBODY"
    return made


def send(client, path: str, body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None, **headers):
    """POST as Slack does (signed), then run what the request queued after commit (tasks run
    in-process, eagerly) as a real commit would."""
    content_type = "application/json" if path.endswith("events") else "application/x-www-form-urlencoded"
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            path, data=body, content_type=content_type, **payloads.sign(secret, body, timestamp), **headers
        )


def command(client, **fields):
    return send(client, "/hooks/slack/commands", payloads.form_body(payloads.slash_command(**fields)))


def interact(client, payload: dict):
    return send(client, "/hooks/slack/interactivity", payloads.interactivity_body(payload))


def event(client, event: dict, **kwargs):
    import json

    return send(client, "/hooks/slack/events", json.dumps(payloads.event_callback(event, **kwargs)).encode())
