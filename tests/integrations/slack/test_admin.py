import pytest

from config.roles import ADMIN, role_set
from integrations.models import SlackWorkspace

pytestmark = pytest.mark.django_db


def test_the_workspace_secrets_are_write_only_and_stored_encrypted(client, django_user_model):
    admin = django_user_model.objects.create_user(username="boss", password="a-long-test-password")
    role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    form = {
        "team_id": "T0001",
        "name": "Acme",
        "bot_token": "xoxb-1234-secret-token",
        "signing_secret": "8f742231b10e8888abcd99yyyzzz85a5",
        "announce_channel": "C0ANNOUNCE",
        "channel_prefix": "inc",
        "pin_reaction": "pushpin",
        "command": "/incident",
        "is_active": "on",
    }
    assert client.post("/admin/integrations/slackworkspace/add/", form).status_code == 302
    workspace = SlackWorkspace.objects.get()
    assert workspace.bot_token == "xoxb-1234-secret-token"
    assert "xoxb-1234" not in workspace.bot_token_encrypted
    assert workspace.signing_secret == "8f742231b10e8888abcd99yyyzzz85a5"
    page = client.get(f"/admin/integrations/slackworkspace/{workspace.pk}/change/").content.decode()
    assert "xoxb-1234" not in page and "8f742231b10e" not in page
    # Saved again without them: kept.
    assert (
        client.post(
            f"/admin/integrations/slackworkspace/{workspace.pk}/change/",
            {**form, "bot_token": "", "signing_secret": ""},
        ).status_code
        == 302
    )
    workspace.refresh_from_db()
    assert workspace.bot_token == "xoxb-1234-secret-token"


def test_a_workspace_needs_both_secrets_and_a_bot_token(client, django_user_model):
    admin = django_user_model.objects.create_user(username="boss", password="a-long-test-password")
    role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    response = client.post(
        "/admin/integrations/slackworkspace/add/",
        {
            "team_id": "T1",
            "name": "Acme",
            "bot_token": "xoxp-user-token",
            "channel_prefix": "inc",
            "pin_reaction": "pushpin",
            "command": "/incident",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "bot_token" in errors and "signing_secret" in errors
    assert SlackWorkspace.objects.count() == 0
