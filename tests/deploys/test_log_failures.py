"""#15.11: the deploy log shows failure at a glance: which deploys caused incidents (with links),
which were rolled back or failed, and production without shouting."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import Deploy
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.models import IncidentDeploy

pytestmark = pytest.mark.django_db


def _row(html: str, version: str) -> str:
    for row in re.findall(r'<tr class="deploy.*?</tr>', html, re.S):
        if f"new {version}" in row:
            return row
    raise AssertionError(f"no row for {version}")


def test_a_deploy_that_caused_incidents_is_marked_with_links_to_them(logged_in):
    """#15.11: the causing deploy's row says so and links each incident; a remediating link doesn't count."""
    production = EnvironmentFactory(slug="production")
    web = ServiceFactory(slug="web")
    culprit = DeployFactory(service=web, environment=production, version="101")
    fix = DeployFactory(service=web, environment=production, version="102")
    quiet = DeployFactory(service=web, environment=production, version="103")
    first, second = IncidentFactory(title="Checkout down"), IncidentFactory(title="Slow search")
    IncidentDeployFactory(incident=first, deploy=culprit)
    IncidentDeployFactory(incident=second, deploy=culprit)
    IncidentDeployFactory(incident=first, deploy=fix, relation=IncidentDeploy.Relation.REMEDIATION)

    html = logged_in.get("/deploys/").content.decode()

    row = _row(html, culprit.version)
    assert "caused-incident" in row
    assert "Caused" in row
    assert f'href="{first.get_absolute_url()}"' in row and f'href="{second.get_absolute_url()}"' in row
    assert "caused-incident" not in _row(html, fix.version)
    assert "caused-incident" not in _row(html, quiet.version)


def test_rolled_back_and_failed_deploys_carry_a_clear_mark(logged_in):
    production = EnvironmentFactory(slug="production")
    DeployFactory(environment=production, version="201", status=Deploy.Status.ROLLED_BACK)
    DeployFactory(environment=production, version="202", status=Deploy.Status.FAILED)
    DeployFactory(environment=production, version="203")

    html = logged_in.get("/deploys/").content.decode()

    assert 'class="failure-mark rolled_back"' in _row(html, "201")
    assert 'class="failure-mark failed"' in _row(html, "202")
    assert "failure-mark" not in _row(html, "203")


def test_production_is_a_quiet_outline_badge(logged_in):
    """#15.11: production is marked, but not with the loud filled badge a failure gets."""
    DeployFactory(environment=EnvironmentFactory(slug="production"), version="301")

    row = _row(logged_in.get("/deploys/").content.decode(), "301")

    assert 'class="env-badge prod quiet"' in row


def test_incident_marks_cost_no_query_per_row(logged_in):
    """#15.11: the incident links are prefetched: 3 or 40 causing deploys cost the same queries."""

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get("/deploys/").status_code == 200
        return len(captured)

    production = EnvironmentFactory(slug="production")
    for _ in range(3):
        IncidentDeployFactory(deploy=DeployFactory(environment=production))
    few = queries()
    for _ in range(40):
        IncidentDeployFactory(deploy=DeployFactory(environment=production))
    assert queries() == few
