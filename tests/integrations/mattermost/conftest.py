import pytest
from django.test import TestCase

from config.roles import ADMIN, RESPONDER, VIEWER, role_set
from integrations.factories import MattermostServerFactory, MattermostUserFactory
from integrations.mattermost import message
from tests.support.fake_mattermost import FakeMattermost
from tests.support.payloads import mattermost as payloads

COMMAND_TOKEN = "xr3j5x3p4pfpjdj7ou8f5xyaxc"  # MattermostServerFactory's default
ANNOUNCE = "announcechannel0000000000a"


@pytest.fixture
def fake_mm(settings):
    fake = FakeMattermost().start()
    settings.OPSLOG_BASE_URL = "https://opslog.example.com"
    yield fake
    fake.stop()
    assert fake.problems == [], fake.problems


@pytest.fixture
def server(db, fake_mm):
    return MattermostServerFactory(url=fake_mm.url)


@pytest.fixture
def people(django_user_model, server, fake_mm):
    """Mattermost user ids by role: viewer, responder and admin, each an Opslog account; the viewer
    and admin mapped by an admin, the responder known by e-mail only (GET /users/{id}).
    `unmapped` is a Mattermost user whose e-mail no Opslog account has."""
    made = {}
    for role in (VIEWER, RESPONDER, ADMIN):
        user = django_user_model.objects.create_user(
            username=f"{role}-person", email=f"{role}@example.com", password="a-long-test-password"
        )
        role_set(user=user, role=role)
        mm_id = f"{role}{'x' * (26 - len(role))}"
        fake_mm.add_user(mm_id, email=f"{role}@example.com", username=f"{role}-person")
        if role != RESPONDER:
            MattermostUserFactory(server=server, mattermost_user_id=mm_id, user=user)
        made[role] = mm_id
    fake_mm.add_user("nobodyxxxxxxxxxxxxxxxxxxxx", email="stranger@elsewhere.example", username="stranger")
    made["unmapped"] = "nobodyxxxxxxxxxxxxxxxxxxxx"
    return made


def post(client, path: str, body: bytes, content_type: str):
    """POST as Mattermost does, then run what the request queued after commit (tasks run
    in-process, eagerly) as a real commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(path, data=body, content_type=content_type)


def command(client, fake, *, user_id: str, text: str = "", token: str = COMMAND_TOKEN, **fields):
    fields.setdefault("response_url", fake.response_url())
    form = payloads.slash_command(user_id=user_id, text=text, token=token, **fields)
    return post(client, "/hooks/mattermost/command", payloads.form_body(form), "application/x-www-form-urlencoded")


def press(client, *, user_id: str, action: str, incident, server, **kwargs):
    context = message.signed_context(action=action, incident=incident.pk, server=server.pk)
    body = payloads.json_body(payloads.button(user_id=user_id, context=context, **kwargs))
    return post(client, "/hooks/mattermost/actions", body, "application/json")


def submit(client, *, user_id: str, state: str, **submission):
    body = payloads.json_body(payloads.dialog_submission(user_id=user_id, state=state, submission=submission))
    return post(client, "/hooks/mattermost/actions", body, "application/json")
