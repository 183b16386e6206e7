"""Tokens on the API: ingest tokens (`Authorization: Token oli_…`) and people's API tokens
(`Authorization: Token <key>`), the same header, so a CI system is set up the same way whichever kind
of token it is given. Both are stored as SHA-256 digests only."""

import datetime as dt
import hashlib

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from deploys.models import ApiToken, IngestToken

# last_used_at is for people ("is this token still used?"): one write a minute is enough.
LAST_USED_PRECISION = dt.timedelta(minutes=1)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class IngestClient:
    """What `request.user` is for a request made with an ingest token: authenticated, with no role
    (config.roles), allowed only the views' `ingest_actions`."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_ingest_client = True

    def __init__(self, token: IngestToken):
        self.token = token
        # DRF's throttle keys its counts on pk: one count per token, apart from users' counts.
        self.pk = self.id = f"ingest-{token.pk}"
        self.username = f"ingest token {token.name}"

    def __str__(self) -> str:
        return self.username


class IngestTokenAuthentication(TokenAuthentication):
    """Claims `Token oli_…` keys; any other key is left to ApiTokenAuthentication (people's tokens)."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "").split()
        if (
            len(header) != 2
            or header[0].lower() != self.keyword.lower()
            or not header[1].startswith(IngestToken.KEY_PREFIX)
        ):
            return None
        return self.authenticate_credentials(header[1])

    def authenticate_credentials(self, key):
        # Looked up by the key's digest: the database compares digests, never the key itself,
        # so its timing tells nothing about the key.
        token = IngestToken.objects.filter(key_digest=key_digest(key), revoked_at__isnull=True).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked ingest token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
            IngestToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return IngestClient(token), token


class ApiTokenAuthentication(TokenAuthentication):
    """A person's API token: DRF's `Token <key>` header, the key looked up by its digest."""

    def authenticate_credentials(self, key):
        return user_of_api_key(key)


def user_of_api_key(key: str):
    """(user, token) for a person's API key; AuthenticationFailed for an unknown key or an inactive user."""
    # By the key's digest, as for ingest tokens: the database never compares the key itself.
    token = ApiToken.objects.select_related("user").filter(key_digest=key_digest(key)).first()
    if token is None or not token.user.is_active:
        raise exceptions.AuthenticationFailed("Invalid token.")
    return token.user, token


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: your API token, made at /accounts/token/; it acts with your role.",
        }


class IngestTokenScheme(OpenApiAuthenticationExtension):
    target_class = IngestTokenAuthentication
    name = "ingestToken"

    def get_security_requirement(self, auto_schema):
        # Every API knows an ingest token, but only to refuse it (a 403) outside the operations
        # that take one (the views' `ingest_actions`, config.roles): only those list it.
        if getattr(auto_schema.view, "action", None) in getattr(auto_schema.view, "ingest_actions", ()):
            return super().get_security_requirement(auto_schema)
        return None

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token oli_…`: an ingest token, for CI systems; it may only post deploys.",
        }
