"""Settings for the test suite: the real settings, plus a throwaway secret and fast hashing."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-used-anywhere-else")

from config.settings import *  # noqa: E402,F403
from config.settings import CELERY_BROKER_URL, REST_FRAMEWORK, STORAGES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
ALLOWED_HOSTS = ["*"]

# Tasks run in-process by default; tests marked `broker` switch to the real broker
# (CELERY_BROKER_URL) and a real worker for their duration.
CELERY_TASK_ALWAYS_EAGER = True
OPSLOG_TEST_BROKER_URL = CELERY_BROKER_URL
OPSLOG_CHAT_WEBHOOK_URL = ""
OPSLOG_DEPLOY_EMAILS = []
# The suite posts far faster than any CI system; tests/config/test_security.py lowers it to see a 429.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"write": "100000/minute"}}
