"""Create issue / Link existing issue on a remediation, against a local fake of GitHub's and Jira's
REST APIs (tests/support/fake_trackers.py): the request each tracker gets, one issue per
remediation whatever the clicks and lost answers, and what each error code leaves on the page."""

import pytest

from config.roles import VIEWER, role_set
from integrations import tasks
from integrations.models import TrackerLink
from integrations.trackers.services import marker, tracker_create_attempt
from postmortems.factories import RemediationFactory
from postmortems.models import Remediation, RemediationChange
from tests.support import fake_trackers
from tests.support.trackers import github, jira_cloud, jira_server, post

pytestmark = pytest.mark.django_db


def create_url(remediation) -> str:
    return f"/remediations/{remediation.pk}/issue/"


def page_of(client, remediation):
    return client.get(f"/incidents/{remediation.postmortem.incident_id}/postmortem/").content.decode()


def test_github_issue_is_created_with_title_body_link_back_and_labels(logged_in, fake):
    connection = github(fake)
    remediation = RemediationFactory(description="Alert on checkout 5xx rate\nSee the graph in the doc.", kind="ops")
    response = post(logged_in, create_url(remediation), {"connection": connection.pk})
    assert response.status_code == 302

    [call] = fake.called("POST issue")
    body = call["body"]
    assert body["title"] == "Alert on checkout 5xx rate"
    assert body["labels"] == ["opslog", "remediation", "ops"]
    incident_id = remediation.postmortem.incident_id
    assert (
        f"https://opslog.example.com/incidents/{incident_id}/postmortem/#remediation-{remediation.pk}" in body["body"]
    )
    assert marker(remediation.pk) in body["body"]
    link = TrackerLink.objects.get(remediation=remediation)
    assert (link.state, link.issue_key, link.attempts) == ("linked", "1", 1)
    assert link.url == f"https://github.example/{fake_trackers.REPO}/issues/1"
    remediation.refresh_from_db()
    assert remediation.tracker_ref == link.url
    html = page_of(logged_in, remediation)
    assert f'href="{link.url}"' in html and "GitHub Issues #1" in html


def test_jira_cloud_issue_uses_rest_v3_basic_auth_and_an_adf_description(logged_in, fake):
    connection = jira_cloud(fake)
    remediation = RemediationFactory(description="Add a runbook for the payment queue")
    post(logged_in, create_url(remediation), {"connection": connection.pk})

    [call] = fake.called("POST issue")
    assert call["api"] == "jira3" and call["path"] == "/rest/api/3/issue"
    fields = call["body"]["fields"]
    assert fields["summary"] == "Add a runbook for the payment queue"
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["labels"] == ["opslog", "remediation", "dev", marker(remediation.pk)]
    texts = [node["content"][0]["text"] for node in fields["description"]["content"]]
    assert any("/postmortem/#remediation-" in t for t in texts)
    link = TrackerLink.objects.get(remediation=remediation)
    assert (link.state, link.issue_key) == ("linked", "OPS-1")
    assert link.url == f"{fake.url}/browse/OPS-1"
    assert Remediation.objects.get(pk=remediation.pk).tracker_ref == "OPS-1"


def test_jira_server_issue_uses_rest_v2_a_bearer_pat_and_plain_text(logged_in, fake):
    connection = jira_server(fake)
    remediation = RemediationFactory()
    post(logged_in, create_url(remediation), {"connection": connection.pk})

    [call] = fake.called("POST issue")
    assert call["api"] == "jira2" and call["auth"] == f"Bearer {fake_trackers.JIRA_PAT}"
    assert isinstance(call["body"]["fields"]["description"], str)
    assert marker(remediation.pk) in call["body"]["fields"]["description"]
    assert TrackerLink.objects.get(remediation=remediation).issue_key == "OPS-1"


def test_a_second_click_never_makes_a_second_issue(logged_in, fake):
    connection = github(fake)
    remediation = RemediationFactory()
    post(logged_in, create_url(remediation), {"connection": connection.pk})
    response = post(logged_in, create_url(remediation), {"connection": connection.pk})
    assert response.status_code == 302
    assert len(fake.called("POST issue")) == 1
    assert TrackerLink.objects.filter(remediation=remediation).count() == 1
    assert "already has an issue" in page_of(logged_in, remediation)


