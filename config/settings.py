"""Opslog settings. Every value comes from the environment; see docs/operations/configuration.md."""

import datetime as dt
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_cache,
    env_choice,
    env_database,
    env_emails,
    env_float,
    env_int,
    env_list,
    env_origins,
    env_rate,
    env_sender,
    env_str,
    env_time_zone,
    env_url,
    env_weekdays,
    env_working_hours,
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
    # Opslog's host name and the names under it are HTTPS-only; names beside it are not affected.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)

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
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "taggit",
    "plumbing",
    "deploys",
    "incidents",
    "postmortems",
    "alerts",
    "integrations",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless its view says otherwise (/healthz, the login page).
    # DRF views opt out here and apply their own authentication and permissions.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Timeline entries a request makes are marked "web" or "api" (incidents.models.entries_from).
    "incidents.middleware.TimelineSourceMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: it turns a login refused by the throttle into the 429 page (config.login_throttle).
    "axes.middleware.AxesMiddleware",
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
                "config.roles.roles",
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
# Incident tags: "DNS" typed on one incident and "dns" on another are one tag (filtered and counted
# together), and the spelling it was first given is kept. incidents.services.clean_tags relies on it.
TAGGIT_CASE_INSENSITIVE = True

# --- Time -----------------------------------------------------------------------------------
USE_TZ = True
# Stored in UTC; shown, and bucketed into months, in the reporting time zone.
OPSLOG_REPORT_TIME_ZONE = env_time_zone("OPSLOG_REPORT_TIME_ZONE", "UTC")
TIME_ZONE = OPSLOG_REPORT_TIME_ZONE

# --- DORA bands (reports.bands) ----------------------------------------------------------------
# The DORA report edition whose bands rate the levels: "2023" (default) or "2024". Checked at
# start-up by reports.apps (ImproperlyConfigured on anything else; the 2025 report has no bands).
OPSLOG_DORA_BANDS = env_str("OPSLOG_DORA_BANDS", "2023").strip()

# --- Insights (reports.insights) --------------------------------------------------------------
# A repeat incident: same service and contributing factor as an earlier one within this many days.
OPSLOG_INSIGHTS_REPEAT_DAYS = env_int("OPSLOG_INSIGHTS_REPEAT_DAYS", 30, minimum=1)
# Review cadence: a SEV1/SEV2 post-mortem is on time when published by the end of this many working
# days after the day its incident was resolved.
OPSLOG_INSIGHTS_REVIEW_WORKING_DAYS = env_int("OPSLOG_INSIGHTS_REVIEW_WORKING_DAYS", 5, minimum=0)
# On-call load: an incident that began outside these hours and days (in that zone) counts as out of hours.
OPSLOG_WORKING_HOURS = env_working_hours("OPSLOG_WORKING_HOURS", "09:00-18:00")
OPSLOG_WORKING_DAYS = env_weekdays("OPSLOG_WORKING_DAYS", "mon-fri")
OPSLOG_WORKING_HOURS_TIME_ZONE = env_time_zone("OPSLOG_WORKING_HOURS_TIME_ZONE", OPSLOG_REPORT_TIME_ZONE)
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
# django-axes first: it refuses a throttled login before the password is hashed (the costly part).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Login throttling (django-axes; both /accounts/login/ and /admin/login/) -------------------------
# Failed logins from one client address before it is locked out, whichever accounts it tried.
OPSLOG_LOGIN_FAILURE_LIMIT = env_int("OPSLOG_LOGIN_FAILURE_LIMIT", 10, minimum=1)
# Failed logins on one account, from any address, before the account is locked out for everyone:
# higher, so someone mistyping never locks the account, while guesses spread over many addresses
# still stop. 0: no per-account limit (nobody can lock someone else out, but spread guesses go on).
OPSLOG_LOGIN_ACCOUNT_FAILURE_LIMIT = env_int("OPSLOG_LOGIN_ACCOUNT_FAILURE_LIMIT", 50, minimum=0)
if 0 < OPSLOG_LOGIN_ACCOUNT_FAILURE_LIMIT < OPSLOG_LOGIN_FAILURE_LIMIT:
    raise ImproperlyConfigured(
        "OPSLOG_LOGIN_ACCOUNT_FAILURE_LIMIT must be 0 (off) or at least OPSLOG_LOGIN_FAILURE_LIMIT."
    )
