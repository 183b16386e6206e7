import os

import pytest
from rest_framework.test import APIClient

_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_collection_modifyitems(items):
    # @pytest.mark.postgres_only(reason=...): skipped on any other database (CI's second pass runs them).
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    for item in items:
        marker = item.get_closest_marker("postgres_only")
        if marker is not None:
            reason = marker.kwargs.get("reason", "needs PostgreSQL's real concurrency (CI's second pass runs it)")
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_sessionfinish(session, exitstatus):
    # CI's PostgreSQL + Redis pass must run everything: a skip there is a failure.
    if os.environ.get("OPSLOG_NO_SKIPS") and _skipped and exitstatus == 0:
        print(f"\nOPSLOG_NO_SKIPS is set but {len(_skipped)} test(s) were skipped:", *_skipped, sep="\n  ")
        session.exitstatus = 1


@pytest.fixture
def user(django_user_model):
    """A responder: files and edits incidents, post-mortems, remediations and deploys."""
    from config.roles import RESPONDER, role_set

    user = django_user_model.objects.create_user(username="ekastner", password="a-long-test-password")
    role_set(user=user, role=RESPONDER)
    return user


@pytest.fixture
def viewer(django_user_model):
    """A new account's role: reads everything, changes nothing."""
    return django_user_model.objects.create_user(username="viewer", password="a-long-test-password")


@pytest.fixture
def ingest_key():
    """The key of an ingest token, as a CI system is given it (one that may create services, as
    every token of any service could before that was a scope of its own)."""
    from deploys.services import ingest_token_create

    return ingest_token_create(name="ci", may_create_services=True)[1]


@pytest.fixture
def token(user):
    """The responder's API token; `.key` is its key (only its digest is stored)."""
    from tests.support.tokens import api_token

    return api_token(user)


@pytest.fixture
def api(token):
    """An API client authenticated the way CI systems are: `Authorization: Token KEY`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


class ChatReceiver:
    """A Slack-compatible incoming webhook on localhost that records what it is sent."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[dict] = []
        self.fail_next = 0
        self.delay = 0.0  # seconds each answer takes, to hold a sender mid-request
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                import json
                import time

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(receiver.delay)
                with receiver.lock:
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    receiver.attempts.append(body)
                    if not failing:
                        receiver.received.append(body)
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(b"error" if failing else b"ok")

            def log_message(self, *args):
                pass

        self.attempts: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/chat"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def chat_receiver(settings):
    receiver = ChatReceiver()
    settings.OPSLOG_CHAT_WEBHOOK_URL = receiver.url
    yield receiver
    receiver.close()