@pytest.mark.parametrize("connect", [github, jira_cloud])
def test_a_lost_answer_then_retry_finds_the_marker_instead_of_creating_again(fake, connect):
    connection = connect(fake)
    remediation = RemediationFactory()
    link = TrackerLink.objects.create(remediation=remediation, connection=connection)
    fake.lose("POST issue")

    first = tracker_create_attempt(link_id=link.pk, last_chance=False)
    assert first.retry and "did not answer" in first.message
    link.refresh_from_db()
    assert (link.state, link.attempts) == ("pending", 1)

    second = tracker_create_attempt(link_id=link.pk, last_chance=False)
    assert second.done and not second.retry
    link.refresh_from_db()
    assert link.state == "linked"
    assert len(fake.called("POST issue")) == 1  # the retry found the first one
    if connection.kind == "github":
        # GitHub's REST list, up to date at once; the search index may lag behind.
        assert len(fake.called("GET list")) == 1 and fake.called("GET search") == []
    else:
        assert len(fake.called("GET search")) == 1  # JQL on the marker label
    issues = fake.github_issues if connection.kind == "github" else fake.jira_issues
    assert len(issues) == 1
    # The remediation's tracker reference follows, recorded in the post-mortem's history.
    change = RemediationChange.objects.get(remediation=remediation, kind="edited")
    assert change.changes["tracker_ref"]["new"] == Remediation.objects.get(pk=remediation.pk).tracker_ref != ""


def test_an_older_lost_issue_is_found_by_github_search(fake):
    connection = github(fake)
    link = TrackerLink.objects.create(remediation=RemediationFactory(), connection=connection)
    fake.lose("POST issue")
    fake.search_only = True
    assert tracker_create_attempt(link_id=link.pk, last_chance=False).retry
    assert tracker_create_attempt(link_id=link.pk, last_chance=False).done
    link.refresh_from_db()
    assert link.state == "linked" and len(fake.github_issues) == 1
    assert len(fake.called("GET list")) == 1 and len(fake.called("GET search")) == 1


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "GitHub refused the token (401) — check the connection in the admin."),
        (404, "GitHub can't find acme/web or the issue (404)"),
        (410, "GitHub says this is gone (410): issues may be turned off on acme/web."),
        (422, "GitHub refused the issue (422)"),
    ],
)
def test_a_refusal_stops_at_once_and_says_why_on_the_remediation(logged_in, fake, status, words):
    connection = github(fake)
    remediation = RemediationFactory()
    fake.fail("POST issue", status)
    post(logged_in, create_url(remediation), {"connection": connection.pk})

    link = TrackerLink.objects.get(remediation=remediation)
    assert (link.state, link.attempts) == ("failed", 1)
    assert words in link.last_error
    assert len(fake.called("POST issue")) == 1
    html = page_of(logged_in, remediation)
    assert "No issue:" in html and "Try again" in html


def test_a_refused_jira_issue_says_what_jira_said(fake):
    connection = jira_cloud(fake)
    link = TrackerLink.objects.create(remediation=RemediationFactory(), connection=connection)
    fake.fail("POST issue", 422)
    tracker_create_attempt(link_id=link.pk, last_chance=False)
    link.refresh_from_db()
    assert link.state == "failed" and link.last_error.startswith("Jira refused the issue (422): fake 422")


def test_rate_limited_waits_for_retry_after_then_creates_once(fake):
    connection = github(fake)
    link = TrackerLink.objects.create(remediation=RemediationFactory(), connection=connection)
    fake.fail("POST issue", 429, headers={"Retry-After": "7"})

    attempt = tracker_create_attempt(link_id=link.pk, last_chance=False)
    assert attempt.retry and attempt.retry_after == 7.0
    assert tasks.tracker_countdown(0, attempt.retry_after) == 7.0
    link.refresh_from_db()
    assert link.state == "pending" and "rate limiting" in link.last_error

    assert tracker_create_attempt(link_id=link.pk, last_chance=False).done
    link.refresh_from_db()
    assert (link.state, link.attempts, link.last_error) == ("linked", 2, "")
    assert len(fake.github_issues) == 1


def test_backoff_doubles_without_retry_after_and_is_capped(settings):
    settings.OPSLOG_TRACKER_RETRY_DELAY = 30
    assert [tasks.tracker_countdown(n, None) for n in range(3)] == [30, 60, 120]
    assert tasks.tracker_countdown(20, None) == tasks.TRACKER_MAX_WAIT
    assert tasks.tracker_countdown(0, 10**9) == tasks.TRACKER_MAX_WAIT


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_and_given_up_on_the_last_chance(fake, status):
    connection = github(fake)
    link = TrackerLink.objects.create(remediation=RemediationFactory(), connection=connection)
    fake.fail("POST issue", status, times=2)
    assert tracker_create_attempt(link_id=link.pk, last_chance=False).retry
    assert not tracker_create_attempt(link_id=link.pk, last_chance=True).retry
    link.refresh_from_db()
    assert link.state == "failed"
    assert f"({status})" in link.last_error and "gave up after 2 attempts" in link.last_error


