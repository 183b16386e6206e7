"""#15.18: no serious or critical axe-core violations (WCAG 2.1 A and AA) on any page, logged in and
out, on a few records and on the full demo data, at 390, 1280, 1366 and 1920 px; and keyboard focus
always shows a ring.

One browser context per data set; each page is loaded once and checked at every width (the layout
follows the viewport without a reload). A failure lists every violation: page and width, rule id,
impact, the element's selector and what axe says to fix.
"""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from alerts.models import Alert
from config.roles import ADMIN, role_set
from deploys.factories import ChangeRecordFactory, DeployCommitFactory, DeployFactory, ServiceFactory
from deploys.models import ChangeRecord, Deploy
from incidents.factories import IncidentDeployFactory, IncidentFactory, TimelineEntryFactory
from incidents.models import Incident
from integrations.factories import DeliveryFactory, IntegrationFactory, TrackerConnectionFactory, TrackerLinkFactory
from integrations.models import Delivery
from postmortems.factories import (
    ContributingFactorFactory,
    PostMortemFactorFactory,
    PostMortemFactory,
    RemediationFactory,
)
from postmortems.models import PostMortem, Remediation
from tests.support.axe import axe_script, axe_violations_at_widths
from tests.support.browser import log_in
from tests.support.factors import seed_default_factors
from tests.support.walk_records import alerts_and_delivery

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (390, 1280, 1366, 1920)
# Every page type a person opens (the admin is Django's, the API docs Swagger UI's).
PAGES = [
    "/",
    "/?attribution=both",
    "/reports/attributed/?what=failed_deploys&since=2000-01-01&until=2030-12-31&attribution=inferred",
    "/reports/attributed/?what=deploy_related_incidents&since=2000-01-01&until=2030-12-31&attribution=inferred",
    "/reports/how-we-count/",
    "/deploys/",
    "/deploys/{deploy}/",
    "/deploys/changes/",
    "/deploys/changes/new/",
    "/deploys/changes/{change}/",
    "/deploys/changes/{change}/edit/",
    "/incidents/",
    "/incidents/?archived=1",
    "/incidents/new/",
    "/incidents/{incident}/",
    "/incidents/{incident}/edit/",
    "/incidents/{incident}/postmortem/",
    "/incidents/{incident}/postmortem/edit/",
    "/incidents/{incident}/postmortem/history/",
    "/incidents/{incident}/postmortem/print/",
    "/incidents/{fresh_incident}/",
    "/incidents/{fresh_incident}/postmortem/",
    "/postmortems/",
    "/remediations/",
    "/remediations/{remediation}/edit/",
    "/alerts/",
    "/alerts/review/",
    "/alerts/{alert}/",
    "/alerts/{promoted_alert}/",
    "/integrations/deliveries/",
    "/integrations/deliveries/{delivery}/",
    "/accounts/token/",
    "/no-such-page/",
]


def light_data() -> dict:
    """A few of everything: each page has something to show."""
    web = ServiceFactory(slug="web")
    now = timezone.now()
    deploy = DeployFactory(service=web, deployed_at=now - dt.timedelta(hours=5))
    DeployCommitFactory(deploy=deploy)
    DeployFactory(service=web, deployed_at=now - dt.timedelta(hours=3), status=Deploy.Status.ROLLED_BACK)
    change = ChangeRecordFactory(service=web)
    incident = IncidentFactory(services=[web], title="Checkout errors", resolved_at=now - dt.timedelta(hours=1))
    IncidentDeployFactory(incident=incident, deploy=deploy)
    TimelineEntryFactory(incident=incident)
    remediation = RemediationFactory(postmortem=PostMortemFactory(incident=incident))
    # The editor's factor picker, with one archived factor kept on the post-mortem.
    factors = seed_default_factors()
    PostMortemFactorFactory(postmortem=remediation.postmortem, factor=factors[0], note="A flag flipped for all")
    PostMortemFactorFactory(
        postmortem=remediation.postmortem, factor=ContributingFactorFactory(slug="old", archived_at=now)
    )
    # The tracker's parts of the remediation rows: Create issue and Link existing issue, an issue
    # linked, and one whose creation failed (with Try again).
    connection = TrackerConnectionFactory()
    TrackerLinkFactory(remediation=RemediationFactory(postmortem=remediation.postmortem), connection=connection)
    TrackerLinkFactory(
        remediation=RemediationFactory(postmortem=remediation.postmortem, kind="ops"),
        connection=connection,
        state="failed",
        issue_key="",
        url="",
        last_error="GitHub refused the token (401) — check the connection in the admin.",
    )
    fresh_incident = IncidentFactory(services=[web], title="Search is slow", severity=Incident.Severity.SEV1)
    return {
        "deploy": deploy.pk,
        "change": change.pk,
        "incident": incident.pk,
        "fresh_incident": fresh_incident.pk,
        "remediation": remediation.pk,
        **alerts_and_delivery(promoted_to=fresh_incident),
    }


