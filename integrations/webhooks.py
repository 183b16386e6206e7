"""What the hook endpoint does with a request before storing it: name it, and keep no secret."""

import hashlib

from django.http import HttpRequest

from plumbing.webhooks import SENDERS

# Headers stored as "[redacted]", besides each registered sender's own secret_headers: they carry
# credentials whoever sends them. A replay doesn't check signatures again: it needs none.
SECRET_HEADERS = {"authorization", "proxy-authorization", "x-api-key", "cookie"}


def body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def stored_headers(request: HttpRequest) -> dict[str, str]:
    secret = SECRET_HEADERS.union(*(sender.secret_headers for sender in SENDERS.values()))
    return {name: ("[redacted]" if name.lower() in secret else value) for name, value in request.headers.items()}