def test_try_again_after_a_failure_creates_the_issue(logged_in, fake):
    connection = github(fake)
    remediation = RemediationFactory()
    fake.fail("POST issue", 401)
    post(logged_in, create_url(remediation), {"connection": connection.pk})
    post(logged_in, create_url(remediation), {"connection": connection.pk})
    link = TrackerLink.objects.get(remediation=remediation)
    assert (link.state, link.issue_key) == ("linked", "1")
    assert len(fake.github_issues) == 1


def test_a_demo_connection_is_never_called(logged_in, fake):
    connection = github(fake, is_demo=True)
    remediation = RemediationFactory()
    post(logged_in, create_url(remediation), {"connection": connection.pk})
    assert fake.calls == []
    assert "demo connection" in TrackerLink.objects.get(remediation=remediation).last_error


def test_a_viewer_may_not_create_issues(client, django_user_model, fake):
    viewer = django_user_model.objects.create_user(username="v", password="a-long-test-password")
    role_set(user=viewer, role=VIEWER)
    client.force_login(viewer)
    remediation = RemediationFactory()
    response = post(client, create_url(remediation), {"connection": github(fake).pk})
    assert response.status_code == 403
    assert not TrackerLink.objects.exists() and fake.calls == []


def test_create_needs_a_post_with_a_csrf_token(client, user, fake):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    remediation = RemediationFactory()
    assert strict.post(create_url(remediation), {"connection": github(fake).pk}).status_code == 403
    client.force_login(user)
    assert client.get(create_url(remediation)).status_code == 405
    assert not TrackerLink.objects.exists()


def test_the_page_shows_create_issue_with_a_constant_number_of_queries(logged_in, fake, django_assert_max_num_queries):
    connection = github(fake)
    first = RemediationFactory()
    postmortem = first.postmortem
    url = f"/incidents/{postmortem.incident_id}/postmortem/"
    html = logged_in.get(url).content.decode()
    assert "Create issue" in html and "Link existing issue" in html
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(db) as one:
        logged_in.get(url)
    for n in range(6):
        remediation = RemediationFactory(postmortem=postmortem)
        if n % 2:
            TrackerLink.objects.create(
                remediation=remediation,
                connection=connection,
                state="linked",
                issue_key=str(n),
                url="https://x.example/1",
            )
    with django_assert_max_num_queries(len(one)):
        logged_in.get(url)


# --- link existing --------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["#7", "7", "https://github.com/acme/web/issues/7"])
def test_link_an_existing_github_issue(logged_in, fake, ref):
    connection = github(fake)
    fake.github_issues[7] = {"number": 7, "html_url": "https://github.example/acme/web/issues/7", "state": "open"}
    remediation = RemediationFactory()
    post(logged_in, f"/remediations/{remediation.pk}/issue/link/", {"connection": connection.pk, "ref": ref})
    link = TrackerLink.objects.get(remediation=remediation)
    assert (link.state, link.issue_key, link.url) == ("linked", "7", "https://github.example/acme/web/issues/7")
    assert fake.called("POST issue") == []
    assert Remediation.objects.get(pk=remediation.pk).tracker_ref == link.url


def test_link_an_existing_jira_issue_by_its_address(logged_in, fake):
    connection = jira_server(fake)
    fake.jira_issues["OPS-12"] = {"key": "OPS-12", "id": "10012", "fields": {}}
    remediation = RemediationFactory()
    post(
        logged_in,
        f"/remediations/{remediation.pk}/issue/link/",
        {"connection": connection.pk, "ref": f"{fake.url}/browse/ops-12"},
    )
    link = TrackerLink.objects.get(remediation=remediation)
    assert (link.issue_key, link.url) == ("OPS-12", f"{fake.url}/browse/OPS-12")
    assert Remediation.objects.get(pk=remediation.pk).tracker_ref == "OPS-12"


