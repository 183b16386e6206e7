"""/metrics: Prometheus counters from the database, behind a bearer token."""

import datetime as dt

import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentFactory
from incidents.models import Incident
from integrations.factories import DeliveryFactory, IntegrationFactory
from integrations.models import Delivery

pytestmark = pytest.mark.django_db

TOKEN = "prometheus-scrape-token-0123456789"
UTC = dt.UTC
AT = dt.datetime(2024, 5, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
def metrics_token(settings):
    settings.OPSLOG_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client) -> dict[str, dict[tuple, float]]:
    """{family name: {sorted label pairs: value}}, as Prometheus would read the page."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    families = {}
    for family in text_string_to_metric_families(response.content.decode()):
        families[family.name] = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value for sample in family.samples
        }
    return families


def test_it_is_off_without_a_token(client, settings):
    settings.OPSLOG_METRICS_TOKEN = ""

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_no_token_is_a_401_and_a_wrong_one_a_403(client, metrics_token):
    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    other_scheme = client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}")

    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert wrong.status_code == 403
    assert other_scheme.status_code == 401
    assert b"opslog_" not in missing.content + wrong.content


def test_it_needs_no_login_session(client, metrics_token):
    # LoginRequiredMiddleware would redirect to the login page; Prometheus has no session.
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200


def test_only_get(client, metrics_token):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_values_equal_the_counted_records(client, metrics_token):
    web, api = ServiceFactory(slug="web"), ServiceFactory(slug="api")
    staging = EnvironmentFactory(slug="staging")
    # Deploys: web/production succeeded ×3, web/production failed ×1, web/staging succeeded ×2,
    # api/production rolled_back ×1.
    for _ in range(3):
        DeployFactory(service=web, deployed_at=AT)
    DeployFactory(service=web, status="failed", deployed_at=AT)
    for _ in range(2):
        DeployFactory(service=web, environment=staging, deployed_at=AT)
    DeployFactory(service=api, status="rolled_back", deployed_at=AT)
    # Incidents: sev1 on web+api (unresolved), sev2 on web (resolved), sev2 on web (acknowledged,
    # unresolved), sev3 on no service (unresolved).
    IncidentFactory(severity=1, services=[web, api], started_at=AT)
    IncidentFactory(severity=2, services=[web], started_at=AT, resolved_at=AT + dt.timedelta(hours=1))
    IncidentFactory(severity=2, services=[web], started_at=AT, acknowledged_at=AT + dt.timedelta(minutes=9))
    IncidentFactory(severity=3, started_at=AT)
    # Deliveries: github processed ×2, github failed ×1, alertmanager received ×1.
    github = IntegrationFactory(kind="github", name="GitHub")
    alertmanager = IntegrationFactory(kind="alertmanager", name="Alertmanager")
    DeliveryFactory.create_batch(2, integration=github, status="processed")
    DeliveryFactory(integration=github, status="failed")
    DeliveryFactory(integration=alertmanager, status="received")

    families = scrape(client)

    assert families["opslog_deploys"] == {
        ("opslog_deploys_total", (("environment", "production"), ("service", "web"), ("status", "succeeded"))): 3.0,
        ("opslog_deploys_total", (("environment", "production"), ("service", "web"), ("status", "failed"))): 1.0,
        ("opslog_deploys_total", (("environment", "staging"), ("service", "web"), ("status", "succeeded"))): 2.0,
        ("opslog_deploys_total", (("environment", "production"), ("service", "api"), ("status", "rolled_back"))): 1.0,
    }
    # web: the sev1, both sev2s; api: the sev1; no service: the sev3.
    assert families["opslog_incidents"] == {
        ("opslog_incidents_total", (("service", "web"),)): 3.0,
        ("opslog_incidents_total", (("service", "api"),)): 1.0,
        ("opslog_incidents_total", (("service", ""),)): 1.0,
    }
    assert families["opslog_incidents_open"] == {
        ("opslog_incidents_open", (("severity", "1"),)): 1.0,
        ("opslog_incidents_open", (("severity", "2"),)): 1.0,
        ("opslog_incidents_open", (("severity", "3"),)): 1.0,
        ("opslog_incidents_open", (("severity", "4"),)): 0.0,
    }
    assert families["opslog_webhook_deliveries"] == {
        ("opslog_webhook_deliveries_total", (("kind", "github"),)): 3.0,
        ("opslog_webhook_deliveries_total", (("kind", "alertmanager"),)): 1.0,
    }
    assert families["opslog_webhook_deliveries_by_status"] == {
        ("opslog_webhook_deliveries_by_status", (("kind", "github"), ("status", "processed"))): 2.0,
        ("opslog_webhook_deliveries_by_status", (("kind", "github"), ("status", "failed"))): 1.0,
        ("opslog_webhook_deliveries_by_status", (("kind", "alertmanager"), ("status", "received"))): 1.0,
    }


def test_counters_never_go_down_when_a_record_changes(client, metrics_token):
    # Prometheus reads a counter going down as a reset: raising an incident's severity or
    # processing a delivery must move only gauges.
    web = ServiceFactory(slug="web")
    incident = IncidentFactory(severity=3, services=[web], started_at=AT)
    delivery = DeliveryFactory(integration=IntegrationFactory(kind="github"), status="received")
    before = scrape(client)
    Incident.objects.filter(pk=incident.pk).update(severity=1)
    Delivery.objects.filter(pk=delivery.pk).update(status="processed")
    after = scrape(client)

    for family in ("opslog_incidents", "opslog_webhook_deliveries"):
        assert after[family] == before[family]
    assert after["opslog_webhook_deliveries_by_status"] != before["opslog_webhook_deliveries_by_status"]


def test_types_and_help_are_declared(client, metrics_token):
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()

    assert "# TYPE opslog_deploys_total counter" in text
    assert "# TYPE opslog_incidents_total counter" in text
    assert "# TYPE opslog_incidents_open gauge" in text
    assert "# TYPE opslog_webhook_deliveries_total counter" in text
    assert "# TYPE opslog_webhook_deliveries_by_status gauge" in text
    assert "# HELP opslog_deploys_total Deploys recorded" in text
    # Only Opslog's metrics: no process or Python metrics from a default registry.
    assert "python_info" not in text and "process_" not in text


def test_an_empty_database_still_answers(client, metrics_token):
    families = scrape(client)

    assert families["opslog_deploys"] == {}
    assert sum(families["opslog_incidents_open"].values()) == 0


def test_a_constant_number_of_aggregate_queries(client, metrics_token, django_assert_num_queries):
    web = ServiceFactory(slug="web")
    for n in range(10):
        DeployFactory(service=ServiceFactory(slug=f"svc-{n}"), deployed_at=AT)
        IncidentFactory(severity=n % 4 + 1, services=[web], started_at=AT)
        DeliveryFactory(status="processed")

    # One GROUP BY each: deploys, incidents, open incidents, deliveries.
    with django_assert_num_queries(4) as queries:
        client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert all("GROUP BY" in query["sql"] for query in queries.captured_queries)
