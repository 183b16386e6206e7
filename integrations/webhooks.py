"""What the hook endpoint does with a request before storing it: name it, and keep no secret."""

import hashlib

from django.http import HttpRequest

# Headers stored as "[redacted]": they carry the integration's secret, or (signatures) enough to
# guess it offline from the stored body. A replay doesn't check signatures again: it needs none.
SECRET_HEADERS = {
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-gitlab-token",
    "cookie",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-pagerduty-signature",
}


def body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def stored_headers(request: HttpRequest) -> dict[str, str]:
    return {
        name: ("[redacted]" if name.lower() in SECRET_HEADERS else value) for name, value in request.headers.items()
    }