@pytest.mark.parametrize(
    ("connect", "ref", "words"),
    [
        (github, "https://github.com/other/repo/issues/7", "That issue is in other/repo, not acme/web."),
        (github, "not an issue", "Give the issue as #123 or its GitHub address."),
        (github, "#99", "GitHub can't find acme/web or the issue (404)"),
        (jira_cloud, "DEV-3", "That issue is in project DEV, not OPS."),
        (jira_cloud, "OPS-404", "Jira can't find OPS or the issue (404)"),
        (jira_cloud, "x" * 5000, "too long"),
    ],
)
def test_link_existing_refuses_what_isnt_an_issue_of_the_connection(logged_in, fake, connect, ref, words):
    connection = connect(fake)
    remediation = RemediationFactory()
    response = logged_in.post(
        f"/remediations/{remediation.pk}/issue/link/", {"connection": connection.pk, "ref": ref}, follow=True
    )
    assert response.status_code == 200
    assert words in response.content.decode().replace("&#x27;", "'")
    assert not TrackerLink.objects.filter(state="linked").exists()


def test_link_existing_refuses_a_remediation_that_has_an_issue(logged_in, fake):
    connection = github(fake)
    fake.github_issues[7] = {"number": 7, "html_url": "https://github.example/acme/web/issues/7", "state": "open"}
    remediation = RemediationFactory()
    post(logged_in, create_url(remediation), {"connection": connection.pk})
    response = logged_in.post(
        f"/remediations/{remediation.pk}/issue/link/", {"connection": connection.pk, "ref": "#7"}, follow=True
    )
    assert "already has an issue" in response.content.decode()
    assert TrackerLink.objects.get(remediation=remediation).issue_key == "1"


def test_an_issue_linked_to_one_remediation_cant_be_linked_to_another(logged_in, fake):
    connection = github(fake)
    first = RemediationFactory()
    post(logged_in, create_url(first), {"connection": connection.pk})
    second = RemediationFactory(postmortem=first.postmortem)
    response = logged_in.post(
        f"/remediations/{second.pk}/issue/link/", {"connection": connection.pk, "ref": "#1"}, follow=True
    )
    assert f"already linked to remediation {first.pk}" in response.content.decode()
    assert not TrackerLink.objects.filter(remediation=second).exists()


def test_the_task_retries_a_rate_limited_create_after_retry_after(fake):
    from celery.exceptions import Retry

    connection = github(fake)
    link = TrackerLink.objects.create(remediation=RemediationFactory(), connection=connection)
    fake.fail("POST issue", 429, headers={"Retry-After": "42"})
    # As a worker runs it (not eager), first try: the task asks Celery to retry (the wait itself:
    # tracker_countdown, tested above).
    tasks.tracker_create_issue.push_request(retries=0, is_eager=False, id="t-1")
    try:
        with pytest.raises(Retry) as raised:
            tasks.tracker_create_issue.run(link.pk)
    finally:
        tasks.tracker_create_issue.pop_request()
    assert isinstance(raised.value, Retry)
    link.refresh_from_db()
    assert link.state == "pending" and "rate limiting Opslog (429), asking to wait 42 s" in link.last_error
    assert fake.github_issues == {}


def test_the_task_gives_up_on_its_last_retry(fake, settings):
    settings.OPSLOG_TRACKER_MAX_RETRIES = 3
    connection = github(fake)
    link = TrackerLink.objects.create(remediation=RemediationFactory(), connection=connection)
    fake.fail("POST issue", 503)
    tasks.tracker_create_issue.push_request(retries=3, is_eager=False, id="t-2")
    try:
        tasks.tracker_create_issue.run(link.pk)
    finally:
        tasks.tracker_create_issue.pop_request()
    link.refresh_from_db()
    assert link.state == "failed" and "gave up" in link.last_error


def test_stale_pending_links_are_queued_again(fake):
    import datetime as dt

    from django.utils import timezone

    from integrations.trackers.services import tracker_requeue_stale

    connection = github(fake)
    stale = TrackerLink.objects.create(
        remediation=RemediationFactory(), connection=connection, updated_at=timezone.now() - dt.timedelta(hours=3)
    )
    fresh = TrackerLink.objects.create(remediation=RemediationFactory(), connection=connection)
    assert tracker_requeue_stale(older_than=dt.timedelta(hours=1)) == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.state, fresh.state) == ("linked", "pending")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://x.example/" + "a" * 600, "data:text/html,hi"])
def test_an_odd_issue_address_from_the_tracker_is_never_a_link(logged_in, fake, url):
    connection = github(fake)
    fake.github_issues[7] = {"number": 7, "html_url": url, "state": "open"}
    remediation = RemediationFactory()
    post(logged_in, f"/remediations/{remediation.pk}/issue/link/", {"connection": connection.pk, "ref": "#7"})
    link = TrackerLink.objects.get(remediation=remediation)
    assert (link.state, link.issue_key, link.url) == ("linked", "7", "")
    html = page_of(logged_in, remediation)
    assert "javascript:" not in html and 'href=""' not in html and "GitHub Issues #7" in html
