"""Roles (issue #7): each role walked through every write endpoint and page, allowed or refused.

A refused request is a 403 that writes nothing; an allowed one succeeds and writes. The table
below must name every route of the app (test_every_route_is_in_the_walk), so a new endpoint can't
ship without saying who may use it.
"""

import datetime as dt
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from alerts.models import Alert
from config.roles import ADMIN, RESPONDER, ROLES, VIEWER, RolePermission, has_role, role_of, role_set
from deploys.factories import ChangeRecordFactory, DeployFactory, EnvironmentFactory, ServiceFactory
from deploys.models import Deploy, IngestToken
from deploys.services import ingest_token_create, ingest_token_revoke
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.models import Incident
from integrations.factories import DeliveryFactory, TrackerConnectionFactory
from postmortems.factories import RemediationFactory
from tests.support.incidents import incident_edit_data
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db

INGEST = "ingest"  # not a role: an ingest token, for CI systems
INGEST_REFUSED = "An ingest token may only post deploys."
T0 = dt.datetime(2024, 7, 1, 10, 0, tzinfo=dt.UTC)


@dataclass
class World:
    deploy: Deploy
    other_deploy: Deploy
    incident: Incident
    linked: Incident
    archived: Incident
    resolved: Incident
    postmortem: object
    remediation: object
    change: object
    alert: Alert
    delivery: object


@pytest.fixture
def world(admin_user) -> World:
    from incidents.services import incident_archive
    from postmortems.services import postmortem_save, postmortem_start

    web = ServiceFactory(slug="web")
    production = EnvironmentFactory(slug="production")
    deploy = DeployFactory(service=web, environment=production, deployed_at=T0)
    linked = IncidentFactory(started_at=T0)
    IncidentDeployFactory(incident=linked, deploy=deploy)
    IncidentDeployFactory(incident=linked, deploy=deploy, relation="remediation")
    postmortem, _ = postmortem_start(incident=IncidentFactory(started_at=T0), by=admin_user)
    postmortem = postmortem_save(
        postmortem=postmortem, changes={"summary": "Checkout failed."}, base_version=postmortem.version, by=admin_user
    )
    return World(
        deploy=deploy,
        other_deploy=DeployFactory(service=web, environment=production, deployed_at=T0 + dt.timedelta(hours=1)),
        incident=IncidentFactory(started_at=T0),
        linked=linked,
        archived=incident_archive(incident=IncidentFactory(started_at=T0), reason="duplicate", by=admin_user),
        resolved=IncidentFactory(started_at=T0, resolved_at=T0 + dt.timedelta(hours=1)),
        postmortem=postmortem,
        remediation=RemediationFactory(postmortem=postmortem),
        change=ChangeRecordFactory(),
        alert=Alert.objects.create(
            fingerprint="f1",
            name="HighErrorRate",
            starts_at=T0,
            labels={"alertname": "HighErrorRate", "service": "web"},
            status=Alert.Status.FIRING,
        ),
        delivery=DeliveryFactory(),
    )


@dataclass(frozen=True)
class Case:
    """One request. `needs`: the lowest role allowed; INGEST means responders, admins and ingest
    tokens. `writes`: whether an allowed request changes the database."""

    name: str  # the route's URL name
    method: str
    url: Callable[[World], str]
    needs: str
    data: Callable[[World], dict] = lambda w: {}
    writes: bool = True

    @property
    def api(self) -> bool:
        return self.name.startswith(("api:", "api-"))

    def __str__(self) -> str:
        return f"{self.method} {self.name}"


def _incident_form(w: World) -> dict:
    return {
        "title": "Checkout returns 502",
        "severity": "2",
        "started_at": "2024-07-01T10:00",
        "detected_by": "monitoring",
    }


def _incident_edit_form(w: World) -> dict:
    """The edit form as posted back with only the title changed."""
    return incident_edit_data(w.incident, title="Renamed")


def _change_form(w: World) -> dict:
    return {
        "title": "Add an index to orders.created_at",
        "owner": "sandrews",
        "planned_at": "2024-07-01T10:00",
        "kind": "schema",
        "service": "",
        "done_before": "Yes.",
        "failure_impact": "Writes lock.",
        "failure_response": "Cancel it.",
        "description": "",
    }


