"""Refusing bad input: write throttling, the request-size limit, security headers, check --deploy."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.support.roles import responder
from tests.support.tokens import api_token

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "opslog.example.com",
    "DJANGO_BEHIND_TLS_PROXY": "true",
    "DJANGO_HSTS_SECONDS": "31536000",
}
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def run_manage(*args, **env):
    """manage.py in a fresh process with only the given Opslog/Django settings."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "OPSLOG_", "EMAIL_", "CELERY_", "DATABASE_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **PRODUCTION_ENV, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def policy(response) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


# --- Throttling -----------------------------------------------------------------------------------


@pytest.fixture
def write_rate(settings):
    """Lower the write rate for one test; the counts start from zero."""

    def set_rate(rate):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"write": rate}}

    cache.clear()
    yield set_rate
    cache.clear()


@pytest.mark.django_db
def test_writes_over_the_rate_are_refused_with_429_and_retry_after(api, write_rate):
    write_rate("3/minute")

    statuses = [api.post("/api/deploys/", {}, format="json").status_code for _ in range(3)]
    refused = api.post("/api/deploys/", {}, format="json")

    assert statuses == [400, 400, 400]  # counted even when invalid
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"].lower()
    # Every write method counts against the same budget.
    assert api.patch("/api/incidents/1/", {}, format="json").status_code == 429
    assert api.delete("/api/remediations/1/").status_code == 429


@pytest.mark.django_db
def test_reads_are_never_throttled(api, write_rate):
    write_rate("1/minute")

    assert api.post("/api/deploys/", {}, format="json").status_code == 400
    assert api.post("/api/deploys/", {}, format="json").status_code == 429
    assert {api.get("/api/deploys/").status_code for _ in range(20)} == {200}
    assert api.get("/api/reports/monthly/").status_code == 200


@pytest.mark.django_db
def test_each_user_has_their_own_budget(api, write_rate, django_user_model):
    write_rate("1/minute")
    other = APIClient()
    other_user = responder(django_user_model.objects.create_user(username="ci-bot", password="another-long-password"))
    other.credentials(HTTP_AUTHORIZATION=f"Token {api_token(other_user).key}")

    assert api.post("/api/deploys/", {}, format="json").status_code == 400
    assert api.post("/api/deploys/", {}, format="json").status_code == 429
    assert other.post("/api/deploys/", {}, format="json").status_code == 400


@pytest.mark.django_db
def test_webhooks_are_not_api_throttled(client, write_rate):
    write_rate("1/minute")

    # Unsigned: refused by the signature check every time, never by a throttle.
    assert {client.post("/hooks/github/", "{}", content_type="application/json").status_code for _ in range(3)} == {401}


@pytest.mark.django_db
def test_throttle_counts_live_in_redis_when_opslog_cache_url_is_set(api, settings, write_rate):
    # In production every gunicorn worker and machine shares these counts.
    url = settings.OPSLOG_TEST_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        pytest.skip("needs Redis: set CELERY_BROKER_URL=redis://…")
    import redis

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"opslog-test-{secrets.token_hex(4)}",
        }
    }
    write_rate("2/minute")
    try:
        assert api.post("/api/deploys/", {}, format="json").status_code == 400
        assert api.post("/api/deploys/", {}, format="json").status_code == 400
        assert api.post("/api/deploys/", {}, format="json").status_code == 429

        keys = redis.Redis.from_url(url).keys(f"{settings.CACHES['default']['KEY_PREFIX']}:*throttle_write_*")
        assert len(keys) == 1
    finally:
        cache.clear()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OPSLOG_API_WRITE_RATE", "fast"),
        ("OPSLOG_API_WRITE_RATE", "120/month"),
        ("OPSLOG_API_WRITE_RATE", "0/minute"),
        ("OPSLOG_CACHE_URL", "memcached://127.0.0.1:11211"),
        ("OPSLOG_MAX_REQUEST_BYTES", "10MB"),
        ("OPSLOG_MAX_FORM_FIELDS", "lots"),
        ("DJANGO_HSTS_PRELOAD", "perhaps"),
    ],
)
def test_a_malformed_security_setting_stops_start_up_naming_it(variable, value):
    result = run_manage("check", **{variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.strip().splitlines()[-1]


def test_rates_and_cache_follow_the_environment():
    script = (
        "from django.conf import settings as s;"
        "print(s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['write'], s.CACHES['default']['BACKEND'],"
        " s.DATA_UPLOAD_MAX_MEMORY_SIZE)"
    )
    default = run_manage("shell", "-v", "0", "-c", script)
    custom = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        script,
        OPSLOG_API_WRITE_RATE="30/Hour",
        OPSLOG_CACHE_URL="redis://127.0.0.1:6379/3",
        OPSLOG_MAX_REQUEST_BYTES="4096",
    )
    off = run_manage("shell", "-v", "0", "-c", script, OPSLOG_API_WRITE_RATE="off")

    assert default.stdout.split() == [
        "120/minute",
        "django.core.cache.backends.locmem.LocMemCache",
        str(10 * 1024 * 1024),
    ], default.stderr
    assert custom.stdout.split() == ["30/hour", "django.core.cache.backends.redis.RedisCache", "4096"], custom.stderr
    assert off.stdout.split()[0] == "None", off.stderr


# --- Request size -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_oversized_api_body_is_a_413_with_a_message(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    body = json.dumps(
        {"service": "web", "environment": "production", "version": "1", "deployer": "x", "message": "x" * 5000}
    )

    as_json = api.post("/api/deploys/", body, content_type="application/json")
    as_form = api.post("/api/deploys/", {"message": "x" * 5000})

    assert as_json.status_code == 413
    assert as_json.json() == {"detail": "The request body is over 4096 bytes."}
    assert as_form.status_code == 413
    assert as_form.json()["detail"] == "The request body is over 4096 bytes."


