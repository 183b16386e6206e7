"""Status back from the trackers: GitHub's `issues` webhook (its published examples, from
@octokit/webhooks-examples) and Jira's `jira:issue_updated` (the shape Atlassian documents,
tests/support/payloads/jira.py), each signed with the connection's own webhook secret."""

import json
import time

import pytest

from incidents.models import TimelineEntry
from integrations.factories import TrackerConnectionFactory, TrackerLinkFactory
from postmortems.models import Remediation, RemediationChange
from tests.support.hooks import encode, github_examples, signature
from tests.support.payloads import jira

pytestmark = pytest.mark.django_db

SECRET = "test-tracker-secret"  # TrackerConnectionFactory's default


def github_hook(client, connection, payload, *, event="issues", secret=SECRET, sign=True):
    body = encode(payload)
    headers = {"HTTP_X_GITHUB_EVENT": event, "HTTP_X_GITHUB_DELIVERY": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    if sign:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature(secret, body)
    return client.post(f"/hooks/github-issues/{connection.pk}/", data=body, content_type="application/json", **headers)


def jira_hook(client, connection, payload, *, secret=SECRET, sign=True):
    body = encode(payload)
    headers = {"HTTP_X_HUB_SIGNATURE": signature(secret, body)} if sign else {}
    return client.post(f"/hooks/jira/{connection.pk}/", data=body, content_type="application/json", **headers)


@pytest.fixture
def hello_world():
    # The published examples are of Codertocat/Hello-World's issue #1.
    connection = TrackerConnectionFactory(repository="Codertocat/Hello-World")
    link = TrackerLinkFactory(
        connection=connection, issue_key="1", url="https://github.com/Codertocat/Hello-World/issues/1"
    )
    return connection, link.remediation


def closed_example() -> dict:
    """GitHub publishes no `closed` example: its `reopened` one, closed as completed, as GitHub
    sends it (action "closed", the issue's state "closed", state_reason "completed")."""
    [example] = [e for e in github_examples("issues") if e["action"] == "reopened"]
    example["action"] = "closed"
    example["issue"].update(state="closed", state_reason="completed", closed_at="2026-12-06T09:00:00Z")
    return example


def test_github_closed_marks_the_remediation_done_with_a_timeline_entry_from_the_tracker(client, hello_world):
    connection, remediation = hello_world
    response = github_hook(client, connection, closed_example())
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == f"remediation {remediation.pk} is done"

    remediation.refresh_from_db()
    assert remediation.status == Remediation.Status.DONE and remediation.completed_at is not None
    entry = TimelineEntry.objects.get(incident=remediation.postmortem.incident, source="tracker")
    assert "GitHub Issues #1 was closed" in entry.text and f"Remediation {remediation.pk}" in entry.text
    change = RemediationChange.objects.get(remediation=remediation, kind="status")
    assert change.changes["status"] == {"old": "open", "new": "done"}


def test_github_reopened_opens_a_done_remediation_again(client, hello_world):
    connection, remediation = hello_world
    github_hook(client, connection, closed_example())
    [reopened] = [e for e in github_examples("issues") if e["action"] == "reopened"]
    response = github_hook(client, connection, reopened)
    assert response.status_code == 200
    remediation.refresh_from_db()
    assert remediation.status == Remediation.Status.OPEN and remediation.completed_at is None
    assert TimelineEntry.objects.filter(source="tracker").count() == 2


def test_github_closed_twice_changes_it_once(client, hello_world):
    connection, remediation = hello_world
    github_hook(client, connection, closed_example())
    response = github_hook(client, connection, closed_example())
    assert "already done" in response.json()["outcome"]
    assert TimelineEntry.objects.filter(source="tracker").count() == 1


def test_closed_as_not_planned_leaves_the_remediation(client, hello_world):
    connection, remediation = hello_world
    example = closed_example()
    example["issue"]["state_reason"] = "not_planned"
    assert github_hook(client, connection, example).status_code == 200
    remediation.refresh_from_db()
    assert remediation.status == Remediation.Status.OPEN


@pytest.mark.parametrize("action", sorted({e["action"] for e in github_examples("issues")} - {"reopened"}))
def test_every_other_published_issues_example_is_ignored(client, hello_world, action):
    connection, remediation = hello_world
    example = next(e for e in github_examples("issues") if e["action"] == action)
    response = github_hook(client, connection, example)
    assert response.status_code == 200 and "ignored" in response.json()["outcome"]
    assert Remediation.objects.get(pk=remediation.pk).status == "open"


def test_an_unknown_issue_or_another_repository_is_ignored(client, hello_world):
    connection, remediation = hello_world
    example = closed_example()
    example["issue"]["number"] = 999
    assert "ignored" in github_hook(client, connection, example).json()["outcome"]
    example = closed_example()
    example["repository"]["full_name"] = "someone/else"
    assert "ignored" in github_hook(client, connection, example).json()["outcome"]
    assert Remediation.objects.get(pk=remediation.pk).status == "open"


def test_ping_is_answered(client, hello_world):
    connection, _ = hello_world
    assert github_hook(client, connection, {"zen": "Keep it logically awesome."}, event="ping").status_code == 200


@pytest.mark.parametrize(
    "how",
    ["unsigned", "wrong secret", "tampered", "sha1 prefix", "unknown connection", "jira connection", "inactive"],
)
def test_github_signature_failures_are_401_and_change_nothing(client, hello_world, how):
    connection, remediation = hello_world
    payload = closed_example()
    body = encode(payload)
    headers = {"HTTP_X_GITHUB_EVENT": "issues", "HTTP_X_HUB_SIGNATURE_256": signature(SECRET, body)}
    pk = connection.pk
    if how == "unsigned":
        del headers["HTTP_X_HUB_SIGNATURE_256"]
    elif how == "wrong secret":
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature("another-secret", body)
    elif how == "tampered":
        body = body.replace(b'"closed"', b'"reopened"', 1)
    elif how == "sha1 prefix":
        headers["HTTP_X_HUB_SIGNATURE_256"] = headers["HTTP_X_HUB_SIGNATURE_256"].replace("sha256=", "sha1=")
    elif how == "unknown connection":
        pk = 999999
    elif how == "jira connection":
        pk = TrackerConnectionFactory(kind="jira", flavour="server", repository="", base_url="https://j.example").pk
    elif how == "inactive":
        type(connection).objects.filter(pk=pk).update(is_active=False)
    response = client.post(f"/hooks/github-issues/{pk}/", data=body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert Remediation.objects.get(pk=remediation.pk).status == "open"
    assert not TimelineEntry.objects.filter(source="tracker").exists()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b"\xff\xfe", 400),
        (b'{"action": "closed", "issue": {"number": "1"}, "repository": {"full_name": "Codertocat/Hello-World"}}', 400),
        (b'{"action": "closed", "issue": {"number": 1, "title": "\\ud800"}}', 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
    ],
)
def test_bad_bodies_are_a_clear_400(client, hello_world, body, status):
    connection, _ = hello_world
    response = github_hook(client, connection, body)
    assert response.status_code == status
    assert response.json()["detail"]


