"""Concurrent requests on incidents: real requests against a live server on PostgreSQL."""

import datetime as dt

import pytest

from incidents.factories import IncidentFactory
from incidents.models import Incident, TimelineEntry
from tests.support.concurrency import api_at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
]

CONCURRENCY = 20
T0 = dt.datetime(2024, 7, 1, 10, 0, tzinfo=dt.UTC)


def test_racing_identical_posts_file_one_incident(live_server, token):
    body = {
        "title": "Checkout is failing",
        "started_at": "2024-07-01T10:00:00Z",
        "source": "pagerduty",
        "external_id": "PD-race-1",
    }

    results = api_at_once("POST", [(f"{live_server.url}/api/incidents/", body)] * CONCURRENCY, token)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (CONCURRENCY - 1) + [201], results
    assert len({answer["id"] for _, answer in results}) == 1
    assert Incident.objects.filter(source="pagerduty", external_id="PD-race-1").count() == 1
    assert TimelineEntry.objects.count() == 1


def test_racing_resolves_record_one_resolution(live_server, token):
    incident = IncidentFactory(started_at=T0, detected_at=T0 + dt.timedelta(minutes=5))
    url = f"{live_server.url}/api/incidents/{incident.pk}/resolve/"
    bodies = [{"at": "2024-07-01T11:00:00Z"}, {"at": "2024-07-01T11:30:00Z"}]

    results = api_at_once("POST", [(url, body) for body in bodies], token)

    assert [status for status, _ in results] == [200, 200], results
    incident.refresh_from_db()
    assert incident.resolved_at in {T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=1, minutes=30)}
    resolved_at = incident.resolved_at.isoformat().replace("+00:00", "Z")
    assert {answer["resolved_at"] for _, answer in results} == {resolved_at}
    entries = TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.STATUS)
    assert [entry.changes for entry in entries] == [{"resolved_at": {"old": None, "new": resolved_at}}]


def test_racing_role_handovers_chain_one_after_the_other(live_server, token):
    """The row lock: each handover reads the holder the previous one left, so the timeline's chain
    of old → new is unbroken and ends at the holder the incident has."""
    incident = IncidentFactory(started_at=T0, commander="first")
    url = f"{live_server.url}/api/incidents/{incident.pk}/roles/"
    bodies = [{"role": "lead", "name": f"lead {n}"} for n in range(CONCURRENCY)]

    results = api_at_once("POST", [(url, body) for body in bodies], token)

    assert [status for status, _ in results] == [200] * CONCURRENCY, results
    entries = TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.HANDOVER).order_by("id")
    chain = [entry.changes["commander"] for entry in entries]
    assert len(chain) == CONCURRENCY
    assert chain[0]["old"] == "first"
    assert all(later["old"] == earlier["new"] for earlier, later in zip(chain, chain[1:], strict=False))
    incident.refresh_from_db()
    assert incident.commander == chain[-1]["new"]
