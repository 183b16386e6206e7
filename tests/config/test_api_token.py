"""/accounts/token/: each person makes their own API token, which acts with their role."""

import re

import pytest
from rest_framework.test import APIClient

from deploys.auth import key_digest
from deploys.models import ApiToken

pytestmark = pytest.mark.django_db


def shown_key(response) -> str:
    return re.search(r"Your API token is (\w+)", " ".join(str(m) for m in response.context["messages"])).group(1)


def api_as(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_viewer_makes_a_token_that_reads_but_cannot_write(client, viewer):
    client.force_login(viewer)
    assert client.get("/accounts/token/").context["token"] is None

    response = client.post("/accounts/token/", follow=True)

    key = shown_key(response)
    assert ApiToken.objects.get(user=viewer).key_digest == key_digest(key)
    assert api_as(key).get("/api/incidents/").status_code == 200
    refused = api_as(key).post("/api/incidents/", {"title": "x", "started_at": "2024-07-01T10:00:00Z"}, format="json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "This needs the responder role; you are a viewer."}


def test_a_new_token_ends_the_old_one_and_the_key_is_shown_once(logged_in, user):
    old = shown_key(logged_in.post("/accounts/token/", follow=True))

    new = shown_key(logged_in.post("/accounts/token/", follow=True))

    assert new != old
    assert api_as(old).get("/api/deploys/").status_code == 401
    assert (
        api_as(new)
        .post(
            "/api/deploys/",
            {"service": "web", "environment": "qa", "version": "1", "deployer": "ekastner"},
            format="json",
        )
        .status_code
        == 201
    )
    page = logged_in.get("/accounts/token/")
    assert new not in page.content.decode()
    assert page.context["token"].key_start == new[:6] and page.context["role"] == "responder"
    assert f"<code>{new[:6]}…</code>" in page.content.decode()


def test_the_page_needs_a_login_and_a_csrf_token(client, user):
    from django.test import Client

    assert client.get("/accounts/token/")["Location"].startswith("/accounts/login/")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/accounts/token/").status_code == 403
    assert not ApiToken.objects.filter(user=user).exists()


def test_an_admin_makes_a_token_for_a_user_from_the_command_line(user):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("create_api_token", "ekastner", stdout=out)

    key = out.getvalue().strip()
    assert ApiToken.objects.get(user=user).key_digest == key_digest(key)
    assert api_as(key).get("/api/deploys/").status_code == 200
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("create_api_token", "nobody")
