import datetime as dt

import pytest

from deploys.factories import DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentFactory
from incidents.models import Incident
from incidents.selectors import incident_list, search, suspect_deploys

pytestmark = pytest.mark.django_db

UTC = dt.UTC
STARTED = dt.datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
DETECTED = STARTED + dt.timedelta(minutes=20)


def test_suspect_deploys_are_production_deploys_of_the_services_in_the_window():
    web, api, search_service = ServiceFactory(slug="web"), ServiceFactory(slug="api"), ServiceFactory(slug="search")
    staging = EnvironmentFactory(slug="staging")
    incident = IncidentFactory(started_at=STARTED, detected_at=DETECTED, services=[web, api])
    edge = DeployFactory(service=web, deployed_at=STARTED - dt.timedelta(hours=4))
    inside = DeployFactory(service=api, deployed_at=STARTED - dt.timedelta(minutes=30))
    at_detection = DeployFactory(service=web, deployed_at=DETECTED)
    DeployFactory(service=web, deployed_at=STARTED - dt.timedelta(hours=4, seconds=1))  # too early
    DeployFactory(service=web, deployed_at=DETECTED + dt.timedelta(seconds=1))  # after detection
    DeployFactory(service=web, environment=staging, deployed_at=STARTED)  # not production
    DeployFactory(service=search_service, deployed_at=STARTED)  # not affected

    assert list(suspect_deploys(incident)) == [at_detection, inside, edge]


def test_suspect_window_is_configurable(settings):
    web = ServiceFactory(slug="web")
    incident = IncidentFactory(started_at=STARTED, detected_at=DETECTED, services=[web])
    DeployFactory(service=web, deployed_at=STARTED - dt.timedelta(hours=3))
    settings.OPSLOG_SUSPECT_WINDOW_HOURS = 2

    assert list(suspect_deploys(incident)) == []
    assert len(suspect_deploys(incident, window=dt.timedelta(hours=3))) == 1


def test_open_incidents_come_first_then_newest():
    old_open = IncidentFactory(started_at=STARTED - dt.timedelta(days=10), detected_at=STARTED - dt.timedelta(days=10))
    new_resolved = IncidentFactory(started_at=STARTED, detected_at=STARTED, resolved_at=DETECTED)
    newer_open = IncidentFactory(started_at=STARTED - dt.timedelta(days=1), detected_at=STARTED - dt.timedelta(days=1))
    old_resolved = IncidentFactory(
        started_at=STARTED - dt.timedelta(days=20), detected_at=STARTED - dt.timedelta(days=20), resolved_at=STARTED
    )

    assert list(incident_list()) == [newer_open, old_open, new_resolved, old_resolved]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("checkout", {"checkout"}),
        ("memcache", {"cache"}),
        ("Checkout errors", {"checkout"}),
        ("nothing-like-this", set()),
        ("", {"checkout", "cache", "search"}),
    ],
)
def test_search_matches_title_and_summary(text, expected):
    found = {
        "checkout": IncidentFactory(title="Checkout errors for card payments", summary="Provider timeouts"),
        "cache": IncidentFactory(title="Stale prices", summary="A memcache key was never invalidated"),
        "search": IncidentFactory(title="Search results empty", summary="Index lag"),
    }

    result = set(search(Incident.objects.all(), text))

    assert result == {found[name] for name in expected}


@pytest.mark.postgres_only(reason="full-text search runs on PostgreSQL")
def test_postgresql_search_is_full_text():
    payment = IncidentFactory(title="Checkout errors for card payments", summary="Provider timeouts")
    IncidentFactory(title="Search results empty", summary="Index lag")

    assert list(search(Incident.objects.all(), "payment timeout")) == [payment]


def test_without_a_detection_time_suspects_run_up_to_now():
    web = ServiceFactory(slug="web")
    incident = IncidentFactory(started_at=STARTED, detected_at=None, services=[web])
    later = DeployFactory(service=web, deployed_at=STARTED + dt.timedelta(days=3))

    assert list(suspect_deploys(incident)) == [later]