def _postmortem_form(w: World) -> dict:
    from postmortems.models import PostMortem

    data = {name: getattr(w.postmortem, name) for name in PostMortem.SECTION_FIELDS}
    data.update(
        summary="Checkout failed for card payments.",
        facilitator="Priya",
        meeting_date="",
        no_action_reason="",
        base_version=w.postmortem.version,
    )
    return data


def _deploy_body(w: World) -> dict:
    return {"service": "web", "environment": "production", "version": "v2", "deployer": "ci", "external_id": "ci-1"}


def _cdevent_body(w: World) -> dict:
    from tests.support.payloads import cdevents

    return json.loads(cdevents.structured(cdevents.deployed("web", "production", "v2")))


def _incident_api(w: World) -> str:
    return f"/api/incidents/{w.incident.pk}/"


CASES = [
    # --- Pages -----------------------------------------------------------------------------------
    Case("incidents:new", "GET", lambda w: "/incidents/new/", RESPONDER, writes=False),
    Case("incidents:new", "POST", lambda w: "/incidents/new/", RESPONDER, _incident_form),
    Case("incidents:edit", "GET", lambda w: f"/incidents/{w.incident.pk}/edit/", RESPONDER, writes=False),
    Case("incidents:edit", "POST", lambda w: f"/incidents/{w.incident.pk}/edit/", RESPONDER, _incident_edit_form),
    Case("incidents:stamp", "POST", lambda w: f"/incidents/{w.incident.pk}/stamp/resolved/", RESPONDER),
    Case(
        "incidents:role",
        "POST",
        lambda w: f"/incidents/{w.incident.pk}/roles/",
        RESPONDER,
        lambda w: {"role": "lead", "name": "bob"},
    ),
    Case(
        "incidents:note",
        "POST",
        lambda w: f"/incidents/{w.incident.pk}/notes/",
        RESPONDER,
        lambda w: {"text": "Rolled back web."},
    ),
    Case(
        "incidents:link",
        "POST",
        lambda w: f"/incidents/{w.incident.pk}/deploys/link/",
        RESPONDER,
        lambda w: {"deploy": w.deploy.pk, "relation": "cause"},
    ),
    Case(
        "incidents:unlink",
        "POST",
        lambda w: f"/incidents/{w.linked.pk}/deploys/unlink/",
        RESPONDER,
        lambda w: {"deploy": w.deploy.pk, "relation": "cause"},
    ),
    Case(
        "incidents:archive",
        "POST",
        lambda w: f"/incidents/{w.incident.pk}/archive/",
        ADMIN,
        lambda w: {"reason": "duplicate of #1"},
    ),
    Case("incidents:unarchive", "POST", lambda w: f"/incidents/{w.archived.pk}/unarchive/", ADMIN),
    Case("incidents:reopen", "POST", lambda w: f"/incidents/{w.resolved.pk}/reopen/", RESPONDER),
    Case("postmortems:start", "POST", lambda w: f"/incidents/{w.incident.pk}/postmortem/start/", RESPONDER),
    Case(
        "postmortems:edit",
        "GET",
        lambda w: f"/incidents/{w.postmortem.incident_id}/postmortem/edit/",
        RESPONDER,
        writes=False,
    ),
    Case(
        "postmortems:edit",
        "POST",
        lambda w: f"/incidents/{w.postmortem.incident_id}/postmortem/edit/",
        RESPONDER,
        _postmortem_form,
    ),
    Case(
        "postmortems:status",
        "POST",
        lambda w: f"/incidents/{w.postmortem.incident_id}/postmortem/status/",
        RESPONDER,
        lambda w: {"status": "in_review", "base_version": w.postmortem.version},
    ),
    Case(
        "postmortems:remediation_new",
        "POST",
        lambda w: f"/incidents/{w.postmortem.incident_id}/postmortem/remediations/new/",
        RESPONDER,
        lambda w: {"kind": "ops", "ops-description": "Alert on the error rate"},
    ),
    Case(
        "postmortems:preview",
        "POST",
        lambda w: "/incidents/preview/",
        RESPONDER,
        lambda w: {"text": "**x**"},
        writes=False,
    ),
    Case(
        "postmortems:remediation_edit",
        "GET",
        lambda w: f"/remediations/{w.remediation.pk}/edit/",
        RESPONDER,
        writes=False,
    ),
    Case(
        "postmortems:remediation_edit",
        "POST",
        lambda w: f"/remediations/{w.remediation.pk}/edit/",
        RESPONDER,
        lambda w: {"description": "Alert sooner", "kind": "ops", "owner_name": "sam", "status": "in_progress"},
    ),
    Case("postmortems:remediation_delete", "POST", lambda w: f"/remediations/{w.remediation.pk}/delete/", RESPONDER),
    # A demo connection: the link is made (and fails without calling anyone); linking an issue of
    # it is refused before anything is written.
    Case(
        "integrations:tracker_issue_create",
        "POST",
        lambda w: f"/remediations/{w.remediation.pk}/issue/",
        RESPONDER,
        lambda w: {"connection": TrackerConnectionFactory(is_demo=True).pk},
    ),
    Case(
        "integrations:tracker_issue_link",
        "POST",
        lambda w: f"/remediations/{w.remediation.pk}/issue/link/",
        RESPONDER,
        lambda w: {"connection": TrackerConnectionFactory(is_demo=True).pk, "ref": "#1"},
        writes=False,
    ),
    Case("alerts:promote", "POST", lambda w: f"/alerts/{w.alert.pk}/promote/", RESPONDER),
    Case(
        "deploys:change_record",
        "POST",
        lambda w: f"/deploys/{w.deploy.pk}/change-record/",
        RESPONDER,
        lambda w: {"change_record": w.change.pk},
    ),
    Case("deploys:change_new", "GET", lambda w: "/deploys/changes/new/", RESPONDER, writes=False),
    Case("deploys:change_new", "POST", lambda w: "/deploys/changes/new/", RESPONDER, _change_form),
    Case(
        "deploys:change_edit",
        "POST",
        lambda w: f"/deploys/changes/{w.change.pk}/edit/",
        RESPONDER,
        lambda w: {**_change_form(w), "title": "Renamed"},
    ),
    Case("api_token", "POST", lambda w: "/accounts/token/", VIEWER),
    Case("integrations:deliveries", "GET", lambda w: "/integrations/deliveries/", ADMIN, writes=False),
    Case("integrations:delivery", "GET", lambda w: f"/integrations/deliveries/{w.delivery.pk}/", ADMIN, writes=False),
    Case("integrations:delivery_replay", "POST", lambda w: f"/integrations/deliveries/{w.delivery.pk}/replay/", ADMIN),
    # --- API -------------------------------------------------------------------------------------
    Case("api:deploy-list", "POST", lambda w: "/api/deploys/", INGEST, _deploy_body),
    Case("api:deploy-bulk", "POST", lambda w: "/api/deploys/bulk/", INGEST, lambda w: {"deploys": [_deploy_body(w)]}),
    Case("api-cdevents", "POST", lambda w: "/api/cdevents/", INGEST, lambda w: _cdevent_body(w)),
    Case(
        "api:deploy-change-record",
        "POST",
        lambda w: f"/api/deploys/{w.deploy.pk}/change-record/",
        RESPONDER,
        lambda w: {"change_record": w.change.pk},
    ),
    Case(
        "api:changerecord-list",
        "POST",
        lambda w: "/api/changes/",
        RESPONDER,
        lambda w: {**_change_form(w), "service": "web", "planned_at": "2024-07-01T10:00:00Z"},
    ),
    Case(
        "api:changerecord-detail",
        "PATCH",
        lambda w: f"/api/changes/{w.change.pk}/",
        RESPONDER,
        lambda w: {"title": "Renamed"},
    ),
    Case(
        "api:incident-list",
        "POST",
        lambda w: "/api/incidents/",
        RESPONDER,
        lambda w: {"title": "Checkout is failing", "started_at": "2024-07-01T10:00:00Z"},
    ),
    Case("api:incident-detail", "PATCH", _incident_api, RESPONDER, lambda w: {"title": "Renamed"}),
    Case("api:incident-acknowledge", "POST", lambda w: _incident_api(w) + "acknowledge/", RESPONDER),
    Case("api:incident-mitigate", "POST", lambda w: _incident_api(w) + "mitigate/", RESPONDER),
    Case("api:incident-resolve", "POST", lambda w: _incident_api(w) + "resolve/", RESPONDER),
    Case(
        "api:incident-archive",
        "POST",
        lambda w: _incident_api(w) + "archive/",
        ADMIN,
        lambda w: {"reason": "duplicate of #1"},
    ),
    Case("api:incident-unarchive", "POST", lambda w: f"/api/incidents/{w.archived.pk}/unarchive/", ADMIN),
    Case("api:incident-reopen", "POST", lambda w: f"/api/incidents/{w.resolved.pk}/reopen/", RESPONDER),
    Case(
        "api:incident-roles",
        "POST",
        lambda w: _incident_api(w) + "roles/",
        RESPONDER,
        lambda w: {"role": "scribe", "name": "bob"},
    ),
    Case(
        "api:incident-timeline",
        "POST",
        lambda w: _incident_api(w) + "timeline/",
        RESPONDER,
        lambda w: {"text": "Rolled back web."},
    ),
    Case(
        "api:incident-causes",
        "POST",
        lambda w: _incident_api(w) + "causes/",
        RESPONDER,
        lambda w: {"deploy": w.deploy.pk},
    ),
    Case("api:incident-cause", "DELETE", lambda w: f"/api/incidents/{w.linked.pk}/causes/{w.deploy.pk}/", RESPONDER),
    Case(
        "api:incident-remediating-deploys",
        "POST",
        lambda w: _incident_api(w) + "remediating-deploys/",
        RESPONDER,
        lambda w: {"deploy": w.other_deploy.pk},
    ),
    Case(
        "api:incident-remediating-deploy",
        "DELETE",
        lambda w: f"/api/incidents/{w.linked.pk}/remediating-deploys/{w.deploy.pk}/",
        RESPONDER,
    ),
    Case(
        "api:postmortem-list", "POST", lambda w: "/api/postmortems/", RESPONDER, lambda w: {"incident": w.incident.pk}
    ),
    Case(
        "api:postmortem-detail",
        "PATCH",
        lambda w: f"/api/postmortems/{w.postmortem.pk}/",
        RESPONDER,
        lambda w: {"summary": "Checkout failed for card payments.", "version": w.postmortem.version},
    ),
    Case(
        "api:postmortem-status",
        "POST",
        lambda w: f"/api/postmortems/{w.postmortem.pk}/status/",
        RESPONDER,
        lambda w: {"status": "in_review"},
    ),
    Case(
        "api:remediation-list",
        "POST",
        lambda w: "/api/remediations/",
        RESPONDER,
        lambda w: {"postmortem": w.postmortem.pk, "description": "Alert on the error rate", "kind": "ops"},
    ),
    Case(
        "api:remediation-detail",
        "PATCH",
        lambda w: f"/api/remediations/{w.remediation.pk}/",
        RESPONDER,
        lambda w: {"status": "in_progress"},
    ),
    Case("api:remediation-detail", "DELETE", lambda w: f"/api/remediations/{w.remediation.pk}/", RESPONDER),
    # The contributing-factor taxonomy is the admins' (the defaults migration 0006 seeds).
    Case("api:factor-list", "POST", lambda w: "/api/factors/", ADMIN, lambda w: {"slug": "walk", "name": "Walk"}),
    Case("api:factor-detail", "PATCH", lambda w: "/api/factors/change/", ADMIN, lambda w: {"position": 5}),
    Case("api:factor-detail", "DELETE", lambda w: "/api/factors/security/", ADMIN),
    Case("api:factor-archive", "POST", lambda w: "/api/factors/infrastructure/archive/", ADMIN),
    Case("api:factor-restore", "POST", lambda w: "/api/factors/infrastructure/restore/", ADMIN, writes=False),
]

