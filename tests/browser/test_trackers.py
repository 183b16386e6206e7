"""Create issue on a remediation, in a browser, against the local fake of GitHub's REST API: the
row then links to the issue; at a desktop and a phone width, with nothing wider than the screen."""

import pytest
from playwright.sync_api import expect

from integrations.models import TrackerLink
from postmortems.factories import PostMortemFactory, RemediationFactory
from tests.support.browser import assert_fits_width, log_in
from tests.support.fake_trackers import FakeTrackers
from tests.support.trackers import github

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_github(settings):
    server = FakeTrackers().start()
    settings.OPSLOG_BASE_URL = "https://opslog.example.com"
    yield server
    server.stop()
    assert server.problems == [], server.problems


@pytest.mark.parametrize("width", [1280, 390])
def test_create_issue_then_see_the_link(page, live_server, browser_user, fake_github, width):
    github(fake_github)
    postmortem = PostMortemFactory()
    remediation = RemediationFactory(postmortem=postmortem, description="Page the DBA when replication lags")
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, browser_user, next_path=f"/incidents/{postmortem.incident_id}/postmortem/")

    row = page.locator(f"#remediation-{remediation.pk}")
    row.get_by_role("button", name=f"Create issue for remediation {remediation.pk}").click()

    link = page.locator(f"#remediation-{remediation.pk}").get_by_role("link", name="GitHub Issues #1")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", "https://github.example/acme/web/issues/1")
    expect(page.locator(f"#remediation-{remediation.pk}").get_by_role("button", name="Create issue")).to_have_count(0)
    assert_fits_width(page, width)
    assert TrackerLink.objects.get(remediation=remediation).state == "linked"
    [call] = fake_github.called("POST issue")
    assert call["body"]["title"] == "Page the DBA when replication lags"

    # "Link existing issue" on another remediation, from the same row's disclosure.
    other = RemediationFactory(postmortem=postmortem, kind="ops")
    fake_github.github_issues[7] = {
        "number": 7,
        "html_url": "https://github.example/acme/web/issues/7",
        "state": "open",
    }
    page.reload()
    row = page.locator(f"#remediation-{other.pk}")
    row.get_by_text("Link existing issue").click()
    row.get_by_label("Issue").fill("#7")
    row.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator(f"#remediation-{other.pk}").get_by_role("link", name="GitHub Issues #7")).to_be_visible()
