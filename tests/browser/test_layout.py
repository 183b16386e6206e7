"""The pages fit a phone: no sideways scrolling of the whole page, and every menu item reachable in view.

Wide tables scroll inside their `.table-scroll` box, and long unbroken user text (a CI job can
post a deploy message with no spaces at all) wraps instead of widening the page.
"""

import datetime as dt
import os
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alerts.models import Alert
from config.roles import ADMIN, role_set
from deploys.factories import ChangeRecordFactory, DeployCommitFactory, DeployFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from postmortems.factories import PostMortemFactory, RemediationFactory
from tests.support.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Set OPSLOG_LAYOUT_SHOTS to a folder to keep a full-page screenshot of every page checked.
SHOTS = os.environ.get("OPSLOG_LAYOUT_SHOTS")


def _unbroken(length: int) -> str:
    return ("abcdefghij" * (length // 10 + 1))[:length]


@pytest.fixture
def admin(django_user_model):
    # An admin sees the longest menu (Deliveries and Admin too).
    user = django_user_model.objects.create_user(username="oncall", password="correct-horse-battery")
    role_set(user=user, role=ADMIN)
    return user


@pytest.fixture
def long_deploy():
    """A production deploy whose message is 20,000 characters without a space; long unbroken text on every list too."""
    checkout = ServiceFactory(slug="checkout")
    now = timezone.now()
    for n in range(3):
        DeployFactory(service=checkout, deployed_at=now - dt.timedelta(days=3 * n + 1), previous_version=str(24990 + n))
    deploy = DeployFactory(
        service=checkout,
        message=_unbroken(20_000),
        version=_unbroken(200),
        previous_version=_unbroken(200),
        deployed_at=now - dt.timedelta(hours=1),
    )
    DeployCommitFactory(deploy=deploy, sha=_unbroken(40), message=_unbroken(5_000))
    deploy.change_record = ChangeRecordFactory(title=_unbroken(200), service=checkout, failure_impact=_unbroken(3_000))
    deploy.save(update_fields=["change_record"])
    incident = IncidentFactory(title=_unbroken(200), services=[checkout], resolved_at=now - dt.timedelta(minutes=30))
    IncidentDeployFactory(incident=incident, deploy=deploy)
    postmortem = PostMortemFactory(incident=incident, facilitator=_unbroken(150))
    RemediationFactory(postmortem=postmortem, description=_unbroken(2_000), owner_name=_unbroken(150))
    Alert.objects.create(
        fingerprint=_unbroken(100),
        name=_unbroken(200),
        annotations={"summary": _unbroken(2_000)},
        starts_at=now - dt.timedelta(hours=2),
        incident=incident,
    )
    return deploy


def _check(page, live_server, path: str, width: int) -> list[str]:
    """What is wrong with the layout of `path` at `width` px: an empty list when it fits."""
    page.goto(f"{live_server.url}{path}")
    expect(page.locator("header.topbar")).to_be_visible()
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        name = path.strip("/").replace("/", "-") or "dashboard"
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{width}.png"), full_page=True)
    problems = []
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if scroll_width > inner_width:
        problems.append(f"{path} at {width}px is {scroll_width}px wide")
    menu = page.locator("header.topbar nav a, header.topbar .logout a, header.topbar .logout button")
    assert menu.count() >= 10, "the admin's menu, their name and Log out"
    for item in menu.all():
        # On a phone the menu is one row that scrolls sideways (#15.17): each item is brought into view in it.
        if item.is_visible():
            item.scroll_into_view_if_needed()
        box = item.bounding_box()
        label = item.inner_text()
        if not item.is_visible() or box is None:
            problems.append(f"{path} at {width}px: {label!r} is hidden")
        elif box["x"] < 0 or box["x"] + box["width"] > width:
            right = box["x"] + box["width"]
            problems.append(f"{path} at {width}px: {label!r} runs from x={box['x']:.0f} to {right:.0f}")
    return problems


def test_every_page_fits_a_phone_with_the_whole_menu_in_view(page, live_server, admin, long_deploy):
    page.set_viewport_size(PHONE)
    log_in(page, live_server, admin)
    paths = [
        "/",
        "/deploys/",
        "/deploys/changes/",
        "/incidents/",
        "/alerts/",
        "/postmortems/",
        "/remediations/",
        f"/deploys/{long_deploy.pk}/",
    ]

    problems = [problem for path in paths for problem in _check(page, live_server, path, PHONE["width"])]

    assert not problems, "\n".join(problems)


def test_wide_tables_scroll_in_their_box_on_a_phone(page, live_server, admin, long_deploy):
    page.set_viewport_size(PHONE)
    log_in(page, live_server, admin, next_path="/deploys/")

    box = page.locator(".table-scroll").filter(has=page.locator("table.log"))
    expect(box).to_have_count(1)
    # The table is wider than the phone and scrolls by itself; the page does not.
    assert box.evaluate("el => el.scrollWidth > el.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_long_deploy_message_does_not_widen_the_desktop_log(page, live_server, admin, long_deploy):
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server, admin)
    paths = ["/deploys/", f"/deploys/{long_deploy.pk}/"]

    problems = [problem for path in paths for problem in _check(page, live_server, path, DESKTOP["width"])]

    assert not problems, "\n".join(problems)
    # The log's table fits without scrolling at all on a desktop.
    page.goto(f"{live_server.url}/deploys/")
    assert page.locator(".table-scroll").first.evaluate("el => el.scrollWidth <= el.clientWidth")