# Routes every role may read (GET), with an example URL.
READS = {
    "home": lambda w: "/",
    "reports:dashboard": lambda w: "/reports/",
    "reports:how_we_count": lambda w: "/reports/how-we-count/",
    "reports:deployers": lambda w: "/reports/deployers/",
    "reports:attributed": lambda w: (
        "/reports/attributed/?what=failed_deploys&since=2024-03-01&until=2024-03-31&attribution=inferred"
    ),
    "insights": lambda w: "/insights/",
    "alerts:list": lambda w: "/alerts/",
    "alerts:review": lambda w: "/alerts/review/",
    "alerts:detail": lambda w: f"/alerts/{w.alert.pk}/",
    "deploys:list": lambda w: "/deploys/",
    "deploys:detail": lambda w: f"/deploys/{w.deploy.pk}/",
    "deploys:changes": lambda w: "/deploys/changes/",
    "deploys:change": lambda w: f"/deploys/changes/{w.change.pk}/",
    "incidents:list": lambda w: "/incidents/",
    "incidents:detail": lambda w: f"/incidents/{w.incident.pk}/",
    "postmortems:detail": lambda w: f"/incidents/{w.postmortem.incident_id}/postmortem/",
    "postmortems:history": lambda w: f"/incidents/{w.postmortem.incident_id}/postmortem/history/",
    "postmortems:export": lambda w: f"/incidents/{w.postmortem.incident_id}/postmortem/export.md",
    "postmortems:print": lambda w: f"/incidents/{w.postmortem.incident_id}/postmortem/print/",
    "postmortems:remediations": lambda w: "/remediations/",
    "api_token": lambda w: "/accounts/token/",
    "postmortems:list": lambda w: "/postmortems/",
    "api-docs": lambda w: "/api/docs/",
    "api-schema": lambda w: "/api/schema/",
    "api:api-root": lambda w: "/api/",
    "api-report-monthly": lambda w: "/api/reports/monthly/",
    "api-report-yearly": lambda w: "/api/reports/yearly/",
    "api-report-weekly": lambda w: "/api/reports/weekly/",
    "api-report-quarterly": lambda w: "/api/reports/quarterly/",
    "api-alert-review": lambda w: "/api/alerts/review/",
    "api-insights": lambda w: "/api/insights/",
    "markers:annotations": lambda w: "/api/annotations/",
    "markers:graphite-events": lambda w: "/events/get_data",
    "api:deploy-list": lambda w: "/api/deploys/",
    "api:deploy-detail": lambda w: f"/api/deploys/{w.deploy.pk}/",
    "api:changerecord-list": lambda w: "/api/changes/",
    "api:changerecord-detail": lambda w: f"/api/changes/{w.change.pk}/",
    "api:incident-list": lambda w: "/api/incidents/",
    "api:tag-list": lambda w: "/api/tags/",
    "api:incident-detail": lambda w: f"/api/incidents/{w.incident.pk}/",
    "api:incident-causes": lambda w: f"/api/incidents/{w.linked.pk}/causes/",
    "api:incident-remediating-deploys": lambda w: f"/api/incidents/{w.linked.pk}/remediating-deploys/",
    "api:incident-suspect-deploys": lambda w: f"/api/incidents/{w.incident.pk}/suspect-deploys/",
    "api:incident-timeline": lambda w: f"/api/incidents/{w.incident.pk}/timeline/",
    "api:postmortem-list": lambda w: "/api/postmortems/",
    "api:postmortem-detail": lambda w: f"/api/postmortems/{w.postmortem.pk}/",
    "api:postmortem-diff": lambda w: f"/api/postmortems/{w.postmortem.pk}/diff/?from=1&to=2",
    "api:postmortem-export": lambda w: f"/api/postmortems/{w.postmortem.pk}/export/",
    "api:postmortem-checklist": lambda w: f"/api/postmortems/{w.postmortem.pk}/checklist/",
    "api:postmortem-revisions": lambda w: f"/api/postmortems/{w.postmortem.pk}/revisions/",
    "api:remediation-list": lambda w: "/api/remediations/",
    "api:remediation-follow-through": lambda w: "/api/remediations/follow-through/",
    "api:remediation-detail": lambda w: f"/api/remediations/{w.remediation.pk}/",
    # A default factor (migration 0006 seeds it).
    "api:factor-list": lambda w: "/api/factors/",
    "api:factor-detail": lambda w: "/api/factors/change/",
}