@pytest.mark.django_db
def test_too_many_form_fields_is_a_400_with_a_message(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 100

    response = api.post("/api/deploys/", {f"field{i}": "x" for i in range(150)})

    assert response.status_code == 400
    assert response.json() == {"detail": "The request has more than 100 form fields."}


@pytest.mark.django_db
def test_a_bulk_upload_of_1000_deploys_with_commits_fits_the_default_limit(api, settings):
    from config.settings import DATA_UPLOAD_MAX_MEMORY_SIZE  # the production default, not a test value

    deploys = [
        {
            "service": "web",
            "environment": "production",
            "version": f"2024.{n}",
            "deployer": "ci",
            "message": f"Release 2024.{n}: " + "a realistic release note " * 8,
            "external_id": f"pipeline-{n}",
            "diff_url": f"https://git.example.com/acme/web/compare/2024.{n - 1}...2024.{n}",
            "commits": [
                {"sha": f"{n:020x}{c:020x}", "message": "Fix the thing that broke the other thing " * 4}
                for c in range(10)
            ],
        }
        for n in range(1000)
    ]
    body = json.dumps({"deploys": deploys})

    assert 2.5 * 1024 * 1024 < len(body) < DATA_UPLOAD_MAX_MEMORY_SIZE  # over Django's 2.5 MB default
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
    response = api.post("/api/deploys/bulk/", body, content_type="application/json")

    assert response.status_code == 201, response.content[:500]
    assert response.json()["created"] == 1000


# --- Headers ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/deploys/", "/incidents/", "/accounts/login/"])
def test_pages_send_the_security_headers(logged_in, url):
    response = logged_in.get(url)

    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert policy(response) == CSP


@pytest.mark.django_db
def test_the_api_sends_the_security_headers(api):
    response = api.get("/api/deploys/")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert policy(response) == CSP


@pytest.mark.django_db
def test_api_docs_relax_only_style_src_and_run_no_inline_script(logged_in):
    page = logged_in.get("/api/docs/")
    html = page.content.decode()
    script = logged_in.get(
        re.search(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', html).group(1).replace("&amp;", "&")
    )

    assert policy(page) == {**CSP, "style-src": "'self' 'unsafe-inline'"}
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # every script is a file of our own
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def _inline_code(html: str) -> list[str]:
    """What a CSP without 'unsafe-inline' would block: inline scripts, styles and handlers."""
    return re.findall(
        r'<script(?![^>]*\bsrc=)(?![^>]*type="application/json")[^>]*>|<style\b|\sstyle=|\son[a-z]+\s*=|javascript:',
        html,
        flags=re.IGNORECASE,
    )


@pytest.mark.django_db
def test_admin_pages_have_no_inline_code(client, admin_user):
    from django.contrib import admin

    from deploys.factories import ChangeRecordFactory, DeployCommitFactory
    from postmortems.factories import RemediationFactory

    DeployCommitFactory()
    RemediationFactory()
    ChangeRecordFactory()
    client.force_login(admin_user)
    urls = ["/admin/", "/admin/password_change/"]
    for model in admin.site._registry:
        meta = model._meta
        urls += [f"/admin/{meta.app_label}/{meta.model_name}/", f"/admin/{meta.app_label}/{meta.model_name}/add/"]
        if (obj := model.objects.first()) is not None:
            urls.append(f"/admin/{meta.app_label}/{meta.model_name}/{obj.pk}/change/")

    found = {}
    for url in urls:
        response = client.get(url)
        if response.status_code == 200:
            found[url] = _inline_code(response.content.decode())

    assert len(found) > 20
    assert {url: code for url, code in found.items() if code} == {}


def test_production_sends_hsts_and_the_policy_over_tls():
    # An anonymous API request: no template, so no collected static files needed.
    script = (
        "from django.conf import settings as s; from django.test import Client;"
        "r = Client().get('/api/deploys/', HTTP_HOST='opslog.example.com', HTTP_X_FORWARDED_PROTO='https');"
        "print(r.status_code);"
        "[print(h + ': ' + r.get(h, '')) for h in ('Strict-Transport-Security', 'Content-Security-Policy',"
        " 'X-Frame-Options', 'X-Content-Type-Options', 'Referrer-Policy', 'Cross-Origin-Opener-Policy')];"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT)"
    )
    result = run_manage("shell", "-v", "0", "-c", script)

    lines = result.stdout.splitlines()
    assert lines[:1] == ["401"], result.stderr
    assert lines[1] == "Strict-Transport-Security: max-age=31536000; includeSubDomains"
    # Directives in whatever order django-csp writes them.
    directives = {d.strip() for d in lines[2].removeprefix("Content-Security-Policy: ").split(";")}
    assert "script-src 'self'" in directives and "unsafe-inline" not in lines[2]
    assert lines[3:6] == ["X-Frame-Options: DENY", "X-Content-Type-Options: nosniff", "Referrer-Policy: same-origin"]
    assert lines[6] == "Cross-Origin-Opener-Policy: same-origin"
    assert lines[7] == "True True True"  # cookies only over HTTPS; plain HTTP is redirected


# --- check --deploy -----------------------------------------------------------------------------


def test_check_deploy_is_clean_under_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    # The one silenced check is HSTS preloading, a decision for the domain's owner (see settings).
    assert "(1 silenced)" in result.stdout


def test_check_deploy_complains_without_tls():
    # The test above passes because of the settings, not because the check found nothing to say.
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_BEHIND_TLS_PROXY="false")

    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W012" in result.stderr
