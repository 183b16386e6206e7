import pytest

from config.roles import ADMIN, role_set
from integrations.models import MattermostServer

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Acme chat",
    "url": "https://chat.example.com",
    "bot_token": "bot-token-1234-secret-xyz",
    "command_tokens": "first-team-token-xxxxxxxxx\r\nsecond-team-token-xxxxxxxx\r\n",
    "announce_channel": "announcechannel0000000000a",
    "is_active": "on",
}


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_user(username="boss", password="a-long-test-password")
    role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    return client


def test_the_server_s_tokens_are_write_only_and_stored_encrypted(admin_client):
    assert admin_client.post("/admin/integrations/mattermostserver/add/", FORM).status_code == 302
    server = MattermostServer.objects.get()
    assert server.bot_token == "bot-token-1234-secret-xyz"
    assert server.command_tokens == ["first-team-token-xxxxxxxxx", "second-team-token-xxxxxxxx"]
    assert "bot-token-1234" not in server.bot_token_encrypted
    assert "first-team" not in server.command_tokens_encrypted
    page = admin_client.get(f"/admin/integrations/mattermostserver/{server.pk}/change/").content.decode()
    assert "bot-token-1234" not in page and "first-team" not in page
    assert "/hooks/mattermost/command" in page
    # Saved again without them: kept.
    response = admin_client.post(
        f"/admin/integrations/mattermostserver/{server.pk}/change/", {**FORM, "bot_token": "", "command_tokens": ""}
    )
    assert response.status_code == 302
    server.refresh_from_db()
    assert server.bot_token == "bot-token-1234-secret-xyz" and len(server.command_tokens) == 2


def test_a_server_needs_a_bot_token_and_a_command_token(admin_client):
    response = admin_client.post(
        "/admin/integrations/mattermostserver/add/", {**FORM, "bot_token": "", "command_tokens": "short"}
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "bot_token" in errors and "command_tokens" in errors
    assert "short" not in response.content.decode()  # what was typed into a token field is not sent back
    response = admin_client.post("/admin/integrations/mattermostserver/add/", {**FORM, "command_tokens": ""})
    assert "command_tokens" in response.context["adminform"].form.errors
    assert MattermostServer.objects.count() == 0


@pytest.mark.parametrize(
    "page",
    [
        "/admin/integrations/mattermostuser/",
        "/admin/integrations/mattermostuser/add/",
        "/admin/integrations/mattermostincident/",
        "/admin/integrations/mattermostrequest/",
    ],
)
def test_the_other_admin_pages_open(admin_client, page):
    assert admin_client.get(page).status_code == 200


def test_a_server_address_is_http_or_https(admin_client):
    response = admin_client.post(
        "/admin/integrations/mattermostserver/add/",
        {**FORM, "url": "ftp://chat.example.com", "command_tokens": FORM["command_tokens"]},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["url"] == ["Use the server's https:// (or http://) address."]
    assert MattermostServer.objects.count() == 0