def demo_data() -> dict:
    """What `make run` shows (seed_demo), over fewer days to keep the test quick."""
    call_command("seed_demo", days=31, no_login=True)
    call_command("seed_demo_trackers")
    postmortem = PostMortem.objects.filter(remediations__isnull=False).order_by("-pk").first()
    caused = Deploy.objects.filter(incident_links__isnull=False).order_by("-pk").first()
    delivery = Delivery.objects.order_by("-pk").first() or DeliveryFactory(integration=IntegrationFactory())
    change = ChangeRecord.objects.order_by("-pk").first() or ChangeRecordFactory()
    return {
        "deploy": caused.pk,
        "change": change.pk,
        "incident": postmortem.incident_id,
        "fresh_incident": Incident.objects.filter(postmortem__isnull=True).order_by("-started_at").first().pk,
        "remediation": Remediation.objects.order_by("-pk").first().pk,
        "alert": Alert.objects.filter(incident__isnull=True).order_by("-pk").first().pk,
        "promoted_alert": (Alert.objects.filter(incident__isnull=False).first() or Alert.objects.first()).pk,
        "delivery": delivery.pk,
    }


@pytest.fixture
def admin(django_user_model):
    # An admin sees every page and every control (Deliveries, Archive…).
    user = django_user_model.objects.create_user(username="oncall", password="correct-horse-battery")
    role_set(user=user, role=ADMIN)
    return user


@pytest.fixture
def axe_page(browser):
    axe_script()  # skips (or fails in CI) before anything is set up when axe-core isn't installed
    # The app's CSP refuses axe's inline script; only this context ignores it.
    context = browser.new_context(viewport={"width": WIDTHS[1], "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def at_every_width(page, where: str) -> list[str]:
    return axe_violations_at_widths(page, where, WIDTHS)


def check(page, live_server, path: str) -> list[str]:
    """Loads the page once and runs axe at every width."""
    page.goto(live_server.url + path)
    return at_every_width(page, path)


def walk(page, live_server, admin, ids: dict) -> list[str]:
    found = []
    # Logged out: the login page (where every other page sends a stranger).
    found += check(page, live_server, "/accounts/login/?next=/incidents/")
    log_in(page, live_server, admin)
    for path in PAGES:
        found += check(page, live_server, path.format(**ids))
    return found


def unringed_focus(page, presses: int) -> list[str]:
    """Tabs through the page; each focused element that shows no focus ring (a 2 px outline or more)."""
    missing = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        ring = page.evaluate(
            """() => {
                const el = document.activeElement;
                if (el === document.body) return null;  // past the last control, before Tab starts over
                const style = getComputedStyle(el);
                const shown = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
                return shown ? null : el.outerHTML.slice(0, 120);
            }"""
        )
        if ring:
            missing.append(ring)
    return missing


def report(found: list[str]) -> str:
    return f"{len(found)} serious or critical accessibility violations:\n" + "\n".join(found)


def test_no_serious_violations_on_any_page_with_a_few_records(axe_page, live_server, admin, settings):
    ids = light_data()
    found = walk(axe_page, live_server, admin, ids)

    # Keyboard focus is visible on every control of the busiest page (WCAG 2.4.7).
    axe_page.goto(f"{live_server.url}/incidents/{ids['incident']}/")
    assert unringed_focus(axe_page, 40) == []

    # Logged out again: the app's 404, then the lockout page after too many failed logins.
    axe_page.context.clear_cookies()
    found += check(axe_page, live_server, "/no-such-page/")
    settings.AXES_FAILURE_LIMIT = 1
    settings.OPSLOG_LOGIN_LIMITS = [1, 50]
    axe_page.goto(f"{live_server.url}/accounts/login/")
    axe_page.get_by_label("Username").fill("oncall")
    axe_page.get_by_label("Password").fill("not-the-password")
    axe_page.get_by_role("button", name="Log in").click()
    axe_page.wait_for_load_state()
    assert "Too many failed logins" in axe_page.content()
    found += at_every_width(axe_page, "the lockout page")

    assert found == [], report(found)


def test_no_serious_violations_on_any_page_with_the_demo_data(axe_page, live_server, admin):
    found = walk(axe_page, live_server, admin, demo_data())

    assert found == [], report(found)
