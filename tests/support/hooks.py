"""Shared by the webhook tests: GitHub's published example payloads, signed posts to each sender's hook.

GitHub's examples come from the npm package @octokit/webhooks-examples, pinned in the Makefile
(`make webhook-examples` installs it into .cache/octokit; `make test` and CI run it). Its
api.github.com/index.json is a list of {"name": <event>, "examples": [<payload>, ...], ...}.
"""

import copy
import functools
import hashlib
import hmac
import json
import os
import uuid
from pathlib import Path

import pytest
from django.test import TestCase

GITHUB_EXAMPLES = (
    Path(__file__).resolve().parents[2]
    / ".cache/octokit/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
)
SECRET = "test-webhook-secret"  # IntegrationFactory's default plain secret


@functools.cache
def _load_examples() -> dict[str, list[dict]]:
    return {entry["name"]: entry["examples"] for entry in json.loads(GITHUB_EXAMPLES.read_text())}


def github_examples(event: str) -> list[dict]:
    """Deep copies of GitHub's published examples of one event (a test may change them freely)."""
    if not GITHUB_EXAMPLES.exists():
        reason = f"{GITHUB_EXAMPLES} is missing: run `make webhook-examples` (needs npm)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the tests on GitHub's real payloads", pytrace=False)
        pytest.skip(reason)
    return copy.deepcopy(_load_examples()[event])


def github_example(event: str, **match) -> dict:
    """The first published example of `event` whose fields match, e.g. state="success" for
    deployment_status (matched on deployment_status.state) or ref="refs/heads/master" for push."""
    for example in github_examples(event):
        fields = {"state": (example.get("deployment_status") or {}).get("state"), "ref": example.get("ref")}
        if all(fields.get(key) == value for key, value in match.items()):
            return example
    raise AssertionError(f"no published {event} example with {match}")


def signature(secret: str, body: bytes) -> str:
    # Worked out here, as GitHub does it, not with the code under test.
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def github_headers(event: str, body: bytes, *, secret: str | None = SECRET, delivery: str | None = None) -> dict:
    headers = {"HTTP_X_GITHUB_EVENT": event, "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4())}
    if secret is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature(secret, body)
    return headers


def post(client, path: str, body: bytes, **headers):
    """POST as the sender does, then run what the request queued after commit (the processing
    task, in-process in tests) as a real commit would: pytest-django's test transaction never commits."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(path, data=body, content_type="application/json", **headers)


def post_github(client, event: str, payload, *, secret: str | None = SECRET, delivery: str | None = None, **extra):
    body = encode(payload)
    headers = github_headers(event, body, secret=secret, delivery=delivery)
    return post(client, "/hooks/github/", body, **headers, **extra)


def post_gitlab(client, event: str, payload, *, token: str | None = SECRET, key: str | None = None, **extra):
    headers = {"HTTP_X_GITLAB_EVENT": event}
    if token is not None:
        headers["HTTP_X_GITLAB_TOKEN"] = token
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return post(client, "/hooks/gitlab/", encode(payload), **headers, **extra)


def post_alertmanager(client, payload, *, authorization: str | None = f"Bearer {SECRET}"):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    return post(client, "/hooks/alertmanager/", encode(payload), **headers)