def test_a_huge_payload_costs_about_what_a_plain_one_costs(client, hello_world):
    connection, remediation = hello_world
    plain = closed_example()
    start = time.perf_counter()
    github_hook(client, connection, plain)
    plain_time = time.perf_counter() - start
    github_hook(client, connection, next(e for e in github_examples("issues") if e["action"] == "reopened"))

    huge = closed_example()
    huge["issue"]["body"] = "é🙂\u202e" * 100_000  # about 2.4 MB once JSON-escaped
    huge["issue"]["labels"] = [{"name": f"label-{n}"} for n in range(20_000)]
    start = time.perf_counter()
    response = github_hook(client, connection, huge)
    huge_time = time.perf_counter() - start
    assert response.status_code == 200
    assert Remediation.objects.get(pk=remediation.pk).status == "done"
    assert huge_time < max(plain_time * 50, 1.5)


def test_over_the_size_limit_is_413(client, hello_world, settings):
    connection, _ = hello_world
    settings.OPSLOG_WEBHOOK_MAX_BYTES = 2048
    example = closed_example()
    example["issue"]["body"] = "x" * 5000
    assert github_hook(client, connection, example).status_code == 413


# --- Jira -----------------------------------------------------------------------------------------


@pytest.fixture
def ops_12():
    connection = TrackerConnectionFactory(
        kind="jira", flavour="cloud", repository="", base_url="https://acme.atlassian.net", email="o@example.com"
    )
    link = TrackerLinkFactory(connection=connection, issue_key="OPS-12", url="https://acme.atlassian.net/browse/OPS-12")
    return connection, link.remediation


def test_jira_done_category_marks_it_done_and_another_opens_it_again(client, ops_12):
    connection, remediation = ops_12
    response = jira_hook(client, connection, jira.issue_updated(key="OPS-12", status="Closed", category="done"))
    assert response.status_code == 200, response.content
    remediation.refresh_from_db()
    assert remediation.status == "done" and remediation.completed_at
    entry = TimelineEntry.objects.get(source="tracker")
    assert "Jira OPS-12 was moved to Closed" in entry.text

    response = jira_hook(
        client,
        connection,
        jira.issue_updated(key="OPS-12", status="In Progress", category="indeterminate", was="Closed"),
    )
    remediation.refresh_from_db()
    assert remediation.status == "open" and remediation.completed_at is None
    assert TimelineEntry.objects.filter(source="tracker").count() == 2


def test_jira_other_events_and_unknown_issues_are_ignored(client, ops_12):
    connection, remediation = ops_12
    created = jira.issue_updated(key="OPS-12") | {"webhookEvent": "jira:issue_created"}
    assert "ignored" in jira_hook(client, connection, created).json()["outcome"]
    assert "ignored" in jira_hook(client, connection, jira.issue_updated(key="OPS-99")).json()["outcome"]
    assert Remediation.objects.get(pk=remediation.pk).status == "open"


@pytest.mark.parametrize("how", ["unsigned", "wrong secret", "github header"])
def test_jira_signature_failures_are_401(client, ops_12, how):
    connection, remediation = ops_12
    body = encode(jira.issue_updated(key="OPS-12"))
    if how == "unsigned":
        headers = {}
    elif how == "wrong secret":
        headers = {"HTTP_X_HUB_SIGNATURE": signature("nope", body)}
    else:
        headers = {"HTTP_X_HUB_SIGNATURE_256": signature(SECRET, body)}
    response = client.post(f"/hooks/jira/{connection.pk}/", data=body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert Remediation.objects.get(pk=remediation.pk).status == "open"


def test_jira_without_a_status_category_is_a_400(client, ops_12):
    connection, _ = ops_12
    payload = jira.issue_updated(key="OPS-12")
    del payload["issue"]["fields"]["status"]["statusCategory"]
    response = jira_hook(client, connection, payload)
    assert response.status_code == 400 and "statusCategory" in response.json()["detail"]
    assert jira_hook(client, connection, json.dumps({"webhookEvent": "jira:issue_updated"}).encode()).status_code == 400