# Routes outside the roles, each tested where it is built: open to all (/healthz, the login page),
# the session's own logout, webhooks (signatures: tests/integrations/test_hooks.py, tests/deploys/test_hooks_*.py,
# tests/incidents/test_hooks_pagerduty.py, tests/alerts/test_hooks.py) and /metrics (a bearer token: tests/reports/test_metrics*.py).
# Slack's request URLs are signed by Slack, not logged in: the role that counts is the mapped Slack
# user's, walked for every chat action in tests/integrations/slack. Mattermost's are checked by the
# slash command's token or Opslog's signature, then the mapped user's role: tests/integrations/mattermost.
# The OpenDORA API takes people's tokens only (no session, no ingest token) and answers errors in
# opendora's shape: every role reading it, in tests/reports/test_opendora.py.
OUTSIDE_ROLES = {
    "healthz",
    "login",
    "logout",
    "integrations:hook",
    "integrations:slack_commands",
    "integrations:slack_interactivity",
    "integrations:slack_events",
    "integrations:mattermost_command",
    "integrations:mattermost_actions",
    # Signed with the tracker connection's own secret: tests/integrations/test_trackers_hooks.py.
    "integrations:tracker_github_hook",
    "integrations:tracker_jira_hook",
    # PagerDuty change events: the body's routing key is an ingest token, checked in
    # tests/integrations/test_pagerduty_change.py.
    "integrations:pagerduty_change",
    "markers:metrics",
    "opendora:metric",
    "opendora:benchmark",
}


