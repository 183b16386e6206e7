"""Opslog settings. Every value comes from the environment; see the README's Configuration section."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_database,
    env_emails,
    env_float,
    env_int,
    env_list,
    env_origins,
    env_sender,
    env_str,
    env_time_zone,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core -----------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random string in production, "
            "or set DJANGO_DEBUG=true for local development."
        )
    SECRET_KEY = "insecure-development-key-only-used-when-DJANGO_DEBUG-is-true"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_origins("DJANGO_CSRF_TRUSTED_ORIGINS")
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    # Load balancers probe over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 30 * 24 * 3600, minimum=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "deploys",
    "incidents",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless its view says otherwise (/healthz, the login page).
    # DRF views opt out here and apply their own authentication and permissions.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Embedded default: a SQLite file inside the project folder.
DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'opslog.sqlite3'}")}
# The reports' covering indexes (Index.include) are a PostgreSQL optimization; SQLite builds them
# without the extra columns, which is all the embedded default needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue for the lock instead of failing with "database is locked" when two people
    # press Resolve at once; WAL lets pages read while someone writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Time -----------------------------------------------------------------------------------
USE_TZ = True
# Stored in UTC; shown, and bucketed into months, in the reporting time zone.
OPSLOG_REPORT_TIME_ZONE = env_time_zone("OPSLOG_REPORT_TIME_ZONE", "UTC")
TIME_ZONE = OPSLOG_REPORT_TIME_ZONE
LANGUAGE_CODE = "en-us"
USE_I18N = False

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedStaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DATETIME_FORMAT": "iso-8601",
    # Services raise Django's ValidationError; every API view answers it with a 400.
    "EXCEPTION_HANDLER": "config.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Opslog API",
    "DESCRIPTION": (
        "Deploys, incidents, post-mortems and the monthly numbers behind them. "
        "Authenticate with `Authorization: Token <key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # The docs' JavaScript and CSS are served by the app itself: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", schemes=("redis", "rediss", "amqp", "amqps", "pyamqp")
)
# Embedded default: with no broker, tasks run in-process right away.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE = {
    # Owners of remediations due within two days or overdue get one email a day at most.
    "remediation-reminders": {
        "task": "incidents.tasks.send_remediation_reminders",
        "schedule": 3600.0,
    },
    # Last month's numbers to OPSLOG_SUMMARY_EMAILS, once a month. 12:00 UTC on the 1st is already
    # the 1st (or the 2nd) in every reporting time zone, so "last month" is the month just ended.
    "monthly-summary": {
        "task": "reports.tasks.send_monthly_summary",
        "schedule": crontab(minute=0, hour=12, day_of_month=1),
    },
}
# Who gets the monthly summary email: comma-separated addresses; empty sends nothing.
OPSLOG_SUMMARY_EMAILS = env_emails("OPSLOG_SUMMARY_EMAILS")

# --- Email ----------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)  # 465 with EMAIL_USE_SSL
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", not EMAIL_USE_SSL)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL can't both be true.")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_sender("DEFAULT_FROM_EMAIL", "opslog@localhost")

# --- Opslog ---------------------------------------------------------------------------------
# Deploy notifications: a Slack-compatible incoming webhook, and/or a list of email addresses.
OPSLOG_CHAT_WEBHOOK_URL = env_url("OPSLOG_CHAT_WEBHOOK_URL")
OPSLOG_DEPLOY_EMAILS = env_emails("OPSLOG_DEPLOY_EMAILS")
OPSLOG_NOTIFY_MAX_RETRIES = env_int("OPSLOG_NOTIFY_MAX_RETRIES", 6, minimum=0)
# First retry after this many seconds, doubling each time.
OPSLOG_NOTIFY_RETRY_DELAY = env_float("OPSLOG_NOTIFY_RETRY_DELAY", 10.0, minimum=0)
OPSLOG_BASE_URL = env_url("OPSLOG_BASE_URL")
# Tracker keys such as OPS-123 in post-mortems and remediations link here; {key} is the key.
OPSLOG_TRACKER_URL = env_url("OPSLOG_TRACKER_URL")
if OPSLOG_TRACKER_URL and "{key}" not in OPSLOG_TRACKER_URL:
    raise ImproperlyConfigured(
        "OPSLOG_TRACKER_URL must contain {key}, e.g. https://tracker.example.com/browse/{key}."
    )
# Only these tracker projects' keys become links (e.g. "OPS,DEV"); empty: any key but the
# look-alikes of standards (UTF-8, ISO-8601, SHA-256…).
OPSLOG_TRACKER_PROJECTS = [p.upper() for p in env_list("OPSLOG_TRACKER_PROJECTS")]
# Suspect deploys for an incident: production deploys of its services from this many hours
# before the impact began up to its detection.
OPSLOG_SUSPECT_WINDOW_HOURS = env_float("OPSLOG_SUSPECT_WINDOW_HOURS", 4.0, minimum=0)

# Integration secrets (webhook signing keys) are encrypted with a key derived from this; it
# defaults to DJANGO_SECRET_KEY. Changing it makes stored secrets unreadable.
OPSLOG_SECRETS_KEY = env_str("OPSLOG_SECRETS_KEY") or SECRET_KEY
# Webhook bodies larger than this are refused with 413 before anything is stored.
OPSLOG_WEBHOOK_MAX_BYTES = env_int("OPSLOG_WEBHOOK_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
# Processing a stored delivery is retried this many times, the first after this many seconds,
# doubling each time.
OPSLOG_WEBHOOK_MAX_RETRIES = env_int("OPSLOG_WEBHOOK_MAX_RETRIES", 6, minimum=0)
OPSLOG_WEBHOOK_RETRY_DELAY = env_float("OPSLOG_WEBHOOK_RETRY_DELAY", 10.0, minimum=0)
# Prometheus scrapes /metrics with `Authorization: Bearer <this>`. Empty: /metrics answers 404, as if
# it didn't exist, so deploy and incident counts are never public by accident.
OPSLOG_METRICS_TOKEN = env_str("OPSLOG_METRICS_TOKEN").strip()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": env_choice("OPSLOG_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    },
}
