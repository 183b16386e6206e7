"""Integration secrets at rest: encrypted with a key derived from OPSLOG_SECRETS_KEY.

HMAC checks need the secret itself, so it can't be hashed like a password; encrypting it keeps it
out of database dumps and the admin. Changing OPSLOG_SECRETS_KEY makes stored secrets unreadable:
each integration's secret must then be set again.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"opslog-integration-secrets:" + settings.OPSLOG_SECRETS_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "An integration secret can't be decrypted: OPSLOG_SECRETS_KEY (or DJANGO_SECRET_KEY) changed "
            "since it was stored. Set the integration's secret again in the admin."
        ) from None