def _routes(patterns=None, namespace=""):
    """(URL name, view callback) for every route but the Django admin's (test_the_admin_site_is_for_admins)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _routes(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}{pattern.name}", pattern.callback


WRITE_METHODS = ("post", "put", "patch", "delete")


def test_every_route_is_in_the_walk():
    walked = {case.name for case in CASES} | set(READS) | OUTSIDE_ROLES
    routes = list(_routes())
    assert {name for name, _ in routes} - walked == set()
    cases = {(case.name, case.method) for case in CASES}
    for name, callback in routes:
        view = getattr(callback, "cls", None)
        if view is None or name in OUTSIDE_ROLES:
            continue
        # No API view opts out of the role check...
        assert view.permission_classes == [RolePermission], name
        # ...and each of its write methods (a viewset's actions, an APIView's handlers) is walked.
        actions = getattr(callback, "actions", None)
        methods = set(actions) if actions else {m for m in WRITE_METHODS if hasattr(view, m)}
        writes = {(name, m.upper()) for m in methods if m in WRITE_METHODS}
        assert writes - cases == set(), name


def _client_for(role: str, case_is_api: bool, django_user_model):
    if role == INGEST:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {ingest_token_create(name='ci', may_create_services=True)[1]}")
        return client
    user = django_user_model.objects.create_user(username=f"a-{role}", password="a-long-test-password")
    role_set(user=user, role=role)
    if case_is_api:  # the API as scripts use it: the user's token carries the user's role
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user).key}")
        return client
    client = Client()
    client.force_login(user)
    return client


# Tables a refused request may still touch: the session, and an ingest token's last use.
BOOKKEEPING = re.compile(r'"?(django_session|deploys_ingesttoken)"?')


def _writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
        and not BOOKKEEPING.search(q["sql"])
    ]


def _allowed(role: str, needs: str) -> bool:
    if role == INGEST:
        return needs == INGEST
    return ROLES.index(role) >= ROLES.index(RESPONDER if needs == INGEST else needs)


# An ingest token is for the API; pages use a session (test_an_ingest_token_opens_no_page).
WALK = [(case, role) for case in CASES for role in (VIEWER, RESPONDER, ADMIN, INGEST) if case.api or role != INGEST]


@pytest.mark.parametrize(("case", "role"), WALK, ids=[f"{case}-{role}" for case, role in WALK])
def test_each_role_on_each_write(case, role, world, django_user_model):
    client = _client_for(role, case.api, django_user_model)
    url, data = case.url(world), case.data(world)
    send = getattr(client, case.method.lower())

    with CaptureQueriesContext(connection) as queries:
        if case.api:
            response = send(url, data, format="json") if case.method != "GET" else send(url)
        else:
            response = send(url, data) if case.method != "GET" else send(url)

    writes = _writes(queries.captured_queries)
    if _allowed(role, case.needs):
        assert response.status_code in (200, 201, 204, 302), (response.status_code, response.content[:500])
        assert not response.get("Location", "").startswith("/accounts/login/")
        if case.writes:
            assert writes, "allowed, but nothing was written"
    else:
        assert response.status_code == 403, response.content[:300]
        if role == INGEST:  # a valid key, refused by every endpoint but the deploy posts
            assert response.json() == {"detail": INGEST_REFUSED}
        assert writes == []


def _is_api(name: str) -> bool:
    return name.startswith(("api:", "api-", "markers:")) and name != "api-docs"  # the docs are a page


@pytest.mark.parametrize("role", [VIEWER, RESPONDER, ADMIN])
@pytest.mark.parametrize("name", sorted(READS))
def test_every_role_reads_everything(name, role, world, django_user_model):
    client = _client_for(role, _is_api(name), django_user_model)

    response = client.get(READS[name](world))

    assert response.status_code == 200, response.content[:300]


@pytest.mark.parametrize("name", sorted(name for name in READS if not _is_api(name) and name != "api_token"))
def test_a_read_only_page_takes_no_post(name, world, viewer):
    client = Client()
    client.force_login(viewer)

    with CaptureQueriesContext(connection) as queries:
        response = client.post(READS[name](world), {"title": "x"})

    assert response.status_code in (403, 405)
    assert _writes(queries.captured_queries) == []


@pytest.mark.parametrize("name", sorted(name for name in READS if _is_api(name)))
def test_an_ingest_token_reads_nothing(name, world):
    """The same 403 on every API, not a 401 "Invalid token": the key is valid, just not for this."""
    client = _client_for(INGEST, True, None)

    response = client.get(READS[name](world), HTTP_ACCEPT="application/json")

    assert response.status_code == 403, response.content[:300]
    assert response.json() == {"detail": INGEST_REFUSED}


def test_an_ingest_token_opens_no_page(world):
    key = ingest_token_create(name="ci", may_create_services=True)[1]

    response = Client().get("/incidents/new/", HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- Ingest tokens -------------------------------------------------------------------------------


def _post_deploy(key: str, external_id: str = "ci-1"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = {
        "service": "web",
        "environment": "production",
        "version": "v2",
        "deployer": "ci",
        "external_id": external_id,
    }
    return client.post("/api/deploys/", body, format="json")


def test_an_ingest_token_keeps_only_a_digest_and_records_its_use():
    token, key = ingest_token_create(name="jenkins", may_create_services=True)

    assert key.startswith("oli_") and len(key) > 40
    stored = IngestToken.objects.values_list("key_digest", "key_start").get(pk=token.pk)
    assert key not in stored[0] and stored[1] == key[:12]
    assert token.last_used_at is None

    assert _post_deploy(key).status_code == 201
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_revoked_or_unknown_ingest_token_is_a_401():
    token, key = ingest_token_create(name="jenkins", may_create_services=True)
    ingest_token_revoke(token=token)

    assert _post_deploy(key).status_code == 401
    assert _post_deploy(key[:-2] + "xx").status_code == 401
    assert Deploy.objects.count() == 0


def test_user_tokens_are_not_taken_for_ingest_tokens(user):
    """A user's API token still works beside ingest tokens: only `oli_` keys are ingest keys."""
    assert _post_deploy(api_token(user).key).status_code == 201


