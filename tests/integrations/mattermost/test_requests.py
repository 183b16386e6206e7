"""Mattermost's two request URLs: the slash command's token, Opslog's signatures on buttons and
dialogs, bad input, and the same request sent again."""

import datetime as dt

import pytest
from django.utils import timezone

from incidents.models import Incident
from integrations.factories import MattermostServerFactory
from integrations.mattermost import message
from integrations.models import MattermostRequest
from tests.integrations.mattermost.conftest import COMMAND_TOKEN, command, post, submit
from tests.support.payloads import mattermost as payloads

pytestmark = pytest.mark.django_db


def _incident() -> Incident:
    now = timezone.now()
    return Incident.objects.create(
        title="Checkout down", started_at=now - dt.timedelta(hours=1), detected_at=now - dt.timedelta(minutes=50)
    )


@pytest.mark.parametrize("token", ["", "not-the-token-at-all-xxxxxx", COMMAND_TOKEN[:-1], COMMAND_TOKEN + "x"])
def test_a_bad_command_token_is_a_401_and_nothing_is_stored(client, people, fake_mm, token):
    response = command(client, fake_mm, user_id=people["admin"], text="sev2 db down", token=token)
    assert response.status_code == 401
    assert MattermostRequest.objects.count() == 0 and Incident.objects.count() == 0
    assert fake_mm.calls == [] and fake_mm.responses == []


def test_an_inactive_server_s_token_is_refused(client, people, fake_mm, server):
    server.is_active = False
    server.save()
    assert command(client, fake_mm, user_id=people["admin"], text="sev2 db down").status_code == 401
    assert Incident.objects.count() == 0


def test_any_of_several_tokens_is_accepted(client, people, fake_mm, server):
    server.set_command_tokens(["first-team-token-xxxxxxxxx", "second-team-token-xxxxxxxx"])
    server.save()
    response = command(client, fake_mm, user_id=people["admin"], text="db down", token="second-team-token-xxxxxxxx")
    assert response.status_code == 200
    assert Incident.objects.get().title == "db down"
    assert command(client, fake_mm, user_id=people["admin"], text="x", token=COMMAND_TOKEN).status_code == 401


def test_the_token_of_another_server_names_that_server(client, people, fake_mm, server):
    other = MattermostServerFactory(name="Other", url=fake_mm.url, command_token="other-server-token-xxxxxxx")
    command(client, fake_mm, user_id=people["admin"], text="db down", token="other-server-token-xxxxxxx")
    assert MattermostRequest.objects.get().server == other


def test_a_forged_or_tampered_button_context_is_a_401_and_nothing_changes(client, people, fake_mm, server):
    incident = _incident()
    genuine = message.signed_context(action="resolve", incident=incident.pk + 1, server=server.pk)
    forged = [
        {"action": "resolve", "incident": incident.pk, "server": server.pk},  # no signature
        {**genuine, "incident": incident.pk},  # the signature of another incident
        {**genuine, "sig": "0" * 64},
        "resolve",
        None,
    ]
    for context in forged:
        body = payloads.json_body(payloads.button(user_id=people["admin"], context=context))
        assert post(client, "/hooks/mattermost/actions", body, "application/json").status_code == 401
    incident.refresh_from_db()
    assert incident.resolved_at is None
    assert MattermostRequest.objects.count() == 0 and fake_mm.calls == []


def test_a_context_signed_with_another_key_is_refused(client, people, fake_mm, server, settings):
    incident = _incident()
    settings.OPSLOG_SECRETS_KEY = "another-installation-s-key"
    context = message.signed_context(action="ack", incident=incident.pk, server=server.pk)
    settings.OPSLOG_SECRETS_KEY = "test-only-secret-key-not-used-anywhere-else"
    body = payloads.json_body(payloads.button(user_id=people["admin"], context=context))
    assert post(client, "/hooks/mattermost/actions", body, "application/json").status_code == 401


