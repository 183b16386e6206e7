"""The tracker connections' admin: secrets write-only and encrypted, the webhook secret made and
shown once, only http(s) addresses, kind-specific fields checked."""

import pytest

from config.roles import ADMIN, role_set
from integrations.models import TrackerConnection

pytestmark = pytest.mark.django_db

GITHUB = {
    "name": "acme/web issues",
    "kind": "github",
    "base_url": "",
    "repository": "acme/web",
    "flavour": "",
    "project_key": "",
    "issue_type": "Task",
    "email": "",
    "labels": "opslog",
    "token": "github_pat_secret_value_123",
    "webhook_secret": "",
    "is_active": "on",
}
JIRA = {
    **GITHUB,
    "name": "OPS",
    "kind": "jira",
    "base_url": "https://acme.atlassian.net",
    "repository": "",
    "flavour": "cloud",
    "project_key": "OPS",
    "email": "ops@example.com",
    "token": "jira-api-token-secret",
    "webhook_secret": "jira-webhook-secret-value",
}


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_user(username="boss", password="a-long-test-password")
    role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    return client


def test_the_token_and_webhook_secret_are_write_only_and_encrypted(admin_client):
    response = admin_client.post("/admin/integrations/trackerconnection/add/", GITHUB, follow=True)
    assert response.status_code == 200
    connection = TrackerConnection.objects.get()
    assert connection.token == "github_pat_secret_value_123"
    assert "github_pat" not in connection.token_encrypted
    made = connection.webhook_secret
    assert len(made) >= 32 and made in response.content.decode()  # shown once, on saving
    assert connection.api_url == "https://api.github.com"
    page = admin_client.get(f"/admin/integrations/trackerconnection/{connection.pk}/change/").content.decode()
    assert "github_pat_secret" not in page and made not in page
    assert f"/hooks/github-issues/{connection.pk}/" in page
    # Saved again without them: kept.
    response = admin_client.post(
        f"/admin/integrations/trackerconnection/{connection.pk}/change/", {**GITHUB, "token": "", "webhook_secret": ""}
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.token == "github_pat_secret_value_123" and connection.webhook_secret == made


def test_a_jira_connection_takes_its_own_secret(admin_client):
    assert admin_client.post("/admin/integrations/trackerconnection/add/", JIRA).status_code == 302
    connection = TrackerConnection.objects.get()
    assert connection.webhook_secret == "jira-webhook-secret-value"
    page = admin_client.get(f"/admin/integrations/trackerconnection/{connection.pk}/change/").content.decode()
    assert "jira-webhook-secret-value" not in page and "jira-api-token-secret" not in page
    assert f"/hooks/jira/{connection.pk}/" in page


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({**GITHUB, "base_url": "ftp://api.example.com"}, "base_url"),
        ({**GITHUB, "base_url": "javascript:alert(1)"}, "base_url"),
        ({**GITHUB, "repository": "just-a-name"}, "repository"),
        ({**GITHUB, "token": ""}, "token"),
        ({**JIRA, "base_url": ""}, "base_url"),
        ({**JIRA, "flavour": ""}, "flavour"),
        ({**JIRA, "project_key": "not a key"}, "project_key"),
        ({**JIRA, "email": ""}, "email"),
        ({**JIRA, "labels": "two words"}, "labels"),
    ],
)
def test_bad_settings_are_refused_per_field_without_echoing_secrets(admin_client, form, field):
    response = admin_client.post("/admin/integrations/trackerconnection/add/", form)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert form["token"] not in response.content.decode() if form["token"] else True
    assert not TrackerConnection.objects.exists()


def test_tracker_links_are_read_only_in_the_admin(admin_client):
    assert admin_client.get("/admin/integrations/trackerlink/").status_code == 200
    assert admin_client.get("/admin/integrations/trackerlink/add/").status_code == 403
