"""Login throttling with django-axes, on both login pages: per client address, and per account at a
higher limit (settings: OPSLOG_LOGIN_*; docs/operations/security.md).

axes has one failure limit for all its lockout parameters; the handlers here give each parameter
its own (settings.OPSLOG_LOGIN_LIMITS) by putting each count on the scale of AXES_FAILURE_LIMIT."""

from axes.handlers.cache import AxesCacheHandler
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_cache_keys, get_cool_off, get_failure_limit
from django.conf import settings
from django.db.models import Sum
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

# django.contrib.auth's User.username; settings can't import models, so the number is here.
USERNAME_MAX_LENGTH = 150


def client_address(request) -> str | None:
    """The address the API's throttle counts by too: the connection's, or behind
    OPSLOG_TRUSTED_PROXIES proxies the one they appended to X-Forwarded-For."""
    return BaseThrottle().get_ident(request)


def client_username(request, credentials=None) -> str | None:
    """The account tried, as axes reads it (the credentials, else the form), cut to the longest
    username there can be: axes stores it in a 255-character column, so a longer one was a 500 on
    PostgreSQL, and no account has a longer name to protect."""
    field = settings.AXES_USERNAME_FORM_FIELD
    name = credentials.get(field) if credentials else getattr(request, "data", request.POST).get(field)
    return name[:USERNAME_MAX_LENGTH] if isinstance(name, str) else name


def _scaled(counts: list[int]) -> int:
    """The failures that count, on the scale of AXES_FAILURE_LIMIT: reaching it means some parameter
    (address, account) reached its own limit. `counts` are in AXES_LOCKOUT_PARAMETERS' order."""
    base = settings.AXES_FAILURE_LIMIT
    return max((count * base // limit for count, limit in zip(counts, settings.OPSLOG_LOGIN_LIMITS)), default=0)


class DatabaseHandler(AxesDatabaseHandler):
    """Counts in the database (no OPSLOG_CACHE_URL): shared by every server process."""

    def get_failures(self, request, credentials=None) -> int:
        return _scaled(
            [
                attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
                for attempts in self.get_user_attempts(request, credentials)
            ]
        )


class CacheHandler(AxesCacheHandler):
    """Counts in the cache (OPSLOG_CACHE_URL, Redis): shared by every server process."""

    def get_failures(self, request, credentials=None) -> int:
        return _scaled([self.cache.get(key, default=0) for key in get_client_cache_keys(request, credentials)])

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        # axes' cache handler locks out on the raw counts here (its database handler asks
        # get_failures): decide on the scaled ones, as every later request does.
        if getattr(request, "axes_locked_out", False):
            request.axes_locked_out = self.get_failures(request, credentials) >= get_failure_limit(request, credentials)


def lockout_response(request, original_response=None, credentials=None):
    """The page for a refused login: 429, with Retry-After. The lockout ends at most a cool-off after
    the last counted failure, which was no later than now: the whole cool-off is the longest wait."""
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds())
    response = render(
        request,
        "registration/login_locked.html",
        {"minutes": seconds // 60},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(seconds)
    return response