def test_a_tampered_dialog_state_or_another_person_s_is_a_401(client, people, fake_mm, server):
    state = message.signed_state(user=people["admin"], channel="c", nonce="n1", server=server.pk)
    raw, sig = state.split(".")
    for bad, user in [
        (f"{raw}.{'0' * 64}", people["admin"]),
        (raw, people["admin"]),
        ("not-even-base64!.abc", people["admin"]),
        (state, people["viewer"]),  # a dialog opened for the admin, submitted by someone else
    ]:
        response = submit(client, user_id=user, state=bad, title="Checkout down", severity="2")
        assert response.status_code == 401
    assert Incident.objects.count() == 0 and MattermostRequest.objects.count() == 0


def test_bad_input_is_a_400_not_a_500(client, people, fake_mm, server):
    assert post(client, "/hooks/mattermost/actions", b"{not json", "application/json").status_code == 400
    assert post(client, "/hooks/mattermost/actions", b"[1, 2]", "application/json").status_code == 400
    assert post(client, "/hooks/mattermost/actions", b"[" * 5000, "application/json").status_code == 400
    assert post(client, "/hooks/mattermost/actions", b'{"user_id": "\\u0000"}', "application/json").status_code == 400
    assert post(client, "/hooks/mattermost/actions", b"\xff\xfe", "application/json").status_code == 400
    no_user = payloads.form_body({"token": COMMAND_TOKEN, "text": "hello"})
    assert post(client, "/hooks/mattermost/command", no_user, "application/x-www-form-urlencoded").status_code == 400
    context = message.signed_context(action="ack", incident=1, server=server.pk)
    body = payloads.json_body({**payloads.button(user_id="u", context=context), "user_id": 7})
    assert post(client, "/hooks/mattermost/actions", body, "application/json").status_code == 400
    assert MattermostRequest.objects.count() == 0


def test_a_body_over_the_limit_is_refused_before_anything(client, people, fake_mm, settings):
    settings.OPSLOG_WEBHOOK_MAX_BYTES = 1024
    response = command(client, fake_mm, user_id=people["admin"], text="x" * 2000)
    assert response.status_code == 413
    assert MattermostRequest.objects.count() == 0


def test_the_same_command_sent_twenty_times_files_once(client, people, fake_mm):
    form = payloads.slash_command(
        user_id=people["admin"], text="sev2 Checkout down", response_url=fake_mm.response_url(), token=COMMAND_TOKEN
    )
    body = payloads.form_body(form)
    for _ in range(20):
        assert post(client, "/hooks/mattermost/command", body, "application/x-www-form-urlencoded").status_code == 200
    assert Incident.objects.count() == 1
    assert MattermostRequest.objects.count() == 1 and len(fake_mm.responses) == 1


def test_the_same_button_press_sent_twenty_times_acts_once(client, people, fake_mm, server):
    incident = _incident()
    context = message.signed_context(action="ack", incident=incident.pk, server=server.pk)
    body = payloads.json_body(payloads.button(user_id=people["admin"], context=context))
    for _ in range(20):
        response = post(client, "/hooks/mattermost/actions", body, "application/json")
        assert response.status_code == 200 and response.json() == {}
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None
    assert incident.timeline.filter(text__startswith="Acknowledged").count() == 1
    assert MattermostRequest.objects.count() == 1
    assert len(fake_mm.called("POST /posts/ephemeral")) == 1


def test_old_requests_are_purged(people, fake_mm, server):
    from integrations.tasks import purge_old_mattermost_requests

    old = MattermostRequest.objects.create(server=server, key="old", kind="command", status="done")
    MattermostRequest.objects.filter(pk=old.pk).update(received_at=timezone.now() - dt.timedelta(days=91))
    MattermostRequest.objects.create(server=server, key="new", kind="command", status="done")
    assert purge_old_mattermost_requests() == 1
    assert list(MattermostRequest.objects.values_list("key", flat=True)) == ["new"]
