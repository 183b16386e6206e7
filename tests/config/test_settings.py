"""Start-up refuses malformed configuration, naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE_ENV = {"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_SECRET_KEY": "x" * 50}


def manage_check(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPSLOG_", "EMAIL_"))}
    clean.pop("DATABASE_URL", None)
    clean.pop("CELERY_BROKER_URL", None)
    full = {**clean, **BASE_ENV, **env}
    full = {k: v for k, v in full.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60
    )


def test_defaults_start():
    result = manage_check()

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DJANGO_DEBUG", "maybe"),
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "mysql://user@db/opslog"),
        ("DATABASE_URL", "postgres://user@host:notaport/db"),
        ("CELERY_BROKER_URL", "localhost:6379"),
        ("OPSLOG_REPORT_TIME_ZONE", "Mars/Olympus_Mons"),
        # PostgreSQL reads CET as +01:00 all year; Python gives it summer time.
        ("OPSLOG_REPORT_TIME_ZONE", "CET"),
        ("OPSLOG_DELIVERY_RETENTION_DAYS", "-1"),
        ("EMAIL_PORT", "twenty-five"),
        ("EMAIL_USE_TLS", "sometimes"),
        ("OPSLOG_CHAT_WEBHOOK_URL", "hooks.slack.com/services/x"),
        ("OPSLOG_NOTIFY_MAX_RETRIES", "-1"),
        ("OPSLOG_LOG_LEVEL", "verbose"),
        ("OPSLOG_DEPLOY_EMAILS", "ops@example.com, not-an-address"),
        ("DEFAULT_FROM_EMAIL", "opslog"),
        ("CELERY_BROKER_URL", "redis://localhost:notaport/0"),
        ("DJANGO_CSRF_TRUSTED_ORIGINS", "opslog.example.com"),
        ("OPSLOG_SUSPECT_WINDOW_HOURS", "four"),
        ("OPSLOG_INSIGHTS_REPEAT_DAYS", "0"),
        ("OPSLOG_WORKING_HOURS", "18:00-09:00"),
        ("OPSLOG_WORKING_DAYS", "weekdays"),
        ("OPSLOG_WORKING_HOURS_TIME_ZONE", "Mars/Olympus_Mons"),
    ],
)
def test_a_malformed_value_stops_start_up_naming_the_variable(variable, value):
    result = manage_check(**{variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.strip().splitlines()[-1]


def test_secret_key_is_required_when_debug_is_off():
    result = manage_check(DJANGO_SECRET_KEY=None, DJANGO_DEBUG="false")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr.strip().splitlines()[-1]


def test_debug_runs_without_a_secret_key():
    result = manage_check(DJANGO_SECRET_KEY=None, DJANGO_DEBUG="true")

    assert result.returncode == 0, result.stderr


def test_settings_follow_the_environment():
    script = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.TIME_ZONE, s.CELERY_TASK_ALWAYS_EAGER, s.ALLOWED_HOSTS)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPSLOG_"))}
    env.update(
        BASE_ENV,
        DATABASE_URL="postgres://u:p@db.example.com:5432/opslog",
        OPSLOG_REPORT_TIME_ZONE="Europe/Berlin",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        DJANGO_ALLOWED_HOSTS="opslog.example.com, ops.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.stdout.split(" ", 3) == [
        "django.db.backends.postgresql",
        "Europe/Berlin",
        "False",
        "['opslog.example.com', 'ops.example.com']\n",
    ], result.stderr


def test_without_a_broker_tasks_run_in_process():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPSLOG_", "CELERY_", "DATABASE_"))}
    env.update(BASE_ENV)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-v",
            "0",
            "-c",
            "from django.conf import settings as s; print(s.CELERY_TASK_ALWAYS_EAGER, s.DATABASES['default']['NAME'])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    eager, name = result.stdout.split()
    assert eager == "True"
    assert Path(name).parent == ROOT


def test_implicit_tls_email_needs_only_its_own_switch():
    result = manage_check(EMAIL_USE_SSL="true", EMAIL_HOST="smtp.example.com", EMAIL_PORT="465")

    assert result.returncode == 0, result.stderr


def test_behind_a_tls_proxy_redirects_to_https_except_the_health_check():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPSLOG_", "DATABASE_"))}
    env.update(BASE_ENV, DJANGO_BEHIND_TLS_PROXY="true")
    script = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.SESSION_COOKIE_SECURE, s.SECURE_REDIRECT_EXEMPT)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.stdout.strip() == "True True True ['^healthz$']", result.stderr
