"""Shared by the tracker tests: the fake's connections, and running what a request queued."""

import pytest
from django.test import TestCase

from integrations.factories import TrackerConnectionFactory
from tests.support import fake_trackers
from tests.support.fake_trackers import FakeTrackers


@pytest.fixture
def fake(settings):
    server = FakeTrackers().start()
    settings.OPSLOG_BASE_URL = "https://opslog.example.com"
    yield server
    server.stop()
    assert server.problems == [], server.problems


def github(fake, **kwargs):
    kwargs.setdefault("token", fake_trackers.GITHUB_TOKEN)
    return TrackerConnectionFactory(kind="github", base_url=fake.url, repository=fake_trackers.REPO, **kwargs)


def jira_cloud(fake, **kwargs):
    return TrackerConnectionFactory(
        kind="jira",
        flavour="cloud",
        base_url=fake.url,
        repository="",
        project_key=fake_trackers.PROJECT,
        email=fake_trackers.JIRA_EMAIL,
        token=fake_trackers.JIRA_TOKEN,
        **kwargs,
    )


def jira_server(fake, **kwargs):
    return TrackerConnectionFactory(
        kind="jira",
        flavour="server",
        base_url=fake.url,
        repository="",
        project_key=fake_trackers.PROJECT,
        token=fake_trackers.JIRA_PAT,
        **kwargs,
    )


def post(client, path: str, data: dict):
    """POST a form, then run what it queued after commit (tasks run in-process, eagerly)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(path, data)
