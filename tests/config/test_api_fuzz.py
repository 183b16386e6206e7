"""Schemathesis fuzzes every operation of /api/schema/ in-process: no 5xx, and every response (its
status code, content type and body) is one the schema documents. Deterministic (derandomized) and
bounded, so CI is neither flaky nor slow."""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from deploys.factories import ChangeRecordFactory, DeployFactory
from incidents.factories import IncidentDeployFactory, TimelineEntryFactory
from postmortems.factories import PostMortemFactory, RemediationFactory

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _served_schema() -> dict:
    """What GET /api/schema/ serves (SpectacularAPIView runs the same generator), built at import
    time: schemathesis makes one test per operation from it before any database exists."""
    return SchemaGenerator().get_schema(request=None, public=True)


schema = schemathesis.openapi.from_dict(json.loads(json.dumps(_served_schema(), cls=DjangoJSONEncoder)))
schema.app = application  # requests go to the WSGI app in-process


@pytest.fixture
def unthrottled(settings):
    """Thousands of writes in a couple of minutes: no write rate limit (None) for the fuzz."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"write": None}}


@pytest.fixture
def keep_connection():
    """The WSGI app, called directly, would close the database connection at the end of each
    request, and with it the test's transaction; Django's test client unhooks the same signals."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def rows() -> dict[str, list[int]]:
    """Rows for detail endpoints to find, by the URL's first segment: their ids."""
    made: dict[str, list[int]] = {
        "deploys": [],
        "changes": [],
        "incidents": [],
        "postmortems": [],
        "remediations": [],
        "factors": [],
    }
    for deploy in DeployFactory.create_batch(3):
        link = IncidentDeployFactory(deploy=deploy)
        TimelineEntryFactory(incident=link.incident)
        postmortem = PostMortemFactory(incident=link.incident)
        made["deploys"].append(deploy.pk)
        made["changes"].append(ChangeRecordFactory().pk)
        made["incidents"].append(link.incident.pk)
        made["postmortems"].append(postmortem.pk)
        made["remediations"].append(RemediationFactory(postmortem=postmortem).pk)
    return made


def point_at_rows(case, rows: dict[str, list[int]]) -> None:
    """Generated ids 0, 1, 2 become the ids of real rows (a database that ran other tests first
    doesn't number from 1); other ids are left as generated, for the 404s."""
    for name, value in (case.path_parameters or {}).items():
        ids = rows["deploys" if name == "deploy_id" else case.path.split("/")[2]]
        if str(value).isdigit() and int(value) < len(ids):
            case.path_parameters[name] = type(value)(ids[int(value)])


def test_fuzzed_schema_is_the_one_served(api):
    served = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert served == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_request_as_documented(case, token, rows, keep_connection, unthrottled):
    point_at_rows(case, rows)
    case.call_and_validate(headers={"Authorization": f"Token {token.key}"}, checks=CHECKS)