# How long a lockout lasts, in minutes, from the last failure counted before it.
OPSLOG_LOGIN_COOLOFF_MINUTES = env_int("OPSLOG_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
# Proxies in front of Opslog that append the client's address to X-Forwarded-For (a load balancer
# and nginx: 2). 0: the client is the connection's address, and X-Forwarded-For is ignored, since
# anyone can send it. The login throttle and the API's write throttle both count by this address.
OPSLOG_TRUSTED_PROXIES = env_int("OPSLOG_TRUSTED_PROXIES", 0, minimum=0)
AXES_FAILURE_LIMIT = OPSLOG_LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = ["ip_address"] + (["username"] if OPSLOG_LOGIN_ACCOUNT_FAILURE_LIMIT else [])
# Each parameter's own limit, in AXES_LOCKOUT_PARAMETERS' order (config.login_throttle).
OPSLOG_LOGIN_LIMITS = [OPSLOG_LOGIN_FAILURE_LIMIT, OPSLOG_LOGIN_ACCOUNT_FAILURE_LIMIT][: len(AXES_LOCKOUT_PARAMETERS)]
AXES_COOLOFF_TIME = dt.timedelta(minutes=OPSLOG_LOGIN_COOLOFF_MINUTES)
AXES_CLIENT_IP_CALLABLE = "config.login_throttle.client_address"
AXES_USERNAME_CALLABLE = "config.login_throttle.client_username"
AXES_LOCKOUT_CALLABLE = "config.login_throttle.lockout_response"
# The lockout page is a 429 like the API's throttle; a successful login is only logged.
AXES_HTTP_RESPONSE_CODE = 429
AXES_DISABLE_ACCESS_LOG = True
# Attempts during a lockout are refused without being recorded: nothing is written per request while
# someone hammers the login (the database handler would append each one to a row without end).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False

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

# --- Security -------------------------------------------------------------------------------
# Django's defaults, stated so a change to them is a visible decision.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Messages live in the server-side session, not a cookie: the admin shows a new integration's
# secret once, in a message, and a cookie is signed, not encrypted.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
# check --deploy asks for HSTS preloading. Preloading is a promise for a whole registered domain
# (the preload list takes only the apex, with includeSubDomains, and leaving it takes months), so it
# is its owner's decision: set DJANGO_HSTS_PRELOAD=true when the domain qualifies.
SILENCED_SYSTEM_CHECKS.append("security.W021")
# Only the app's own scripts and styles run: no inline script, style or event handler, nothing from
# another host. The API docs page relaxes style-src for Swagger UI's own inline styles (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
# The largest request body a page or API endpoint reads (bytes; webhooks have their own limit,
# OPSLOG_WEBHOOK_MAX_BYTES). 10 MB holds a bulk deploy upload of 1,000 deploys with their commits;
# anything larger is answered 413 before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("OPSLOG_MAX_REQUEST_BYTES", 10 * 1024 * 1024, minimum=1024)
# Form fields per request (pages and the admin; JSON bodies are bounded by size alone).
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("OPSLOG_MAX_FORM_FIELDS", 1000, minimum=100)
# API writes (POST, PUT, PATCH, DELETE) per user, or per IP address without a user, e.g. "120/minute"
# (per second, minute, hour or day); "off" for none. Reads are never throttled. The counts live in
# the cache below: without OPSLOG_CACHE_URL each server process counts on its own.
OPSLOG_API_WRITE_RATE = env_rate("OPSLOG_API_WRITE_RATE", "120/minute")
# Django's cache, e.g. redis://127.0.0.1:6379/1: the throttle counts shared by every process.
# Unset: each process keeps its own in memory.
CACHES = {"default": env_cache("OPSLOG_CACHE_URL")}
# Failed logins are counted in that cache when there is one (Redis: shared, no database writes);
# without one, in the database, so that every server process still shares one count: a count per
# process would give an attacker as many tries as there are workers.
AXES_HANDLER = (
    "config.login_throttle.CacheHandler" if env_str("OPSLOG_CACHE_URL") else "config.login_throttle.DatabaseHandler"
)

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Ingest tokens (`Token oli_…`) first: every API knows one, so it is refused with the same 403
    # everywhere but where it may post (config.roles), rather than a misleading 401 "Invalid token".
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "deploys.auth.IngestTokenAuthentication",
        "deploys.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Reads need a role, writes the view's role (config/roles.py); ingest tokens only post deploys.
    "DEFAULT_PERMISSION_CLASSES": ["config.roles.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # An unknown ?format= is a 400 naming the formats, not DRF's 404.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.ContentNegotiation",
    # A ?page= that isn't a page number is a 400; one past the end stays a 404.
    "DEFAULT_PAGINATION_CLASS": "plumbing.paging.Pagination",
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "DATETIME_FORMAT": "iso-8601",
    # Services raise Django's ValidationError; every API view answers it with a 400.
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    # Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE are a 413: DRF's own parsers would read any size. JSON
    # nested deeper than 64 levels or holding a lone surrogate is a 400 saying so (plumbing.jsoninput).
    "DEFAULT_PARSER_CLASSES": [
        "plumbing.parsers.JSONParser",
        "plumbing.parsers.FormParser",
        "plumbing.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["config.throttles.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"write": OPSLOG_API_WRITE_RATE},
    # The client's address: the same rule as the login throttle's (OPSLOG_TRUSTED_PROXIES).
    "NUM_PROXIES": OPSLOG_TRUSTED_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Opslog API",
    "DESCRIPTION": (
        "Deploys, incidents, post-mortems and the monthly numbers behind them. "
        "Authenticate with `Authorization: Token <key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["config.roles.RolePermission"],
    # The docs' JavaScript and CSS are served by the app itself: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every DORA level (per metric and overall) is one of the same four: one enum.
    "ENUM_NAME_OVERRIDES": {"DoraLevelEnum": "reports.api.serializers.LEVEL_CHOICES"},
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", schemes=("redis", "rediss", "amqp", "amqps", "pyamqp"))
# Embedded default: with no broker, tasks run in-process right away.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
# Nothing queued may be lost to a worker that dies mid-task (notifications, webhook processing,
# reminders, the monthly summary): a task's message is acknowledged only once the task has run,
# and a task whose pool process is killed is put back on the queue rather than failed. So a task
# may run twice; running again after a crash is harmless: notifications and webhook processing
# skip what they already recorded as done, reminders claim each remediation for the day before
# emailing (a crash between the two skips that one until tomorrow's run), and the monthly summary
# marks its month in the transaction that sends it (a second delivery sends nothing; only a crash
# between the mail server's answer and the commit sends it twice).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis: a message taken by a worker that is then killed outright (SIGKILL, out of memory, a lost
# machine) stays on the broker, unacknowledged, and is handed out again once it is this many
# seconds old: by the next worker to start (it sweeps the unacknowledged messages on start-up)
# or by a running worker's periodic sweep (every ~100 s). Shorter brings a crashed task back
# sooner; but a task still running, or still waiting for its retry countdown, after this long is
# delivered a second time while the first copy is alive, and two copies at once can both send
# (a chat line or an email twice). Keep it well above the longest task and the longest retry
# backoff (OPSLOG_NOTIFY/WEBHOOK_RETRY_DELAY × 2^(MAX_RETRIES-1): 320 s by default). Seconds;
# RabbitMQ ignores it.
OPSLOG_CELERY_VISIBILITY_TIMEOUT = env_int("OPSLOG_CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": OPSLOG_CELERY_VISIBILITY_TIMEOUT}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The longest a request (or the beat task) waits on the broker to queue a task, connecting and
# publishing, with no retries; seconds. A broker that is down costs a request no more than this:
# what could not be queued stays in the outbox, and the beat task below queues it later.
OPSLOG_BROKER_PUBLISH_TIMEOUT = env_float("OPSLOG_BROKER_PUBLISH_TIMEOUT", 0.5, minimum=0.05)
CELERY_TIMEZONE = "UTC"
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE = {
    # Owners of remediations due within two days or overdue get one email a day at most.
    "remediation-reminders": {
        "task": "postmortems.tasks.send_remediation_reminders",
        "schedule": 3600.0,
    },
    # Last month's numbers to OPSLOG_SUMMARY_EMAILS, once a month. 12:00 UTC on the 1st is already
    # the 1st (or the 2nd) in every reporting time zone, so "last month" is the month just ended.
    "monthly-summary": {
        "task": "reports.tasks.send_monthly_summary",
        "schedule": crontab(minute=0, hour=12, day_of_month=1),
    },
    # Outbox messages (deploy notices…) not sent yet: their task was never queued (broker down),
    # was lost, or the receiver failed and the next try is due.
    "send-due-outbox-messages": {
        "task": "deploys.tasks.send_due_outbox_messages",
        "schedule": 60.0,
    },
    # Webhook deliveries whose processing task was never queued (broker down) or was lost.
    "requeue-stale-deliveries": {
        "task": "integrations.tasks.requeue_stale_deliveries",
        "schedule": 300.0,
    },
    # Remediations' issues still being created with no attempt for over an hour (their task was
    # never queued, or was lost): tried again; an attempt searches for the issue before creating.
    "requeue-stale-tracker-links": {
        "task": "integrations.tasks.requeue_stale_tracker_links",
        "schedule": 600.0,
    },
    # The report's kept rollback times and recoveries (failed deployment recovery time) of the
    # services and environments whose deploys, links or incidents changed: until then reports work
    # those out themselves, exact but slower.
    "refresh-rollback-times": {
        "task": "reports.tasks.refresh_rollback_times",
        "schedule": 60.0,
    },
    "purge-old-deliveries": {
        "task": "integrations.tasks.purge_old_deliveries",
        "schedule": 24 * 3600.0,
    },
    "purge-old-slack-requests": {
        "task": "integrations.tasks.purge_old_slack_requests",
        "schedule": 24 * 3600.0,
    },
    "purge-old-mattermost-requests": {
        "task": "integrations.tasks.purge_old_mattermost_requests",
        "schedule": 24 * 3600.0,
    },
}
# How long finished webhook deliveries (raw bodies and headers) are kept; 0 keeps them forever.
OPSLOG_DELIVERY_RETENTION_DAYS = env_int("OPSLOG_DELIVERY_RETENTION_DAYS", 90, minimum=0)
# Who gets the monthly summary email: comma-separated addresses; empty sends nothing.
OPSLOG_SUMMARY_EMAILS = env_emails("OPSLOG_SUMMARY_EMAILS")

# --- Email ----------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
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
# Every outbox message (a deploy notice…) is tried once and retried this many times, then given
# up (shown in the admin, where it can be sent again).
OPSLOG_NOTIFY_MAX_RETRIES = env_int("OPSLOG_NOTIFY_MAX_RETRIES", 6, minimum=0)
# First retry after this many seconds, doubling each time.
OPSLOG_NOTIFY_RETRY_DELAY = env_float("OPSLOG_NOTIFY_RETRY_DELAY", 10.0, minimum=0)
OPSLOG_BASE_URL = env_url("OPSLOG_BASE_URL")
# The Slack app (integrations/slack): Slack's Web API address (a local fake in tests), how long
# one call may take, and how many times a `ratelimited` answer is waited out before giving up.
OPSLOG_SLACK_API_URL = env_url("OPSLOG_SLACK_API_URL") or "https://slack.com/api/"
OPSLOG_SLACK_TIMEOUT = env_int("OPSLOG_SLACK_TIMEOUT", 10, minimum=1)
OPSLOG_SLACK_RATE_LIMIT_RETRIES = env_int("OPSLOG_SLACK_RATE_LIMIT_RETRIES", 3, minimum=0)
# How long the requests Slack sent (payloads with people's names and messages) are kept; they
# only guard against Slack's retries, which come within minutes. 0 keeps them forever.
OPSLOG_SLACK_REQUEST_RETENTION_DAYS = env_int("OPSLOG_SLACK_REQUEST_RETENTION_DAYS", 7, minimum=0)
# Mattermost (integrations/mattermost): how long one REST API call may take, how many times a 429
# is waited out, and the longest one wait may be (a server asking for more is given up on, logged).
OPSLOG_MATTERMOST_TIMEOUT = env_int("OPSLOG_MATTERMOST_TIMEOUT", 10, minimum=1)
OPSLOG_MATTERMOST_RATE_LIMIT_RETRIES = env_int("OPSLOG_MATTERMOST_RATE_LIMIT_RETRIES", 3, minimum=0)
OPSLOG_MATTERMOST_MAX_WAIT = env_int("OPSLOG_MATTERMOST_MAX_WAIT", 30, minimum=0)
# Tracker keys such as OPS-123 in post-mortems and remediations link here; {key} is the key.
OPSLOG_TRACKER_URL = env_url("OPSLOG_TRACKER_URL")
if OPSLOG_TRACKER_URL and "{key}" not in OPSLOG_TRACKER_URL:
    raise ImproperlyConfigured("OPSLOG_TRACKER_URL must contain {key}, e.g. https://tracker.example.com/browse/{key}.")
# Only these tracker projects' keys become links (e.g. "OPS,DEV"); empty: any key but the
# look-alikes of standards (UTF-8, ISO-8601, SHA-256…).
OPSLOG_TRACKER_PROJECTS = [p.upper() for p in env_list("OPSLOG_TRACKER_PROJECTS")]
# Remediations pushed to GitHub Issues or Jira (integrations/trackers): how long one API call may
# take, how many times creating an issue is retried (rate limited, the tracker's errors, no answer),
# the first after this many seconds (or the tracker's Retry-After), doubling each time.
OPSLOG_TRACKER_TIMEOUT = env_int("OPSLOG_TRACKER_TIMEOUT", 10, minimum=1)
OPSLOG_TRACKER_MAX_RETRIES = env_int("OPSLOG_TRACKER_MAX_RETRIES", 6, minimum=0)
OPSLOG_TRACKER_RETRY_DELAY = env_float("OPSLOG_TRACKER_RETRY_DELAY", 30.0, minimum=0)
# Suspect deploys for an incident: production deploys of its services from this many hours
# before the impact began up to its detection.
OPSLOG_SUSPECT_WINDOW_HOURS = env_float("OPSLOG_SUSPECT_WINDOW_HOURS", 4.0, minimum=0)
# The inferred attribution rule (reports, attribution=inferred): an incident without a linked
# cause is attributed to the latest production deploy of one of its services at most this many
# hours before its impact began. Default: the suspect window.
OPSLOG_ATTRIBUTION_WINDOW_HOURS = env_float("OPSLOG_ATTRIBUTION_WINDOW_HOURS", OPSLOG_SUSPECT_WINDOW_HOURS, minimum=0)

# Integration secrets (webhook signing keys) are encrypted with a key derived from this; it
# defaults to DJANGO_SECRET_KEY. Changing it makes stored secrets unreadable.
OPSLOG_SECRETS_KEY = env_str("OPSLOG_SECRETS_KEY") or SECRET_KEY
# Webhook bodies larger than this are refused with 413 before anything is stored.
OPSLOG_WEBHOOK_MAX_BYTES = env_int("OPSLOG_WEBHOOK_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
# Processing a stored delivery is retried this many times, the first after this many seconds,
# doubling each time.
OPSLOG_WEBHOOK_MAX_RETRIES = env_int("OPSLOG_WEBHOOK_MAX_RETRIES", 6, minimum=0)
OPSLOG_WEBHOOK_RETRY_DELAY = env_float("OPSLOG_WEBHOOK_RETRY_DELAY", 10.0, minimum=0)
# PagerDuty Change Events (docs/integrations/pagerduty-change-events.md): where each deploy field is
# read from the change event, the first path given wins (`source` is payload.source,
# `custom_details.x` payload.custom_details.x). Comma-separated paths in the environment.
OPSLOG_PAGERDUTY_CHANGE_SERVICE = env_str("OPSLOG_PAGERDUTY_CHANGE_SERVICE") or "custom_details.service,source"
OPSLOG_PAGERDUTY_CHANGE_ENVIRONMENT = env_str("OPSLOG_PAGERDUTY_CHANGE_ENVIRONMENT") or "custom_details.environment"
OPSLOG_PAGERDUTY_CHANGE_VERSION = (
    env_str("OPSLOG_PAGERDUTY_CHANGE_VERSION") or "custom_details.version,custom_details.sha,custom_details.commit"
)
OPSLOG_PAGERDUTY_CHANGE_DEPLOYER = (
    env_str("OPSLOG_PAGERDUTY_CHANGE_DEPLOYER") or "custom_details.deployer,custom_details.author"
)
# The environment of a change event that names none: change events are mostly production's.
OPSLOG_PAGERDUTY_CHANGE_DEFAULT_ENVIRONMENT = env_str("OPSLOG_PAGERDUTY_CHANGE_DEFAULT_ENVIRONMENT") or "production"
# CDEvents sinks (integrations/cdevents_out): the hosts a sink's URL may name, e.g.
# "events.example.com,cdviz.internal:8080" (a host, or host:port to allow only that port). Empty
# (the default): no sink is sent anything, so an admin can't make Opslog post to an address the
# operator didn't allow (an internal service, a cloud metadata endpoint).
OPSLOG_CDEVENTS_SINK_HOSTS = [h.lower() for h in env_list("OPSLOG_CDEVENTS_SINK_HOSTS")]
# How long one post to a sink may take, in seconds; longer counts as a failure and is retried.
OPSLOG_CDEVENTS_TIMEOUT = env_float("OPSLOG_CDEVENTS_TIMEOUT", 10.0, minimum=0.1)
# A post that fails (5xx, 429, a timeout) is retried this many times, the first after this many
# seconds, doubling each time (a 429's Retry-After, when longer, is waited instead).
OPSLOG_CDEVENTS_MAX_RETRIES = env_int("OPSLOG_CDEVENTS_MAX_RETRIES", 6, minimum=0)
OPSLOG_CDEVENTS_RETRY_DELAY = env_float("OPSLOG_CDEVENTS_RETRY_DELAY", 10.0, minimum=0)
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