def test_create_ingest_token_command_prints_a_working_key(capsys):
    from django.core.management import call_command

    call_command("create_ingest_token", "github-actions", "--may-create-services")
    key = capsys.readouterr().out.strip()

    assert IngestToken.objects.get().name == "github-actions"
    assert IngestToken.objects.get().may_create_services
    assert _post_deploy(key).status_code == 201


def test_the_admin_shows_a_new_ingest_token_once(admin_client):
    response = admin_client.post(
        "/admin/deploys/ingesttoken/add/", {"name": "gitlab-ci", "may_create_services": "on"}, follow=True
    )

    token = IngestToken.objects.get(name="gitlab-ci")
    assert token.may_create_services
    shown = [str(m) for m in response.context["messages"]]
    key = re.search(r"\b(oli_\S+)", " ".join(shown)).group(1)
    assert _post_deploy(key).status_code == 201
    assert token.created_by.username == "admin"
    assert key not in admin_client.get(f"/admin/deploys/ingesttoken/{token.pk}/change/").content.decode()


def test_the_admin_revokes_without_deleting(admin_client):
    token, key = ingest_token_create(name="old-ci", may_create_services=True)

    admin_client.post("/admin/deploys/ingesttoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True)

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert _post_deploy(key).status_code == 401


def test_the_admin_site_is_for_admins(client, django_user_model, admin_client):
    """Not for staff accounts below admin, whatever model permissions they hold."""
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user(username="ops", password="a-long-test-password", is_staff=True)
    role_set(user=staff, role=RESPONDER)
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_ingesttoken", "change_user"]))
    token, key = ingest_token_create(name="ci", may_create_services=True)
    client.force_login(staff)

    assert client.get("/admin/").status_code == 302
    client.post("/admin/deploys/ingesttoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert client.get(f"/admin/auth/user/{staff.pk}/change/").status_code == 302

    token.refresh_from_db()
    assert token.revoked_at is None
    assert admin_client.get("/admin/").status_code == 200
    assert 'href="/admin/"' not in client.get("/deploys/").content.decode()


# --- Setting roles -------------------------------------------------------------------------------


def test_a_new_account_is_a_viewer_and_set_role_changes_it(django_user_model):
    from django.core.management import call_command

    user = django_user_model.objects.create_user(username="sam")
    assert role_of(user) == VIEWER

    call_command("set_role", "sam", "responder")
    user = django_user_model.objects.get(pk=user.pk)
    assert role_of(user) == RESPONDER and not user.is_staff

    call_command("set_role", "sam", "admin")
    user = django_user_model.objects.get(pk=user.pk)
    assert role_of(user) == ADMIN and user.is_superuser and user.is_staff

    call_command("set_role", "sam", "viewer")
    user = django_user_model.objects.get(pk=user.pk)
    assert role_of(user) == VIEWER and not user.is_superuser and not user.groups.exists()


def test_set_role_refuses_an_unknown_user():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("set_role", "nobody", "viewer")


def test_a_viewer_sees_no_buttons_it_cannot_use(client, viewer, world):
    client.force_login(viewer)

    page = client.get(f"/incidents/{world.incident.pk}/")

    assert page.context["can_respond"] is False and page.context["is_admin"] is False
    assert f'action="/incidents/{world.incident.pk}/stamp/' not in page.content.decode()
    assert has_role(viewer, VIEWER) and not has_role(viewer, RESPONDER)


# --- Ingest tokens limited to services -----------------------------------------------------------


def _deploy(service: str, external_id: str) -> dict:
    return {
        "service": service,
        "environment": "production",
        "version": "v1",
        "deployer": "ci",
        "external_id": external_id,
    }


def test_a_token_limited_to_services_posts_only_theirs(db):
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    _, key = ingest_token_create(name="web-ci", services=[web])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert client.post("/api/deploys/", _deploy("web", "w1"), format="json").status_code == 201
    refused = client.post("/api/deploys/", _deploy("api", "a1"), format="json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "This ingest token may not post deploys of api; it is for web."}
    # A new service is another service too: a scoped key can't create one.
    assert client.post("/api/deploys/", _deploy("payments", "p1"), format="json").status_code == 403
    batch = {"deploys": [_deploy("web", "w2"), _deploy("api", "a2")]}
    assert client.post("/api/deploys/bulk/", batch, format="json").status_code == 403

    assert list(Deploy.objects.values_list("external_id", flat=True)) == ["w1"]
    assert not ServiceFactory._meta.model.objects.filter(slug="payments").exists()
    assert api.deploys.count() == 0


def test_create_ingest_token_limits_to_the_services_named(capsys, db):
    from django.core.management import CommandError, call_command

    ServiceFactory(slug="web")
    call_command("create_ingest_token", "web-ci", "--service", "web")
    key = capsys.readouterr().out.strip()

    assert [s.slug for s in IngestToken.objects.get(name="web-ci").services.all()] == ["web"]
    assert _post_deploy(key).status_code == 201  # a web deploy
    with pytest.raises(CommandError, match="No service nope"):
        call_command("create_ingest_token", "other", "--service", "nope")
    assert not IngestToken.objects.filter(name="other").exists()


def test_the_admin_makes_a_token_limited_to_services(admin_client, db):
    web = ServiceFactory(slug="web")

    response = admin_client.post(
        "/admin/deploys/ingesttoken/add/", {"name": "web-ci", "services": [web.pk]}, follow=True
    )

    token = IngestToken.objects.get(name="web-ci")
    assert list(token.services.all()) == [web]
    key = re.search(r"\b(oli_\S+)", " ".join(str(m) for m in response.context["messages"])).group(1)
    assert _post_deploy(key).status_code == 201


# --- set_role's wording ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "said"), [("admin", "an admin"), ("responder", "a responder"), ("viewer", "a viewer")]
)
def test_set_role_says_the_role_with_the_right_article(django_user_model, role, said):
    django_user_model.objects.create_user(username="adam")
    out = io.StringIO()

    call_command("set_role", "adam", role, stdout=out)

    assert out.getvalue() == f"adam is now {said}.\n"
