import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/", "/deploys/", "/deploys/1/", "/api/docs/"])
def test_pages_redirect_to_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", ["/api/deploys/", "/api/schema/"])
def test_api_refuses_anonymous_requests(client, url):
    assert client.get(url).status_code in (401, 403)


def test_admin_sends_anonymous_users_to_its_login(client):
    response = client.get("/admin/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_login_page_is_open_and_logs_in(client, user):
    assert client.get("/accounts/login/").status_code == 200

    response = client.post(
        "/accounts/login/?next=/deploys/",
        {"username": "ekastner", "password": "a-long-test-password", "next": "/deploys/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/deploys/"
    assert client.get("/deploys/").status_code == 200


def test_a_wrong_password_is_a_form_error(client, user):
    response = client.post("/accounts/login/", {"username": "ekastner", "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_login_form_is_csrf_protected(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "ekastner", "password": "a-long-test-password"})

    assert response.status_code == 403


def test_logout_is_a_post(logged_in):
    response = logged_in.post("/accounts/logout/")

    assert response.status_code == 302
    assert logged_in.get("/deploys/").status_code == 302


@pytest.mark.parametrize(
    "url",
    [
        "/admin/deploys/deploy/",
        "/admin/deploys/deploycommit/",
        "/admin/deploys/service/",
        "/admin/deploys/environment/",
        "/admin/deploys/apitoken/",
    ],
)
def test_admin_lists_every_model(client, admin_user, url):
    from deploys.factories import DeployCommitFactory

    DeployCommitFactory()
    client.force_login(admin_user)

    assert client.get(url).status_code == 200
