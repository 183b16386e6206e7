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


def test_the_deploy_channel_is_set_in_the_admin(client, django_user_model):
    from integrations.factories import SlackWorkspaceFactory
    from tests.support.admin import change_form_data

    admin = django_user_model.objects.create_user(username="boss", password="a-long-test-password")
    role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    workspace = SlackWorkspaceFactory()
    url = f"/admin/integrations/slackworkspace/{workspace.pk}/change/"
    data = change_form_data(client, url)
    assert data["deploy_channel"] == ""

    assert client.post(url, {**data, "deploy_channel": "C0DEPLOYS"}).status_code == 302

    workspace.refresh_from_db()
    assert workspace.deploy_channel == "C0DEPLOYS"
    assert workspace.bot_token == "xoxb-test-bot-token"  # kept
    assert "C0DEPLOYS" in client.get("/admin/integrations/slackworkspace/").content.decode()


def test_what_was_posted_about_deploys_is_listed_and_read_only(client, django_user_model):
    from deploys.factories import DeployFactory
    from integrations.factories import SlackWorkspaceFactory
    from integrations.models import SlackDeployPost

    admin = django_user_model.objects.create_user(username="boss", password="a-long-test-password")
    role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    deploy = DeployFactory(version="36790")
    post = SlackDeployPost.objects.create(
        workspace=SlackWorkspaceFactory(), deploy=deploy, kind="notice", channel="C0DEPLOYS", ts="1700000001.000100"
    )

    page = client.get("/admin/integrations/slackdeploypost/")
    assert page.status_code == 200
    assert "36790" in page.content.decode() and "1700000001.000100" in page.content.decode()
    assert client.get("/admin/integrations/slackdeploypost/add/").status_code == 403
    detail = client.get(f"/admin/integrations/slackdeploypost/{post.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert client.post(f"/admin/integrations/slackdeploypost/{post.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SlackDeployPost.objects.filter(pk=post.pk).exists()
