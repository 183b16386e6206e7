"""The Integration admin: a secret is shown once, after saving, and never readable again."""

import re

import pytest

from integrations.factories import DeliveryFactory, IntegrationFactory
from integrations.models import Delivery, Integration

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/integrations/integration/add/"


def add_form(**overrides) -> dict:
    data = {
        "kind": "github",
        "name": "GitHub acme org",
        "secret": "",
        "service_mapping": '{"acme/web-app": "web"}',
        "options": "{}",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def change_form(integration: Integration, **overrides) -> dict:
    data = {
        "kind": integration.kind,
        "name": integration.name,
        "secret": "",
        "service_mapping": "{}",
        "options": "{}",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def shown_secrets(response) -> list[str]:
    """The secrets the page's messages show (the text between "is " and " — copy")."""
    return [
        match for message in response.context["messages"] for match in re.findall(r"is (\S+) — copy it", str(message))
    ]


def test_a_blank_secret_is_generated_and_shown_once(admin_client):
    response = admin_client.post(ADD_URL, add_form(), follow=True)

    assert response.status_code == 200
    integration = Integration.objects.get(name="GitHub acme org")
    [secret] = shown_secrets(response)
    # secrets.token_urlsafe(32): 32 random bytes, 43 URL-safe characters.
    assert len(secret) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", secret)
    assert integration.secret == secret
    assert secret in response.content.decode()
    assert integration.service_mapping == {"acme/web-app": "web"}

    # The next page, and the change page, no longer show it.
    assert secret not in admin_client.get("/admin/integrations/integration/").content.decode()
    change_page = admin_client.get(f"/admin/integrations/integration/{integration.pk}/change/").content.decode()
    assert secret not in change_page


def test_the_shown_once_secret_never_travels_in_a_cookie(admin_client):
    # Django's default message storage would carry it, signed but readable, in a cookie.
    response = admin_client.post(ADD_URL, add_form())

    assert response.status_code == 302
    assert Integration.objects.exists()
    assert "messages" not in response.cookies


def test_a_pasted_secret_is_stored_encrypted(admin_client):
    pasted = "whsec-pagerduty-made-this-0123456789"

    response = admin_client.post(ADD_URL, add_form(kind="pagerduty", name="PagerDuty", secret=pasted), follow=True)

    integration = Integration.objects.get(name="PagerDuty")
    assert shown_secrets(response) == [pasted]
    assert integration.secret == pasted
    # Not in plain text in the database column, nor anywhere in the row.
    assert pasted not in integration.secret_encrypted
    assert pasted not in str(Integration.objects.filter(pk=integration.pk).values().get())


def test_the_change_page_has_no_secret_value_but_offers_a_new_one(admin_client):
    integration = IntegrationFactory(secret="old-secret-value-xyz", kind="gitlab", name="GitLab")

    html = admin_client.get(f"/admin/integrations/integration/{integration.pk}/change/").content.decode()

    assert "old-secret-value-xyz" not in html
    assert integration.secret_encrypted not in html
    assert 'name="secret"' in html and 'type="password"' in html
    assert 'name="generate_secret"' in html
    assert "New secret" in html
    assert "/hooks/gitlab/" in html


def test_saving_the_change_page_without_a_new_secret_keeps_the_old_one(admin_client):
    integration = IntegrationFactory(secret="keep-me-secret", name="GitHub")

    response = admin_client.post(
        f"/admin/integrations/integration/{integration.pk}/change/", change_form(integration, is_active=""), follow=True
    )

    integration.refresh_from_db()
    assert integration.secret == "keep-me-secret"
    assert integration.is_active is False
    assert shown_secrets(response) == []
    assert "keep-me-secret" not in response.content.decode()


def test_a_new_secret_replaces_the_old_one_and_is_shown_once(admin_client):
    integration = IntegrationFactory(secret="old-secret", name="GitHub")

    response = admin_client.post(
        f"/admin/integrations/integration/{integration.pk}/change/",
        change_form(integration, secret="brand-new-secret-0001"),
        follow=True,
    )

    integration.refresh_from_db()
    assert integration.secret == "brand-new-secret-0001"
    assert shown_secrets(response) == ["brand-new-secret-0001"]
    html = admin_client.get(f"/admin/integrations/integration/{integration.pk}/change/").content.decode()
    assert "brand-new-secret-0001" not in html


def test_generate_a_new_secret(admin_client):
    integration = IntegrationFactory(secret="old-secret", name="GitHub")

    response = admin_client.post(
        f"/admin/integrations/integration/{integration.pk}/change/",
        change_form(integration, generate_secret="on"),
        follow=True,
    )

    integration.refresh_from_db()
    [secret] = shown_secrets(response)
    assert secret != "old-secret" and len(secret) == 43
    assert integration.secret == secret


def test_pasting_and_generating_at_once_is_an_error(admin_client):
    integration = IntegrationFactory(secret="old-secret", name="GitHub")

    response = admin_client.post(
        f"/admin/integrations/integration/{integration.pk}/change/",
        change_form(integration, secret="pasted-0123456789", generate_secret="on"),
    )

    assert response.status_code == 200
    assert "Paste a new secret or generate one, not both." in response.content.decode()
    # The pasted value isn't sent back in the form either.
    assert "pasted-0123456789" not in response.content.decode()
    integration.refresh_from_db()
    assert integration.secret == "old-secret"


def test_the_history_names_the_secret_field_but_not_its_value(admin_client):
    from django.contrib.admin.models import LogEntry

    integration = IntegrationFactory(secret="old-secret", name="GitHub")
    admin_client.post(
        f"/admin/integrations/integration/{integration.pk}/change/",
        change_form(integration, secret="history-secret-42"),
    )

    entry = LogEntry.objects.get(object_id=str(integration.pk))
    assert "history-secret-42" not in entry.change_message
    assert "New secret" in entry.get_change_message()


def test_the_webhook_url_is_absolute_with_a_base_url(admin_client, settings):
    settings.OPSLOG_BASE_URL = "https://opslog.example.com/"
    IntegrationFactory(kind="alertmanager", name="Alertmanager")

    html = admin_client.get("/admin/integrations/integration/").content.decode()

    assert "https://opslog.example.com/hooks/alertmanager/" in html


def test_the_add_page_is_for_staff_only(client, user):
    client.force_login(user)

    response = client.get(ADD_URL)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- Deliveries ---------------------------------------------------------------------------------


def test_the_delivery_admin_lists_and_shows_read_only(admin_client):
    delivery = DeliveryFactory(event="deployment_status", body='{"x": "<script>alert(1)</script>"}')

    listing = admin_client.get("/admin/integrations/delivery/")
    page = admin_client.get(f"/admin/integrations/delivery/{delivery.pk}/change/")

    assert listing.status_code == 200
    assert "deployment_status" in listing.content.decode()
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    # View only: no save button, no add page.
    assert 'name="_save"' not in html
    assert admin_client.get("/admin/integrations/delivery/add/").status_code == 403


def test_the_delivery_admin_refuses_changes(admin_client):
    delivery = DeliveryFactory(event="push")

    response = admin_client.post(f"/admin/integrations/delivery/{delivery.pk}/change/", {"event": "changed"})

    assert response.status_code == 403
    assert Delivery.objects.get(pk=delivery.pk).event == "push"


def test_the_add_page_offers_to_paste_or_generate_even_after_a_change_page(admin_client):
    integration = IntegrationFactory(name="GitHub")
    admin_client.get(f"/admin/integrations/integration/{integration.pk}/change/")

    html = admin_client.get(ADD_URL).content.decode()

    assert "Leave blank to generate a strong one" in html
    assert "New secret" not in html
    assert 'name="generate_secret"' not in html


def test_a_pasted_secret_must_be_at_least_16_characters(admin_client):
    response = admin_client.post(ADD_URL, add_form(secret="short"))

    assert response.status_code == 200
    assert "at least 16 characters" in response.content.decode()
    assert not Integration.objects.exists()


@pytest.mark.parametrize(
    "mapping, message",
    [
        ('["acme/web-app", "web"]', "Give a JSON object of names to service slugs"),
        ('{"acme/web-app": 3}', "Give a JSON object of names to service slugs"),
        ('{"acme/web-app": "Web App"}', "Not a service slug: Web App."),
    ],
)
def test_a_service_mapping_that_is_not_names_to_slugs_is_a_form_error(admin_client, mapping, message):
    response = admin_client.post(ADD_URL, add_form(service_mapping=mapping))

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors["service_mapping"])
    assert not Integration.objects.exists()
