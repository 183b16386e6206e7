"""The 403, 404 and 500 pages, and the favicon every page asks for."""

import re

import pytest
from django.conf import settings
from django.template import loader

pytestmark = pytest.mark.django_db


def test_a_viewer_refused_a_responder_page_is_told_why_with_the_site_menu(client, viewer):
    client.force_login(viewer)

    response = client.get("/incidents/new/")

    html = response.content.decode()
    assert response.status_code == 403
    assert "This needs the responder role; you are a viewer." in html
    assert "<nav>" in html and 'href="/incidents/"' in html and 'href="/remediations/"' in html
    assert 'href="/"' in html  # the way back
    assert "<title>Not allowed · Opslog</title>" in html


def test_the_403_page_escapes_the_reason(rf, viewer):
    from django.core.exceptions import PermissionDenied
    from django.views.defaults import permission_denied

    request = rf.get("/")
    request.user = viewer

    response = permission_denied(request, PermissionDenied("<script>alert(1)</script>"))

    html = response.content.decode()
    assert response.status_code == 403
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_403_without_a_reason_still_says_what_happened(rf, viewer):
    from django.core.exceptions import PermissionDenied
    from django.views.defaults import permission_denied

    request = rf.get("/")
    request.user = viewer

    html = permission_denied(request, PermissionDenied()).content.decode()

    assert "Your role doesn't allow this page." in html


def test_an_unknown_page_is_a_404_with_the_site_menu(client, viewer):
    client.force_login(viewer)

    response = client.get("/no-such-page/<b>")

    html = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in html and "<nav>" in html
    assert "/no-such-page/%3Cb%3E" in html and "<b>" not in html


def test_an_unknown_api_url_is_still_json(client, user):
    client.force_login(user)

    response = client.get("/api/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_500_page_renders_without_a_request_or_the_database(django_assert_num_queries):
    # As django.views.defaults.server_error renders it: no request, so no context processors.
    with django_assert_num_queries(0):
        html = loader.get_template("500.html").render()

    assert "<h1>Something went wrong</h1>" in html
    assert 'href="/static/opslog/opslog.css"' in html


def test_every_page_names_an_svg_favicon_the_policy_allows(client, viewer):
    client.force_login(viewer)

    html = client.get("/incidents/").content.decode()
    href = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html).group(1)
    icon = client.get(href)

    assert href == "/static/opslog/favicon.svg"
    assert icon.status_code == 200 and icon["Content-Type"].startswith("image/svg+xml")
    body = b"".join(icon.streaming_content) if icon.streaming else icon.content
    assert body.startswith(b"<svg ")
    assert "'self'" in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"]
