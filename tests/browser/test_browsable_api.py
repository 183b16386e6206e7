"""The browsable API in Chromium, under the app's Content-Security-Policy (#14.14): no violation
is reported, its stylesheets load, and its menus still work."""

import pytest

from config.roles import RESPONDER, role_set
from deploys.factories import DeployFactory
from incidents.factories import IncidentFactory
from tests.support.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)

# Reported on the page (the securitypolicyviolation event), as the browser refuses each.
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sample || ""));
});
"""


def test_the_browsable_api_runs_under_the_csp_without_a_violation(page, live_server, django_user_model):
    """#14.14: DRF's pages set inline styles, which the CSP (style-src 'self') refused."""
    user = django_user_model.objects.create_user(username="oncall", password="correct-horse-battery")
    role_set(user=user, role=RESPONDER)
    deploy = DeployFactory()
    incident = IncidentFactory()
    page.add_init_script(WATCH_CSP)
    console = []
    page.on("console", lambda message: console.append(message.text))
    log_in(page, live_server, user)

    for path in ["/api/", "/api/deploys/", f"/api/deploys/{deploy.pk}/", f"/api/incidents/{incident.pk}/"]:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("load")

        assert page.evaluate("window.__violations") == [], path
        # Bootstrap's stylesheet applies (its navbar is 50 px high at least).
        assert page.evaluate("getComputedStyle(document.querySelector('.navbar')).minHeight") == "50px", path
    # The Filters button floats right as DRF's style attribute made it, by opslog/drf.css.
    page.goto(f"{live_server.url}/api/deploys/")
    assert page.evaluate("getComputedStyle(document.querySelector('button.drf-action')).float") == "right"
    assert not [text for text in console if "Content Security Policy" in text]
